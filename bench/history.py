"""The history-length case: many reps over a long stretch of time at a low activity rate.

    .venv/bin/python -m bench --only history [--history-reps 5000 --history-days 365]

A replay's cost should follow the events, not the length of history: judging every rep
at every hour of a year for 5,000 reps would be 44 million judgments whatever the events.
The simulator writes the year (activity rates lowered to about one event per rep and
day: ``cold_touches_per_day`` 0.2, ``deals_per_rep_week`` 0.2) to a file; then
``salespulse replay FILE --quiet`` runs it, timed as a whole process, and the section
prints events per second (and per CPU second of the replay, which depends far less on
what else the machine runs), the seconds, the rep-hours of the history and the judgings
of reps the replay made (``judged`` in its summary), against the rep-hours.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamer.devtools.simulate import SimConfig, write_jsonl

from .common import Figures

FULL = {"reps": 5000, "days": 365.0}
QUICK = {"reps": 300, "days": 60.0}


def config(reps: int, days: float) -> SimConfig:
    return SimConfig(
        seed=21,
        reps=reps,
        days=days,
        start=datetime(2025, 1, 6, tzinfo=UTC),
        cold_touches_per_day=0.2,
        deals_per_rep_week=0.2,
    )


def run(figures: Figures, reps: int, days: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="salespulse-bench-history-") as tmp:
        path = Path(tmp) / "history.jsonl"
        started = time.perf_counter()
        events = write_jsonl(config(reps, days), path)
        print(
            f"  history | simulated {events:,} events in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        cpu_before = _children_cpu()
        done = subprocess.run(
            [sys.executable, "-m", "streamer.cli", "replay", str(path), "--quiet"],
            check=True,
            capture_output=True,
            text=True,
            timeout=4 * 3600,
            env={k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")},
        )
        seconds = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
    judged = re.search(r"reps judged ([\d,]+) times", done.stderr)
    judgings = int(judged.group(1).replace(",", "")) if judged else None
    rep_hours = int(reps * days * 24)
    section = f"history ({reps:,} reps, {days:g} days)"
    figures.add(section, "events", events, "events")
    figures.add(section, "replay", events / seconds, "events/s")
    figures.add(section, "replay seconds", seconds, "s")
    figures.add(section, "replay events per CPU second", events / cpu, "events/s")
    figures.add(section, "rep-hours of history", rep_hours, "")
    if judgings is not None:
        figures.add(section, "reps judged", judgings, "times")
        figures.add(section, "judged per rep-hour", judgings / rep_hours, "")
    return {
        "reps": reps,
        "days": days,
        "events": events,
        "seconds": seconds,
        "rate": events / seconds,
        "cpu_seconds": cpu,
        "rep_hours": rep_hours,
        "judged": judgings,
    }


def _children_cpu() -> float:
    """User and system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
