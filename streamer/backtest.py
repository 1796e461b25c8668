"""``salespulse backtest FILE``: what each rule would have said over a history of events,
how noisy that was, and whether it pointed at the deals that were lost.

The events go through the very replay the ``replay`` command runs (the public
:class:`~streamer.replay.Replay` API); every alert message it emits is kept,
and the deal outcomes and the population (reps, managers, the span of event
time) are read from the same events. :mod:`streamer.core.backtest_figures` turns
them into per-rule figures; this module runs one configuration or two
(``--against OTHER.toml``) and prints a table, and writes JSON and a
self-contained HTML report (:mod:`streamer.backtest_report`).

FILE is a JSON-lines file of contract events (``salespulse simulate --out``
writes one), or the directory of the public CRM sample dataset, whose CSVs
are read as events by :mod:`streamer.devtools.crm_sample`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from schemas import Alert, DealLost, DealWon, EventRejected, RepUpserted, parse_event

from .core.backtest_figures import (
    DEAL_RULES,
    AlertChange,
    DealOutcome,
    Population,
    RuleFigures,
    figures,
    overall,
    weekly_firings,
)
from .devtools import crm_sample
from .notify.inbox import Inbox
from .replay import Replay
from .settings import (
    RulesSettings,
    Settings,
    SettingsError,
    load_settings_file,
    rule_fire_delays,
)

__all__ = [
    "DEFAULT_FLAP_MINUTES",
    "BacktestRun",
    "EventFacts",
    "add_arguments",
    "event_lines",
    "report",
    "run",
    "run_backtest",
    "table",
]

DEFAULT_FLAP_MINUTES = 24 * 60
"""An episode over within a day is over before a manager's next working day can act on it."""


@dataclass
class EventFacts:
    """What the events themselves say, besides the alerts: who, how long, how deals ended."""

    start: float = math.inf
    end: float = -math.inf
    reps: set[str] = field(default_factory=set)
    managers: dict[str, str] = field(default_factory=dict)  # rep -> latest manager
    outcomes: dict[str, DealOutcome] = field(default_factory=dict)

    def read(self, line: bytes | str) -> None:
        try:
            event = parse_event(line)
        except EventRejected:
            return  # the replay counts it as rejected
        at = event.occurred_at.timestamp()
        self.start = min(self.start, at)
        self.end = max(self.end, at)
        rep_id = getattr(event, "rep_id", None)
        if isinstance(rep_id, str):
            self.reps.add(rep_id)
        if isinstance(event, RepUpserted):
            self.managers[event.rep_id] = event.manager_id
        elif isinstance(event, DealWon | DealLost):
            known = self.outcomes.get(event.deal_id)
            if known is None or at >= known.closed_at:
                self.outcomes[event.deal_id] = DealOutcome(isinstance(event, DealLost), at)

    def population(self) -> Population:
        if self.start > self.end:
            return Population(0.0, 0.0, len(self.reps), 0)
        return Population(self.start, self.end, len(self.reps), len(set(self.managers.values())))


def rule_names() -> list[str]:
    """Every rule of the settings, deal rules first."""
    names = list(RulesSettings.model_fields)
    return [n for n in names if n in DEAL_RULES] + [n for n in names if n not in DEAL_RULES]


