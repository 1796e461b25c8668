"""The public CRM sample dataset as contract events, for replays and backtests.

The "CRM + Sales Opportunities" dataset (Maven Analytics: 8,800 opportunities
of 2016-2017, 35 agents, 6 managers, 3 regional offices; see
:mod:`streamer.devtools.simdata`) is history, not a stream: each row of
``sales_pipeline.csv`` gives at most two moments of a deal. :func:`events`
turns it into the events a CRM connector would have written, in event-time
order:

- ``rep.upserted`` for every agent of ``sales_teams.csv`` who has an
  opportunity, at midnight UTC of the first engage date: rep ``rep-<name>``,
  team the regional office, manager ``mgr-<name>`` (the simulator's spelling);
- ``deal.created`` at the engage date, in stage ``engaging``, with the
  product's list price from ``products.csv`` as amount;
- ``deal.won`` (amount: ``close_value``) or ``deal.lost`` (amount: the list
  price) at the close date.

The dataset has dates, not times: every deal event is put at 12:00 UTC of its
day. Rows still in ``Prospecting`` carry no date at all and are left out. The
dataset has no activities, leads or quotas, so the rules that need them
(``follow_up_gap`` sees no touch on any deal; ``low_contact_rate``,
``activity_drop``, ``leads_uncontacted``, ``quota_pace``,
``activity_barometer``) say nothing about the real sales team on this data.

The dataset's closes all fall between 2017-03-01 and 2017-12-31 while its
engagements start on 2016-10-20: no stay of a stage ends in the first four
months, so ``deal_stalled`` judges those months by its configured default.

``python -m streamer.devtools.crm_sample DATA_DIR OUT.jsonl`` writes the events as a
replay file; ``salespulse backtest DATA_DIR`` reads them directly.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .simdata import derive_roster

__all__ = ["PIPELINE_FILE", "SOURCE", "events", "is_dataset", "lines", "main", "write_jsonl"]

PIPELINE_FILE = "sales_pipeline.csv"
SOURCE = "crm-sample"
OPEN_STAGE = "engaging"
_NOON = 12 * 3600


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory holding the dataset's CSV files."""
    return Path(path).is_dir() and (Path(path) / PIPELINE_FILE).is_file()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _epoch(day: str, seconds: int = _NOON) -> int:
    d = datetime.strptime(day, "%m/%d/%Y").replace(tzinfo=UTC)
    return int(d.timestamp()) + seconds


def _rfc3339(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events(data_dir: Path) -> list[dict[str, Any]]:
    """The dataset's events as JSON-ready contract events, ordered by ``occurred_at``."""
    data_dir = Path(data_dir)
    rows = [r for r in _read(data_dir / PIPELINE_FILE) if r["engage_date"]]
    prices = {
        p["product"].replace(" ", ""): float(p["sales_price"])
        for p in _read(data_dir / "products.csv")
    }
    roster = {r.name: r for r in derive_roster(data_dir)}
    working = sorted({r["sales_agent"] for r in rows} & set(roster))
    if not rows:
        return []
    start = min(_epoch(r["engage_date"], 0) for r in rows)

    def rep_fields(agent: str) -> dict[str, Any]:
        entry = roster.get(agent)
        team = {"team_id": _slug(entry.office)} if entry is not None else {}
        return {"rep_id": f"rep-{_slug(agent)}", **team}

    planned: list[tuple[int, int, dict[str, Any]]] = []
    for agent in working:
        entry = roster[agent]
        planned.append(
            (
                start,
                len(planned),
                {
                    "event_id": f"{SOURCE}-rep-{_slug(agent)}",
                    "event_type": "rep.upserted",
                    "name": agent,
                    "manager_id": f"mgr-{_slug(entry.manager)}",
                    **rep_fields(agent),
                },
            )
        )
    for row in rows:
        deal = {
            "deal_id": row["opportunity_id"],
            **rep_fields(row["sales_agent"]),
            "pipeline": "default",
            "amount": prices.get(row["product"].replace(" ", ""), 0.0),
            "currency": "USD",
            "product": row["product"],
        }
        engaged = _epoch(row["engage_date"])
        planned.append(
            (
                engaged,
                len(planned),
                {
                    "event_id": f"{SOURCE}-{row['opportunity_id']}-engaged",
                    "event_type": "deal.created",
                    **deal,
                    "stage": OPEN_STAGE,
                },
            )
        )
        outcome = row["deal_stage"].lower()
        if outcome in ("won", "lost") and row["close_date"]:
            closed = {**deal, "stage": outcome}
            if outcome == "won" and row["close_value"]:
                closed["amount"] = float(row["close_value"])
            closed["event_id"] = f"{SOURCE}-{row['opportunity_id']}-{outcome}"
            closed["event_type"] = f"deal.{outcome}"
            planned.append((_epoch(row["close_date"]), len(planned), closed))
    planned.sort(key=lambda p: (p[0], p[1]))
    return [
        {
            "event_id": value.pop("event_id"),
            "event_type": value.pop("event_type"),
            "occurred_at": _rfc3339(t),
            "source": SOURCE,
            "schema_version": 1,
            **value,
        }
        for t, _, value in planned
    ]


def lines(data_dir: Path) -> Iterator[bytes]:
    """The events of :func:`events` as JSON lines, ready for ``Replay.feed_line``."""
    for event in events(data_dir):
        yield json.dumps(event, separators=(",", ":")).encode()


def write_jsonl(data_dir: Path, out: Path) -> int:
    """Write the dataset's events to ``out``, one per line; return how many."""
    count = 0
    with Path(out).open("wb") as handle:
        for line in lines(data_dir):
            handle.write(line + b"\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not is_dataset(Path(args[0])):
        print("usage: python -m streamer.devtools.crm_sample DATA_DIR OUT.jsonl", file=sys.stderr)
        return 2
    count = write_jsonl(Path(args[0]), Path(args[1]))
    print(f"crm_sample: {count:,} events written to {args[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
