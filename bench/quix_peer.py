"""The Quix Streams peer: comparable stateful work in the library a user might pick instead.

    python -m bench.quix_peer BOOTSTRAP EXPECTED OUT.json STATE_DIR GROUP ALERTS TOPIC...

TOPIC... are the contract's input topics in the order deals, activities, quotas, org
(``bench/throughput.py`` passes them). A Quix Streams application, written as its
documentation teaches, with the library's defaults (RocksDB state with changelog topics,
at-least-once, JSON through its own deserializer) and two of salespulse's rules:

- per rep (activities are keyed by ``rep_id``): a 1-hour tumbling event-time window
  (``occurred_at``) of outbound attempts and conversations in RocksDB, with a grace of one
  day (the allowed lateness bench (c) runs with); each closed hour goes into the rep's
  state, the last seven days of hours, and judges ``low_contact_rate`` as the contract
  defines it (at least 50 outbound attempts in 7 days, conversations / attempts below
  0.032);
- per deal (deals are keyed by ``deal_id``): the deal's stage and since when, in state;
  every event of the deal checks ``deal_stalled`` against the threshold salespulse uses
  before it has learned the stage's average (2 x 14 days). Quix has no per-key timers, so
  a deal is judged when an event of its own comes, not when time passes;
- alerts (firing, and resolved when the condition no longer holds) go to ALERTS as JSON,
  keyed by subject.

It does less than salespulse (two rules of ten, no learned averages, no team figures, no
lifecycle beyond firing and resolved), which is the point of the comparison: the cost of
the stateful core in the library as shipped. Quotas and the org chart are read and
parsed only. It stops once EXPECTED input messages are processed and writes ``{"count",
"seconds", ...}`` to OUT.json: seconds from the first message to the end of the final
checkpoint (state flushed, alerts delivered, offsets committed), as ``app.run()``
returns.

quixstreams is the optional ``bench`` extra (``make bench`` installs it into
``bench/.venv``); nothing of salespulse is imported here.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from quixstreams import Application, State
from quixstreams.models import TopicConfig

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: low_contact_rate as the contract defines it (RulesSettings defaults)
CONTACT_WINDOW_MS = 7 * DAY_MS
CONTACT_MIN_ATTEMPTS = 50
CONTACT_MIN_RATE = 0.032
#: deal_stalled before a stage's average is learned: factor 2.0 x default_stage_days 14
STALLED_AFTER_MS = 2 * 14 * DAY_MS
#: what counts as an outbound attempt and as a conversation (the contract's definitions)
ATTEMPT_CHANNELS = frozenset({"call", "email", "social"})
CONVERSATIONS = frozenset({("call", "connected"), ("email", "replied"), ("meeting", "held")})
CLOSING = frozenset({"deal.won", "deal.lost"})


def occurred_ms(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Event time: the event's ``occurred_at`` (RFC 3339), in epoch milliseconds."""
    return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


def touch_counts(activity: dict[str, Any]) -> list[int]:
    """``[outbound attempts, conversations]`` one activity adds to its hour."""
    channel = activity.get("channel")
    attempt = activity.get("direction") == "outbound" and channel in ATTEMPT_CHANNELS
    conversation = (channel, activity.get("outcome")) in CONVERSATIONS
    return [int(attempt), int(conversation)]


def add_touch(hour: list[int], activity: dict[str, Any]) -> list[int]:
    attempts, conversations = touch_counts(activity)
    return [hour[0] + attempts, hour[1] + conversations]