@dataclass
class BacktestRun:
    """One configuration's backtest over the events."""

    label: str
    population: Population
    outcomes: int
    lost: int
    events: dict[str, int]
    rules: dict[str, RuleFigures]
    overall: dict[str, Any]
    weeks: list[float]
    weekly: dict[str, list[int]]
    disabled: list[str]
    seconds: float
    notifications: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        p = self.population
        return {
            "label": self.label,
            "events": self.events,
            "population": {
                "start": _iso(p.start),
                "end": _iso(p.end),
                "days": round(p.days, 2),
                "reps": p.reps,
                "managers": p.managers,
                "closed_deals": self.outcomes,
                "lost_deals": self.lost,
            },
            "disabled_rules": self.disabled,
            "overall": self.overall,
            "rules": {name: f.to_json() for name, f in self.rules.items()},
            "weekly": {
                "weeks": [_iso(w)[:10] for w in self.weeks],
                "firings": self.weekly,
            },
            "notifications": self.notifications,
            "replay_seconds": round(self.seconds, 1),
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_backtest(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    label: str,
    flap_seconds: float,
    progress: Callable[[int], None] | None = None,
) -> BacktestRun:
    """Replay ``lines`` with ``settings`` and measure every rule; ``progress`` is told
    the count of lines read every 5,000.

    The events are replayed as a worker keeping up with them live would take them (each
    input partition caught up once its line is read, rules judged every few events), so
    each alert's ``emitted_at``, which says whether it came before a deal closed and when
    a manager would have heard of it, is a live worker's.
    """
    changes: list[AlertChange] = []
    messages: list[dict[str, Any]] = []

    def keep(alert: Alert) -> None:
        changes.append(AlertChange.of(alert))
        messages.append(alert.model_dump(mode="json"))

    began = time.monotonic()
    replay = Replay(settings, emit=keep, advance_every=_ADVANCE_EVERY, caught_up=True)
    facts = EventFacts()
    for n, line in enumerate(lines, 1):
        facts.read(line)
        replay.feed_line(line)
        if progress is not None and n % 5_000 == 0:
            progress(n)
    replay.finish()
    population = facts.population()
    inbox = Inbox(settings.notifications, rule_fire_delays(settings))
    for message in sorted(messages, key=lambda m: m["emitted_at"]):  # RFC 3339 UTC: sorts
        inbox.feed(message)
    inbox.finish(population.end)
    told = inbox.first_told
    names = rule_names()
    weeks, weekly = weekly_firings(names, changes, population)
    s = replay.summary
    return BacktestRun(
        label=label,
        population=population,
        outcomes=len(facts.outcomes),
        lost=sum(1 for o in facts.outcomes.values() if o.lost),
        events={
            "read": s.read,
            "accepted": s.accepted,
            "duplicates": s.duplicates,
            "late": s.late,
            "rejected": sum(s.rejected.values()),
        },
        rules=figures(names, changes, facts.outcomes, population, flap_seconds, told),
        overall=overall(changes, population, flap_seconds, told),
        weeks=weeks,
        weekly=weekly,
        disabled=[n for n in names if not getattr(settings.rules, n).enabled],
        seconds=time.monotonic() - began,
        notifications=_notifications(inbox, population),
    )


_ADVANCE_EVERY = 8
"""Events between two judgings of the deal rules: a live worker judges every tick; every
8 events keeps the replay about as fast as every 64 (the default)."""


def _notifications(inbox: Inbox, population: Population) -> dict[str, Any]:
    """What managers would have been told (:mod:`streamer.notify.inbox`)."""
    per_day = population.days
    busiest = max(inbox.notifications.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    rules = sorted({rule for rule, _ in inbox.notices} | set(inbox.withheld()))
    withheld = inbox.withheld()
    return {
        "sent": sum(inbox.notifications.values()),
        "per_manager_day": _rate(sum(inbox.notifications.values()), population.managers, per_day),
        "busiest_manager": busiest[0] if busiest else None,
        "busiest_manager_per_day": _rate(busiest[1], 1, per_day) if busiest else None,
        "most_on_one_day": max(inbox.daily.values(), default=0),
        "told": {
            rule: {
                kind: inbox.notices[(rule, kind)]
                for kind in ("firing", "reminder", "resolved")
                if inbox.notices[(rule, kind)]
            }
            for rule in rules
        },
        "withheld": dict(sorted(withheld.items())),
        "left_out_of_digests": dict(sorted(inbox.left_out.items())),
    }


def _rate(count: int, units: int, days: float) -> float | None:
    return round(count / units / days, 4) if units > 0 and days > 0 else None


def event_lines(path: Path) -> Callable[[], Iterator[bytes]]:
    """A way to read the events of ``path`` (as often as there are configurations)."""
    if crm_sample.is_dataset(path):
        return lambda: crm_sample.lines(path)

    def read() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            for line in handle:
                if line.strip():
                    yield line

    return read


def report(file: str, flap_minutes: float, runs: Sequence[BacktestRun]) -> dict[str, Any]:
    """The JSON report (``--json``), which the HTML report draws too."""
    return {
        "file": file,
        "flap_minutes": flap_minutes,
        "deal_rules": sorted(DEAL_RULES),
        "runs": [r.to_json() for r in runs],
    }


# --- the terminal table -------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"<{10**-digits:.{digits}f}" if 0 < value < 10**-digits / 2 else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 24:.1f} h" if value < 2 else f"{value:.1f} d"


COLUMNS = (
    ("rule", "<"),
    ("config", "<"),
    ("firings", ">"),
    ("/rep/week", ">"),
    ("/mgr/day", ">"),
    ("flaps", ">"),
    ("msg flaps", ">"),
    ("told", ">"),
    ("told flaps", ">"),
    ("median episode", ">"),
    ("lift", ">"),
    ("lost alerted", ">"),
    ("lead time", ">"),
    ("lost told", ">"),
    ("told lead", ">"),
)


def _row(rule: str, label: str, f: RuleFigures | dict[str, Any], off: bool) -> list[str]:
    get = f.get if isinstance(f, dict) else (lambda k: getattr(f, k))
    return [
        rule,
        label + (" (off)" if off else ""),
        f"{get('firings'):,}",
        _num(get("firings_per_rep_week")),
        _num(get("firings_per_manager_day")),
        _pct(get("flap_share")),
        _pct(get("message_flap_share")),
        "–" if get("told_episodes") is None else f"{get('told_episodes'):,}/{get('episodes'):,}",
        _pct(get("told_flap_share")),
        _days(get("median_episode_days")),
        _num(get("lift")),
        _pct(get("lost_alerted_share")),
        _days(get("median_lead_days")),
        _pct(get("lost_told_share")),
        _days(get("median_told_lead_days")),
    ]


def table(file: str, flap_minutes: float, runs: Sequence[BacktestRun]) -> str:
    """The per-rule table a person reads, with what the figures rest on above it."""
    out = []
    for r in runs:
        p = r.population
        out.append(
            f"{r.label}: {r.events['accepted']:,} events of {file} "
            f"({r.events['rejected']:,} rejected, {r.events['late']:,} late), "
            f"{_iso(p.start)[:10]} to {_iso(p.end)[:10]} ({p.days:,.0f} days), "
            f"{p.reps} reps, {p.managers} managers, {r.outcomes:,} closed deals "
            f"({r.lost:,} lost)"
        )
    show_label = len(runs) > 1
    rows: list[list[str]] = []
    for name in runs[0].rules:
        for i, r in enumerate(runs):
            rows.append(_row(name if i == 0 else "", r.label, r.rules[name], name in r.disabled))
    for i, r in enumerate(runs):
        rows.append(_row("all rules" if i == 0 else "", r.label, r.overall, False))
    columns = [c for c in COLUMNS if show_label or c[0] != "config"]
    if not show_label:
        rows = [row[:1] + row[2:] for row in rows]
    widths = [max(len(c[0]), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(cells, columns, widths, strict=True)
        ).rstrip()

    out.append("")
    out.append(line([c[0] for c in columns]))
    total_from = len(rows) - len(runs)
    for i, row in enumerate(rows):
        if i == total_from:
            out.append("")
        out.append(line(row))
    out.append("")
    out.extend(
        textwrap.wrap(
            "firings: firing messages; /rep/week, /mgr/day: per rep seen and week, per manager "
            f"and day; flaps: share of episodes shorter than {flap_minutes:g} minutes (from when "
            "the condition began); msg flaps: the same from the first firing message on the "
            "alerts topic (with a rule's for, that comes later); told: episodes a manager "
            "received a notification about, of all episodes (the notifications below: a "
            "digest tells when it goes out, and leaves out episodes that opened and closed "
            "while it gathered); told flaps: share of the told episodes over within the flap "
            "time of their first notification, what a manager experiences. All end an "
            "episode when its condition stopped holding (resolved_at), however long a "
            "keep_firing_for held back the resolution; median episode: of the episodes that "
            "ended. Deal rules, on the deals that closed: lift = "
            "P(lost | alerted before the close) / P(lost); lost alerted: share of lost deals "
            "alerted before they closed; lead time: median from the first alert to the loss; "
            "lost told, told lead: the same from the first notification to a manager.",
            width=100,
        )
    )
    for r in runs:
        who, per_day = r.overall["busiest_manager"], r.overall["busiest_manager_firings_per_day"]
        if who:
            out.append(f"{r.label}: busiest manager {who}, {per_day:.2f} firings a day")
    out.append("")
    out.extend(
        textwrap.wrap(
            "Notifications: what managers would be told with these settings' [notifications] "
            "(firings, reminders, resolutions, through the worker's lifecycle; a digest counts "
            "once; no acknowledgements assumed; old news held as the worker holds it).",
            width=100,
        )
    )
    for r in runs:
        n = r.notifications
        if not n:
            continue
        line_ = (
            f"{r.label}: {n['sent']:,} notifications, "
            f"{_num(n['per_manager_day'])} per manager a day"
        )
        if n["busiest_manager"]:
            line_ += (
                f" (busiest {n['busiest_manager']}, {_num(n['busiest_manager_per_day'])}; "
                f"at most {n['most_on_one_day']} to one manager on one day)"
            )
        withheld = sum(n["withheld"].values())
        if withheld:
            line_ += f"; {withheld:,} episodes written but told to nobody (old news)"
        left_out = sum(n.get("left_out_of_digests", {}).values())
        if left_out:
            line_ += f"; {left_out:,} left out of digests (opened and closed while it gathered)"
        out.append(line_)
    return "\n".join(out)


# --- the command ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="JSON-lines file of events, or the CRM sample dataset's directory",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="OTHER.toml",
        help="also run with the settings of this TOML file and show both side by side",
    )
    parser.add_argument(
        "--flap-minutes",
        type=float,
        default=DEFAULT_FLAP_MINUTES,
        metavar="N",
        help=f"an episode shorter than this is a flap (default {DEFAULT_FLAP_MINUTES}: a day)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the figures as JSON")
    parser.add_argument(
        "--html", type=Path, metavar="OUT.html", help="write a self-contained HTML report"
    )


def run(settings: Settings, args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run ``salespulse backtest``; return the exit code."""
    out = out if out is not None else sys.stdout
    path: Path = args.file
    if not (path.is_file() or crm_sample.is_dataset(path)):
        print(
            f"salespulse backtest: {path} is neither a file of events nor the CRM sample "
            "dataset's directory",
            file=sys.stderr,
        )
        return 2
    if args.flap_minutes <= 0:
        print("salespulse backtest: --flap-minutes must be > 0", file=sys.stderr)
        return 2
    configs: list[tuple[str, Settings]] = [("current", settings)]
    if args.against is not None:
        try:
            configs.append((args.against.name, load_settings_file(args.against)))
        except SettingsError as error:
            print(f"salespulse backtest: {error}", file=sys.stderr)
            return 2
    lines = event_lines(path)
    runs = []
    for label, config in configs:
        print(f"backtest: replaying {path} with the {label} settings", file=sys.stderr)
        last = [time.monotonic()]

        def progress(n: int, label: str = label, last: list[float] = last) -> None:
            if time.monotonic() - last[0] >= 5.0:
                last[0] = time.monotonic()
                print(f"backtest: {label}: {n:,} events", file=sys.stderr)

        flap_seconds = args.flap_minutes * 60
        runs.append(
            run_backtest(config, lines(), label=label, flap_seconds=flap_seconds, progress=progress)
        )
        print(f"backtest: {label} took {runs[-1].seconds:.1f}s", file=sys.stderr)
    print(table(str(path), args.flap_minutes, runs), file=out)
    data = report(str(path), args.flap_minutes, runs)
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"backtest: figures written to {args.json}", file=sys.stderr)
    if args.html is not None:
        from .backtest_report import render_html

        args.html.write_text(render_html(data), encoding="utf-8")
        print(f"backtest: report written to {args.html}", file=sys.stderr)
    return 0
