"""Calibration of the simulator, derived from the public CRM sample dataset.

The simulator (:mod:`streamer.devtools.simulate`) draws deal durations, outcomes,
products and amounts from the figures in :data:`CALIBRATION` and names its
first reps after :data:`ROSTER`. Both were derived once from the "CRM + Sales
Opportunities" dataset (Maven Analytics, 8,800 opportunities of 2016-2017,
35 agents, 6 managers, 3 regional offices) with :func:`derive_calibration`
and pasted here, so the simulator needs no data file at run time. The test
suite re-derives them from the CSVs (when the dataset is present) and checks
they still match; ``python -m streamer.devtools.simdata DATA_DIR`` prints them.

How each figure is derived (rows of ``sales_pipeline.csv``):

- ``win_rate``: Won / (Won + Lost) over all closed opportunities.
- ``won_days`` / ``lost_days``: empirical quantiles (min, every 5%, max) of
  ``close_date - engage_date`` in days, per outcome. The data is bimodal
  (many deals close within days, most within 2-4 months), which a lognormal
  fits badly, so the simulator samples the quantile function instead.
- ``rep_win_rate_sd``: standard deviation of per-agent win rates (agents with
  closed deals), the spread of rep skill.
- ``deals_per_rep_week``: engaged opportunities per active agent per week over
  the span of engage dates.
- ``products``: name and list price from ``products.csv``; ``share`` is the
  product's share of all opportunities (the pipeline spells "GTX Pro" as
  "GTXPro"; names are matched without spaces).
- ``price_ratio``: quantiles of close_value / list price over won deals (the
  negotiated discount or premium).

Not in the dataset, hence assumptions stated where they are used in the
simulator: lead conversion, activity volumes and outcome rates, stall and
update frequencies, loss reasons, source channels, and the split of a deal's
engage-to-close time over stages; :mod:`streamer.devtools.simulate` marks each of its
constants with where it comes from ("Where the numbers come from").

Two properties of the dataset matter when reading a backtest on it
(``salespulse backtest DATA_DIR``, through :mod:`streamer.devtools.crm_sample`): it has
dates but no times, and no activities, leads or quotas; and its closes all
fall between 2017-03-01 and 2017-12-31 while engagements start on 2016-10-20,
so no deal closes in its first four months, and every deal engaged then looks
stalled to a rule that has learned no stage average yet.
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

__all__ = [
    "CALIBRATION",
    "ROSTER",
    "Calibration",
    "Product",
    "RosterEntry",
    "derive_calibration",
    "derive_roster",
    "quantile_mean",
    "quantile_sample",
]


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalogue: list price and share of opportunities."""

    name: str
    price: float
    share: float


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A sales agent of ``sales_teams.csv``: name, manager and regional office."""

    name: str
    manager: str
    office: str


@dataclass(frozen=True, slots=True)
class Calibration:
    """Figures the simulator draws from; see the module docstring for their derivation.

    Quantile tuples hold 21 values: the minimum, every 5% and the maximum, so
    :func:`quantile_sample` can draw from the empirical distribution.
    """

    win_rate: float  # Won / (Won + Lost): 4,238 of 6,711 closed
    won_days: tuple[float, ...]  # engage-to-close days of won deals: mean 52.0
    lost_days: tuple[float, ...]  # the same of lost deals: mean 41.9
    rep_win_rate_sd: float  # spread of the agents' win rates
    deals_per_rep_week: float  # engaged opportunities per active agent and week
    products: tuple[Product, ...]
    price_ratio: tuple[float, ...]

    @property
    def won_days_mean(self) -> float:
        """Mean engage-to-close days of won deals, as the quantile function gives it."""
        return quantile_mean(self.won_days)


# Derived with derive_calibration() from sales_pipeline.csv and products.csv
# (6,711 closed opportunities: 4,238 won, 2,473 lost; 8,300 engaged by 30
# active agents over 62 weeks). Do not edit by hand: re-derive.
# fmt: off
CALIBRATION = Calibration(
    win_rate=0.6315,
    won_days=(
        1.0, 2.0, 5.0, 7.0, 8.0, 9.0, 11.0, 13.0, 18.0, 42.6, 57.0,
        65.0, 71.0, 77.0, 83.0, 88.0, 93.0, 99.0, 106.0, 116.0, 138.0,
    ),
    lost_days=(
        1.0, 1.0, 2.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 14.0,
        36.0, 56.0, 65.0, 72.0, 79.0, 85.0, 92.0, 100.0, 110.0, 138.0,
    ),
    rep_win_rate_sd=0.0367,
    deals_per_rep_week=4.46,
    products=(
        Product("GTX Basic", 550.0, 0.212),
        Product("GTX Pro", 4821.0, 0.1682),
        Product("MG Special", 55.0, 0.1876),
        Product("MG Advanced", 3393.0, 0.1605),
        Product("GTX Plus Pro", 5482.0, 0.11),
        Product("GTX Plus Basic", 1096.0, 0.1572),
        Product("GTK 500", 26768.0, 0.0045),
    ),
    price_ratio=(
        0.657, 0.833, 0.87, 0.893, 0.911, 0.929, 0.945, 0.96, 0.972, 0.982, 0.998,
        1.009, 1.022, 1.036, 1.049, 1.063, 1.078, 1.096, 1.124, 1.164, 1.342,
    ),
)
# fmt: on

# sales_teams.csv as it is: the simulator names its first 35 reps after these.
ROSTER: tuple[RosterEntry, ...] = tuple(
    RosterEntry(name, manager, office)
    for name, manager, office in (
        ("Anna Snelling", "Dustin Brinkmann", "Central"),
        ("Cecily Lampkin", "Dustin Brinkmann", "Central"),
        ("Versie Hillebrand", "Dustin Brinkmann", "Central"),
        ("Lajuana Vencill", "Dustin Brinkmann", "Central"),
        ("Moses Frase", "Dustin Brinkmann", "Central"),
        ("Jonathan Berthelot", "Melvin Marxen", "Central"),
        ("Marty Freudenburg", "Melvin Marxen", "Central"),
        ("Gladys Colclough", "Melvin Marxen", "Central"),
        ("Niesha Huffines", "Melvin Marxen", "Central"),
        ("Darcel Schlecht", "Melvin Marxen", "Central"),
        ("Mei-Mei Johns", "Melvin Marxen", "Central"),
        ("Violet Mclelland", "Cara Losch", "East"),
        ("Corliss Cosme", "Cara Losch", "East"),
        ("Rosie Papadopoulos", "Cara Losch", "East"),
        ("Garret Kinder", "Cara Losch", "East"),
        ("Wilburn Farren", "Cara Losch", "East"),
        ("Elizabeth Anderson", "Cara Losch", "East"),
        ("Daniell Hammack", "Rocco Neubert", "East"),
        ("Cassey Cress", "Rocco Neubert", "East"),
        ("Donn Cantrell", "Rocco Neubert", "East"),
        ("Reed Clapper", "Rocco Neubert", "East"),
        ("Boris Faz", "Rocco Neubert", "East"),
        ("Natalya Ivanova", "Rocco Neubert", "East"),
        ("Vicki Laflamme", "Celia Rouche", "West"),
        ("Rosalina Dieter", "Celia Rouche", "West"),
        ("Hayden Neloms", "Celia Rouche", "West"),
        ("Markita Hansen", "Celia Rouche", "West"),
        ("Elease Gluck", "Celia Rouche", "West"),
        ("Carol Thompson", "Celia Rouche", "West"),
        ("James Ascencio", "Summer Sewald", "West"),
        ("Kary Hendrixson", "Summer Sewald", "West"),
        ("Kami Bicknell", "Summer Sewald", "West"),
        ("Zane Levy", "Summer Sewald", "West"),
        ("Maureen Marcano", "Summer Sewald", "West"),
        ("Carl Lin", "Summer Sewald", "West"),
    )
)


def quantile_sample(quantiles: tuple[float, ...], u: float) -> float:
    """Value of the piecewise-linear quantile function at ``u`` in [0, 1]."""
    pos = u * (len(quantiles) - 1)
    i = min(int(pos), len(quantiles) - 2)
    lo, hi = quantiles[i], quantiles[i + 1]
    return lo + (hi - lo) * (pos - i)


def quantile_mean(quantiles: tuple[float, ...]) -> float:
    """Mean of the distribution whose piecewise-linear quantile function ``quantiles`` gives."""
    pairs = zip(quantiles, quantiles[1:], strict=False)
    return sum((a + b) / 2 for a, b in pairs) / (len(quantiles) - 1)


def _quantiles21(values: list[float], digits: int) -> tuple[float, ...]:
    inner = statistics.quantiles(values, n=20, method="inclusive")
    return tuple(round(v, digits) for v in (min(values), *inner, max(values)))


def _day(text: str) -> date:
    return datetime.strptime(text, "%m/%d/%Y").date()


def _key(product: str) -> str:
    return product.replace(" ", "")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def derive_roster(data_dir: Path) -> tuple[RosterEntry, ...]:
    """The agents of ``data_dir/sales_teams.csv`` in file order."""
    rows = _read(Path(data_dir) / "sales_teams.csv")
    return tuple(RosterEntry(r["sales_agent"], r["manager"], r["regional_office"]) for r in rows)


def derive_calibration(data_dir: Path) -> Calibration:
    """Derive :class:`Calibration` from the dataset's CSVs in ``data_dir``.

    Figures are rounded as in :data:`CALIBRATION` (rates to 4 digits, days to
    0.1, price ratios to 3 digits), so the two compare equal when the
    constants are current.
    """
    data_dir = Path(data_dir)
    rows = _read(data_dir / "sales_pipeline.csv")
    closed = [r for r in rows if r["deal_stage"] in ("Won", "Lost")]
    won = [r for r in closed if r["deal_stage"] == "Won"]

    def days(outcome: str) -> list[float]:
        return [
            float((_day(r["close_date"]) - _day(r["engage_date"])).days)
            for r in closed
            if r["deal_stage"] == outcome
        ]

    wins = Counter(r["sales_agent"] for r in won)
    totals = Counter(r["sales_agent"] for r in closed)
    rep_rates = [wins[agent] / n for agent, n in totals.items()]

    engaged = [r for r in rows if r["engage_date"]]
    engage_days = [_day(r["engage_date"]) for r in engaged]
    weeks = ((max(engage_days) - min(engage_days)).days + 1) / 7
    agents = len({r["sales_agent"] for r in engaged})

    counts = Counter(_key(r["product"]) for r in rows)
    catalogue = _read(data_dir / "products.csv")
    prices = {_key(p["product"]): float(p["sales_price"]) for p in catalogue}
    share = {name: round(n / len(rows), 4) for name, n in counts.items()}
    products = tuple(
        Product(p["product"], float(p["sales_price"]), share.get(_key(p["product"]), 0.0))
        for p in catalogue
    )
    ratios = [float(r["close_value"]) / prices[_key(r["product"])] for r in won]

    return Calibration(
        win_rate=round(len(won) / len(closed), 4),
        won_days=_quantiles21(days("Won"), 1),
        lost_days=_quantiles21(days("Lost"), 1),
        rep_win_rate_sd=round(statistics.stdev(rep_rates), 4),
        deals_per_rep_week=round(len(engaged) / agents / weeks, 2),
        products=products,
        price_ratio=_quantiles21(ratios, 3),
    )


def main(argv: list[str] | None = None) -> int:
    """Print the calibration derived from the dataset directory given as argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m streamer.devtools.simdata DATA_DIR", file=sys.stderr)
        return 2
    for name, value in asdict(derive_calibration(Path(args[0]))).items():
        print(f"{name} = {value!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