class Run:
    """What the run counts, and its stop once every expected message is processed."""

    def __init__(self, app: Application, expected: int) -> None:
        self.app = app
        self.expected = expected
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.alerts = 0
        self.late = 0

    def seen(self, value: Any) -> None:
        if not self.count:
            self.first = time.perf_counter()
        self.count += 1
        if self.count >= self.expected:
            self.last = time.perf_counter()
            self.app.stop()  # the run loop ends after this message, with a final commit

    def on_late(self, *args: Any, **kwargs: Any) -> bool:
        self.late += 1
        return False  # counted here, not logged once per message

    def judge_contact_rate(
        self, window: dict[str, Any], key: Any, timestamp: int, headers: Any, state: State
    ) -> list[dict]:
        """A closed hour of a rep's touches into the rep's state (the hours of the last 7
        days, ``[end, attempts, conversations]``, and whether the alert fires); the alert,
        if ``low_contact_rate`` started or stopped holding."""
        end = window["end"]
        rep = state.get("rep") or {"hours": [], "firing": False}
        hours = [h for h in rep["hours"] if h[0] > end - CONTACT_WINDOW_MS]
        hours.append([end, *window["value"]])
        attempts = sum(h[1] for h in hours)
        conversations = sum(h[2] for h in hours)
        rate = conversations / attempts if attempts else 0.0
        holds = attempts >= CONTACT_MIN_ATTEMPTS and rate < CONTACT_MIN_RATE
        changed = holds != rep["firing"]
        state.set("rep", {"hours": hours, "firing": holds})
        if not changed:
            return []
        self.alerts += 1
        metrics = {"contact_rate": rate, "outbound_attempts": attempts,
                   "conversations": conversations}  # fmt: skip
        return [_alert("low_contact_rate", "rep", key, holds, end, rep_id=key, metrics=metrics)]

    def judge_deal(
        self, event: dict[str, Any], key: Any, at: int, headers: Any, state: State
    ) -> list[dict]:
        """A deal event into the deal's state (its stage, since when, whether the alert
        fires); the alert, if ``deal_stalled`` started or stopped holding. ``at`` is the
        event's time (``occurred_ms``). A closed deal's state is deleted."""
        event_type = event.get("event_type", "")
        if not event_type.startswith("deal."):
            return []  # leads have no stage
        deal = state.get("deal") or {"stage": None, "since": at, "firing": False}
        if event_type in CLOSING:
            state.delete("deal")
            holds = False
        else:
            moved = event.get("stage") != deal["stage"]
            if moved:
                deal = {"stage": event.get("stage"), "since": at, "firing": deal["firing"]}
            holds = at - deal["since"] > STALLED_AFTER_MS
            if moved or holds != deal["firing"]:
                state.set("deal", {**deal, "firing": holds})
        if holds == deal["firing"]:
            return []
        self.alerts += 1
        metrics = {"days_in_stage": (at - deal["since"]) / DAY_MS,
                   "threshold_days": STALLED_AFTER_MS / DAY_MS}  # fmt: skip
        return [
            _alert(
                "deal_stalled", "deal", key, holds, at, rep_id=event.get("rep_id"), metrics=metrics
            )
        ]


def _alert(
    rule: str, kind: str, subject: Any, firing: bool, at_ms: int, **fields: Any
) -> dict[str, Any]:
    return {
        "alert_key": f"{rule}:{kind}:{subject}",
        "rule": rule,
        "status": "firing" if firing else "resolved",
        "subject": {"kind": kind, "id": subject},
        "at": at_ms,
        **fields,
    }


def build(app: Application, run: Run, alerts_topic: str, topics: list[str]) -> None:
    deals_name, activities_name, quotas_name, org_name = topics
    alerts = app.topic(
        alerts_topic,
        value_serializer="json",
        key_serializer="str",
        config=TopicConfig(num_partitions=6, replication_factor=1),
    )

    deals = app.dataframe(
        app.topic(deals_name, key_deserializer="str", timestamp_extractor=occurred_ms)
    )
    deals = deals.update(run.seen)
    deals = deals.apply(run.judge_deal, stateful=True, expand=True, metadata=True)
    deals.to_topic(alerts, key=lambda alert: f"deal:{alert['subject']['id']}")

    activities = app.dataframe(
        app.topic(activities_name, key_deserializer="str", timestamp_extractor=occurred_ms)
    )
    activities = activities.update(run.seen)
    hours = (
        activities.tumbling_window(duration_ms=HOUR_MS, grace_ms=DAY_MS, on_late=run.on_late)
        .reduce(reducer=add_touch, initializer=touch_counts)
        .final()
    )
    contact = hours.apply(run.judge_contact_rate, stateful=True, expand=True, metadata=True)
    contact.to_topic(alerts, key=lambda alert: f"rep:{alert['subject']['id']}")

    for name in (quotas_name, org_name):
        app.dataframe(app.topic(name, key_deserializer="str")).update(run.seen)


def main(argv: list[str]) -> None:
    if len(argv) != 10 or not argv[1].isdigit():
        sys.exit(
            "usage: python -m bench.quix_peer BOOTSTRAP EXPECTED OUT.json STATE_DIR GROUP "
            "ALERTS DEALS ACTIVITIES QUOTAS ORG"
        )
    bootstrap, expected, out, state_dir, group, alerts_topic, *topics = argv
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    run = Run(app, int(expected))
    build(app, run, alerts_topic, topics)
    app.run()
    done = time.perf_counter()
    Path(out).write_text(
        json.dumps(
            {
                "count": run.count,
                "seconds": done - run.first,
                "seconds_to_last_message": run.last - run.first,
                "alerts": run.alerts,
                "late": run.late,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
