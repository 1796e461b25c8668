"""Every rule of the contract but ``deal_stalled`` (see test_deal_stalled_live.py) through
the real Kafka and a real worker process: each alert fires, then resolves.

One worker per rule, on the event clock with no allowed lateness and one rep judgment
per day of event time (rule boundaries fall on UTC midnights), with only the rule under
test enabled. Event time is moved forward by events, never by waiting: a deal of an
inert clock rep of another team (no quota, no leads, no touches, no closed deals), or
for pipeline_load a touch of the rep itself.

Rep rules judge a boundary once. So that a boundary is never judged before the data
meant for it has reached the rep side (deal summaries and leads travel through an
internal topic first), each test waits for the data to show in the worker's per-rep KPI
gauges before it sends the event that carries time past the next boundary. The team
rules also wait until every partition of the team has judged a boundary (its snapshot on
the partition-stats topic), so the team's baseline is the whole team, wherever its reps
are processed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import ActivityLogged, LeadConverted, LeadCreated, QuotaSet
from streamer.core.routing import partition_for
from streamer.kafka_admin import ensure_topics
from streamer.settings import RulesSettings
from tests import factories as f

from .kafka_helpers import Collector, WorkerProcess, event_bytes, isolated_settings, produce

pytestmark = pytest.mark.kafka

TIMEOUT = 90.0
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)  # day 0 of these tests; boundaries on whole days
_OFFSET = (f.T0 - MIDNIGHT) / timedelta(days=1)  # the factories count days from T0 (09:00)
CLOCK_REP = "rep-clock"
TEAM = "emea"
# one team rep per partition of the rep side (isolated_settings makes 3 partitions)
TEAM_REPS = ("rep-low", "rep-b", "rep-c")
_clock_ids = itertools.count(1)


def day(x: float) -> float:
    """The factories' day of day ``x`` after midnight of day 0."""
    return x - _OFFSET


def when(x: float) -> str:
    """RFC 3339 of day ``x``, as alerts carry it."""
    moment = MIDNIGHT + timedelta(days=x)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def epoch(x: float) -> float:
    return (MIDNIGHT + timedelta(days=x)).timestamp()


# --- events -------------------------------------------------------------------------------


def deal(deal_id: str, x: float, rep: str, stage: str = "qualification", team: str = TEAM) -> Any:
    return f.created(deal_id, day(x), stage, rep_id=rep, team_id=team)


def move(deal_id: str, x: float, rep: str, to: str = "proposal") -> Any:
    return f.moved(deal_id, day(x), "qualification", to, rep_id=rep, team_id=TEAM)


def won(deal_id: str, x: float, rep: str, amount: float = 1000.0) -> Any:
    return f.won(deal_id, day(x), rep_id=rep, team_id=TEAM, amount=amount)


def lost(deal_id: str, x: float, rep: str) -> Any:
    return f.lost(deal_id, day(x), rep_id=rep, team_id=TEAM)


def touch(x: float, rep: str, outcome: str = "no_answer", **extra: Any) -> ActivityLogged:
    channel = extra.pop("channel", "call")
    return f.activity(day(x), rep_id=rep, channel=channel, outcome=outcome, team_id=TEAM, **extra)


def clock(x: float) -> Any:
    """Moves event time to day ``x``: a new deal of a rep of another team."""
    return deal(f"clock-{next(_clock_ids)}", x, CLOCK_REP, "prospecting", team="ops")


def messages(settings: Any, events: Iterable[Any]) -> list[tuple[str, bytes, bytes]]:
    """Each event on its input topic with the contract's key."""
    out = []
    for event in events:
        if isinstance(event, ActivityLogged):
            topic, key = settings.topics.activities, event.rep_id
        elif isinstance(event, LeadCreated | LeadConverted):
            topic, key = settings.topics.deals, event.rep_id
        elif isinstance(event, QuotaSet):
            topic, key = settings.topics.quotas, event.rep_id
        else:
            topic, key = settings.topics.deals, event.deal_id
        out.append((topic, key.encode(), event_bytes(event)))
    return out


# --- a worker per test --------------------------------------------------------------------


@dataclass
class Live:
    settings: Any
    worker: WorkerProcess
    alerts: Collector
    rule: str

    async def send(self, *events: Any) -> None:
        await produce(self.settings, messages(self.settings, events))

    def of_rule(self) -> list[dict[str, Any]]:
        return [v for v in self.alerts.values() if v["rule"] == self.rule]

    async def alerts_of_rule(self, count: int, what: str) -> list[dict[str, Any]]:
        """Wait for ``count`` alerts of the rule under test; return all alerts there are."""
        await self.alerts.wait_for(
            lambda _: len(self.of_rule()) >= count, TIMEOUT, what, self.diagnostics
        )
        return self.alerts.values()

    def diagnostics(self) -> str:
        return f"alerts: {self.alerts.values()}\n{self.worker.tail()}"

    async def metric(self, name: str, labels: dict[str, str], expected: float, what: str) -> None:
        """Wait until the worker's /metrics shows ``name{labels}`` at ``expected``."""
        deadline = time.monotonic() + TIMEOUT
        seen: list[float] = []
        while time.monotonic() < deadline:
            text = await asyncio.to_thread(self.worker.metrics)
            seen = [
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == name and labels.items() <= sample.labels.items()
            ]
            if any(abs(v - expected) < 1e-9 for v in seen):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"timed out waiting for {what}: {name}{labels} == {expected}, saw {seen}\n"
            + self.worker.tail()
        )

    async def kpi(self, kpi: str, rep: str, expected: float, **labels: str) -> None:
        await self.metric(
            f"salespulse_rep_{kpi}", {"rep_id": rep, **labels}, expected, f"{rep}'s {kpi}"
        )

    async def accepted(self, event_type: str, count: int) -> None:
        await self.metric(
            "salespulse_events_accepted_total",
            {"event_type": event_type},
            count,
            f"{count} {event_type} events consumed",
        )

    async def judged(self, reps: Iterable[str], x: float) -> None:
        """Wait until the partitions of ``reps`` have judged the boundary of day ``x``
        (and so published their teams' sums as of it to the other partitions)."""
        partitions = {partition_for(rep, self.settings.partitions) for rep in reps}
        topic = f"{self.settings.app_id}-partition-stats"

        def done(records: list[Any]) -> bool:
            latest = {r.key: json.loads(r.value) for r in records}
            return all(
                (latest.get(f"r{p}".encode(), {}).get("as_of") or 0) >= epoch(x) for p in partitions
            )

        async with Collector(self.settings, topic) as stats:
            await stats.wait_for(done, TIMEOUT, f"partitions {partitions} judged day {x}")


StartLive = Callable[[str], Awaitable[Live]]


def _at_once(rule: str) -> dict[str, float]:
    """The settings that make ``rule`` fire and resolve at the first boundary possible."""
    fields = type(getattr(RulesSettings(), rule)).model_fields
    return {name: 0.0 for name in ("for_seconds", "keep_firing_for_seconds") if name in fields}


_AT_ONCE = {name: _at_once(name) for name in RulesSettings.model_fields}


@pytest.fixture
async def start_live(make_worker: Any, tmp_path: Path) -> AsyncIterator[StartLive]:
    collectors: list[Collector] = []

    async def start(rule: str) -> Live:
        settings = isolated_settings(
            tmp_path,
            clock="event",
            allowed_lateness_seconds=0,
            rep_rules_interval_seconds=86400,
            # each alert at the first boundary its condition holds, resolved at the first
            # it does not: these tests are about the conditions, not for / keep_firing_for
            rules={
                name: {"enabled": name == rule, **_AT_ONCE[name]}
                for name in RulesSettings.model_fields
            },
        )
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        await asyncio.to_thread(worker.wait_ready)
        alerts = Collector(settings, settings.topics.alerts)
        await alerts.__aenter__()
        collectors.append(alerts)
        return Live(settings, worker, alerts, rule)

    yield start
    for collector in collectors:
        await collector.__aexit__(None, None, None)


def check(
    alert: dict[str, Any], rule: str, rep: str, status: str, alert_id: str, **fields: Any
) -> None:
    assert alert["rule"] == rule
    assert alert["status"] == status
    assert alert["alert_id"] == alert_id
    assert alert["rep_id"] == rep
    for name, value in fields.items():
        assert alert[name] == value, name


def assert_metrics(alert: dict[str, Any], expected: dict[str, Any]) -> None:
    """The decision's numbers are in ``metrics`` (a rule may add more)."""
    assert {k: alert["metrics"].get(k) for k in expected} == expected, alert["metrics"]


def rep_alert(alert: dict[str, Any], rule: str, rep: str) -> None:
    assert alert["subject"] == {"kind": "rep", "id": rep}
    assert alert["alert_key"] == f"{rule}:rep:{rep}"


# --- deal rules ---------------------------------------------------------------------------


async def test_follow_up_gap_fires_after_a_quiet_week_and_resolves_on_the_next_touch(
    start_live: StartLive,
) -> None:
    live = await start_live("follow_up_gap")
    rep = "rep-gap"
    await live.send(
        deal("quiet", 0.5, rep, "proposal"),
        touch(1.5, rep, "sent", channel="email", deal_id="quiet", follow_up=True),
    )
    await live.kpi("follow_ups_per_deal_avg", rep, 1.0)  # the touch reached the deal
    await live.send(clock(9.5))  # eight quiet days

    [firing] = await live.alerts_of_rule(1, "follow_up_gap firing")
    check(
        firing,
        "follow_up_gap",
        rep,
        "firing",
        f"follow_up_gap:quiet:{when(1.5)}",
        severity="warning",
        subject={"kind": "deal", "id": "quiet"},
        alert_key="follow_up_gap:deal:quiet",
        started_at=when(8.5),
        resolved_at=None,
    )
    assert_metrics(
        firing,
        {
            "days_since_touch": 8.0,
            "threshold_days": 7.0,
            "follow_ups": 1,
            "min_follow_ups": 5,
        },
    )
    assert live.alerts.records[0].key == b"deal:quiet"

    await live.send(touch(10, rep, "connected", deal_id="quiet", follow_up=True))
    [_, resolved] = await live.alerts_of_rule(2, "follow_up_gap resolved")
    check(
        resolved,
        "follow_up_gap",
        rep,
        "resolved",
        firing["alert_id"],
        started_at=when(8.5),
        resolved_at=when(10),
    )
    assert resolved["metrics"]["follow_ups"] == 2
    assert resolved["metrics"]["days_since_touch"] == 8.5


# --- rep rules on the rep's own numbers ---------------------------------------------------


async def test_quota_pace_fires_when_behind_pace_and_resolves_when_deals_are_won(
    start_live: StartLive,
) -> None:
    live = await start_live("quota_pace")
    rep = "rep-pace"  # quota of 10,000 for the 30 days of November
    await live.send(
        f.quota(day(0), day(30), 10_000, rep_id=rep),
        touch(0.2, rep),
        won("pace-1", 0.5, rep, amount=1500),
        clock(0.9),
    )
    await live.kpi("quota_attainment", rep, 0.15)
    # judged from day 1; from day 6 on 20% of the period is gone: pace 0.15 / 0.2 = 0.75
    await live.send(clock(6.5))
    [firing] = await live.alerts_of_rule(1, "quota_pace firing")
    rep_alert(firing, "quota_pace", rep)
    check(firing, "quota_pace", rep, "firing", f"quota_pace:{rep}:{when(6)}", severity="warning")
    assert firing["started_at"] == when(6)
    assert_metrics(
        firing,
        {
            "attainment": 0.15,
            "elapsed_fraction": 0.2,
            "pace": 0.75,
            "threshold": 0.8,
            "achieved": 1500.0,
            "target": 10_000.0,
        },
    )

    await live.send(won("pace-2", 6.7, rep, amount=5000), clock(6.9))
    await live.kpi("quota_attainment", rep, 0.65)
    await live.send(clock(7.5))
    [_, resolved] = await live.alerts_of_rule(2, "quota_pace resolved")
    check(resolved, "quota_pace", rep, "resolved", firing["alert_id"], resolved_at=when(7))
    assert resolved["metrics"]["attainment"] == 0.65
    assert resolved["metrics"]["elapsed_fraction"] == round(7 / 30, 3)
    assert resolved["metrics"]["pace"] == round(0.65 / (7 / 30), 3)
    assert len(live.alerts.values()) == 2


async def test_low_contact_rate_fires_on_few_conversations_and_resolves_when_calls_connect(
    start_live: StartLive,
) -> None:
    live = await start_live("low_contact_rate")
    rep = "rep-contact"
    calls = [touch(0.1 + i * 0.01, rep) for i in range(60)]
    await live.send(*calls, touch(0.7, rep, "connected"))
    await live.accepted("activity.logged", 61)
    await live.send(clock(1.5))
    [firing] = await live.alerts_of_rule(1, "low_contact_rate firing")
    rep_alert(firing, "low_contact_rate", rep)
    check(firing, "low_contact_rate", rep, "firing", f"low_contact_rate:{rep}:{when(1)}")
    assert_metrics(
        firing,
        {
            "contact_rate": round(1 / 61, 4),
            "threshold": 0.032,
            "conversations": 1,
            "outbound_attempts": 61,
        },
    )

    await live.send(*(touch(1.6 + i * 0.01, rep, "connected") for i in range(3)))
    await live.accepted("activity.logged", 64)
    await live.send(clock(2.5))
    [_, resolved] = await live.alerts_of_rule(2, "low_contact_rate resolved")
    check(resolved, "low_contact_rate", rep, "resolved", firing["alert_id"], resolved_at=when(2))
    assert resolved["metrics"]["contact_rate"] == 0.0625
    assert (resolved["metrics"]["conversations"], resolved["metrics"]["outbound_attempts"]) == (
        4,
        64,
    )
    assert len(live.alerts.values()) == 2


async def test_activity_drop_fires_when_a_week_falls_below_half_the_usual_and_resolves(
    start_live: StartLive,
) -> None:
    live = await start_live("activity_drop")
    rep = "rep-drop"
    usual = [touch(k + frac, rep) for k in range(28) for frac in (0.4, 0.6)]  # 2 a day
    quiet = [touch(x, rep) for x in (30.5, 31.5, 32.5)]
    await live.send(*usual, *quiet)
    await live.accepted("activity.logged", 59)
    # first judged with 35 days of history behind it: day 36; its week [29, 36) has 3
    # attempts, the 4 weeks before [1, 29) have 54, 13.5 a week
    await live.send(clock(36.5))
    [firing] = await live.alerts_of_rule(1, "activity_drop firing")
    rep_alert(firing, "activity_drop", rep)
    check(firing, "activity_drop", rep, "firing", f"activity_drop:{rep}:{when(36)}")
    assert_metrics(
        firing,
        {
            "outbound_attempts": 3,
            "baseline_weekly": 13.5,
            "ratio": round(3 / 13.5, 3),
            "threshold": 0.5,
            "baseline_weeks": 4,
        },
    )

    await live.send(*(touch(36.6 + i * 0.01, rep) for i in range(5)))
    await live.accepted("activity.logged", 64)
    await live.send(clock(37.5))  # week [30, 37): 8; before [2, 30): 52, 13 a week
    [_, resolved] = await live.alerts_of_rule(2, "activity_drop resolved")
    check(resolved, "activity_drop", rep, "resolved", firing["alert_id"], resolved_at=when(37))
    assert resolved["metrics"]["outbound_attempts"] == 8
    assert resolved["metrics"]["baseline_weekly"] == 13.0
    assert resolved["metrics"]["ratio"] == round(8 / 13, 3)
    assert len(live.alerts.values()) == 2


async def test_pipeline_load_fires_above_60_open_deals_and_resolves_when_deals_close(
    start_live: StartLive,
) -> None:
    live = await start_live("pipeline_load")
    rep = "rep-load"  # time moves with its own touches: a clock rep would have a thin pipeline
    await live.send(*(deal(f"load-{i}", 0.5, rep) for i in range(61)))
    await live.kpi("open_deals", rep, 61)
    await live.send(touch(1.5, rep))
    [firing] = await live.alerts_of_rule(1, "pipeline_load firing")
    rep_alert(firing, "pipeline_load", rep)
    check(
        firing, "pipeline_load", rep, "firing", f"pipeline_load:{rep}:{when(1)}", severity="warning"
    )
    assert_metrics(firing, {"open_deals": 61, "threshold": 60, "max_open": 60, "min_open": 5})

    await live.send(won("load-0", 1.7, rep), lost("load-1", 1.7, rep))
    await live.kpi("open_deals", rep, 59)
    await live.send(touch(2.5, rep))
    [_, resolved] = await live.alerts_of_rule(2, "pipeline_load resolved")
    check(resolved, "pipeline_load", rep, "resolved", firing["alert_id"], resolved_at=when(2))
    assert resolved["metrics"]["open_deals"] == 59
    assert resolved["title"] == f"Rep {rep}: pipeline back in range"  # notifications add "Resolved"
    assert len(live.alerts.values()) == 2


async def test_activity_barometer_fires_on_too_few_new_deals_for_quota_and_resolves(
    start_live: StartLive,
) -> None:
    live = await start_live("activity_barometer")
    rep = "rep-baro"  # 100,000 to reach in 8 weeks; won 2 of 4 deals closed, 5,000 each
    await live.send(
        f.quota(day(0), day(56), 100_000, rep_id=rep),
        touch(0.1, rep),
        won("baro-1", 0.5, rep, amount=5000),
        won("baro-2", 0.5, rep, amount=5000),
        lost("baro-3", 0.5, rep),
        lost("baro-4", 0.5, rep),
        clock(0.9),
    )
    await live.kpi("quota_attainment", rep, 0.1)
    await live.kpi("win_rate", rep, 0.5)
    # day 1: 90,000 / 5,000 / 0.5 / (55 / 7 weeks) = 4.58 new deals a week needed; 0 made
    await live.send(clock(1.5))
    [firing] = await live.alerts_of_rule(1, "activity_barometer firing")
    rep_alert(firing, "activity_barometer", rep)
    check(firing, "activity_barometer", rep, "firing", f"activity_barometer:{rep}:{when(1)}")
    assert_metrics(
        firing,
        {
            "new_opportunities": 0,
            "needed": 4.58,
            "threshold": 4.58,
            "remaining_target": 90_000.0,
            "deal_size_avg": 5000.0,
            "win_rate": 0.5,
            "weeks_left": round(55 / 7, 2),
        },
    )

    await live.send(*(deal(f"baro-new-{i}", 1.6, rep) for i in range(5)), clock(1.9))
    await live.kpi("open_deals", rep, 5)
    await live.send(clock(2.5))  # day 2: 5 new, 4.67 needed
    [_, resolved] = await live.alerts_of_rule(2, "activity_barometer resolved")
    check(resolved, "activity_barometer", rep, "resolved", firing["alert_id"], resolved_at=when(2))
    assert resolved["metrics"]["new_opportunities"] == 5
    assert resolved["metrics"]["needed"] == 4.67
    assert len(live.alerts.values()) == 2


async def test_leads_uncontacted_fires_when_most_leads_go_untouched_and_resolves(
    start_live: StartLive,
) -> None:
    live = await start_live("leads_uncontacted")
    rep = "rep-leads"
    first = [f.lead(day(0.5), f"lead-{i}", rep) for i in range(1, 7)]
    await live.send(*first, f.lead(day(0.6), "lead-1", rep, converted_to="from-lead-1"), clock(0.7))
    await live.kpi("lead_to_opportunity_ratio", rep, 1 / 6)  # the leads reached the rep side
    # a lead's touch must not overtake the lead itself (it would be late)
    await live.send(touch(1.0, rep, "sent", channel="email", lead_id="lead-2"))
    await live.accepted("activity.logged", 1)
    # leads of day 0.5 are judged from day 3 (2 days to touch them): 1 of 6 touched
    await live.send(clock(3.2))
    [firing] = await live.alerts_of_rule(1, "leads_uncontacted firing")
    rep_alert(firing, "leads_uncontacted", rep)
    check(firing, "leads_uncontacted", rep, "firing", f"leads_uncontacted:{rep}:{when(3)}")
    assert_metrics(
        firing,
        {
            "contacted_share": round(1 / 6, 3),
            "threshold": 0.5,
            "leads": 6,
            "contacted": 1,
        },
    )

    await live.send(*(f.lead(day(3.5), f"lead-{i}", rep) for i in range(7, 13)), clock(3.55))
    await live.kpi("lead_to_opportunity_ratio", rep, 1 / 12)
    await live.send(
        *(
            touch(3.6 + i * 0.01, rep, "sent", channel="email", lead_id=f"lead-{i}")
            for i in range(7, 13)
        )
    )
    await live.accepted("activity.logged", 7)
    await live.send(clock(6.5))  # day 6 judges the leads of day 3.5 too: 7 of 12
    [_, resolved] = await live.alerts_of_rule(2, "leads_uncontacted resolved")
    check(resolved, "leads_uncontacted", rep, "resolved", firing["alert_id"], resolved_at=when(6))
    assert_metrics(
        resolved,
        {
            "contacted_share": round(7 / 12, 3),
            "threshold": 0.5,
            "leads": 12,
            "contacted": 7,
        },
    )
    assert len(live.alerts.values()) == 2


# --- rep rules against the team: a rep on each partition ----------------------------------


async def test_conversion_drop_against_a_team_spread_over_partitions(
    start_live: StartLive,
) -> None:
    assert len({partition_for(r, 3) for r in TEAM_REPS}) == 3
    live = await start_live("conversion_drop")
    low, *others = TEAM_REPS
    events: list[Any] = []
    # 19 deals of the low rep leave qualification: 4 forward; the others' 10 each: 9
    for i in range(19):
        events.append(deal(f"low-{i}", 0.2, low))
        events.append(move(f"low-{i}", 0.5, low) if i < 4 else lost(f"low-{i}", 0.5, low))
    for rep in others:
        for i in range(10):
            events.append(deal(f"{rep}-{i}", 0.2, rep))
            events.append(move(f"{rep}-{i}", 0.5, rep) if i < 9 else lost(f"{rep}-{i}", 0.5, rep))
    await live.send(*events, clock(0.9))
    conversion = {"pipeline": "default", "stage": "qualification"}
    await live.kpi("stage_conversion", low, 4 / 19, **conversion)
    for rep in others:
        await live.kpi("stage_conversion", rep, 0.9, **conversion)
    await live.send(clock(1.5))  # day 1: 19 exits, too few to judge
    await live.judged(TEAM_REPS, 1)

    await live.send(deal("low-19", 1.55, low), lost("low-19", 1.6, low), clock(1.9))
    await live.kpi("stage_conversion", low, 0.2, **conversion)
    await live.send(clock(2.5))  # day 2: 4 of 20 against the team's 22 of 40
    [firing] = await live.alerts_of_rule(1, "conversion_drop firing")
    rep_alert(firing, "conversion_drop", low)
    check(
        firing, "conversion_drop", low, "firing", f"conversion_drop:{low}:{when(2)}", team_id=TEAM
    )
    assert_metrics(
        firing,
        {
            "stage": "default/qualification",
            "conversion": 0.2,
            "team_conversion": 0.55,
            "threshold": 0.275,
            "exits": 20,
        },
    )

    more = [deal(f"low-{i}", 2.55, low) for i in range(20, 26)]
    await live.send(*more, *(move(f"low-{i}", 2.6, low) for i in range(20, 26)), clock(2.9))
    await live.kpi("stage_conversion", low, 10 / 26, **conversion)
    await live.send(clock(3.5))  # day 3: 10 of 26 against 28 of 46
    [_, resolved] = await live.alerts_of_rule(2, "conversion_drop resolved")
    check(resolved, "conversion_drop", low, "resolved", firing["alert_id"], resolved_at=when(3))
    assert_metrics(
        resolved,
        {
            "stage": "default/qualification",
            "conversion": round(10 / 26, 3),
            "team_conversion": round(28 / 46, 3),
            "threshold": round(0.5 * 28 / 46, 3),
            "exits": 26,
        },
    )
    assert len(live.alerts.values()) == 2


async def test_win_rate_outlier_against_a_team_spread_over_partitions(
    start_live: StartLive,
) -> None:
    live = await start_live("win_rate_outlier")
    low, *others = TEAM_REPS
    events: list[Any] = [touch(0.1, rep) for rep in TEAM_REPS]  # first seen, team emea
    # the low rep won 2 of 19 closed; the others 7 of 10 each (too few to judge them)
    events += [
        won(f"low-{i}", 0.5, low) if i < 2 else lost(f"low-{i}", 0.5, low) for i in range(19)
    ]
    for rep in others:
        events += [
            won(f"{rep}-{i}", 0.5, rep) if i < 7 else lost(f"{rep}-{i}", 0.5, rep)
            for i in range(10)
        ]
    await live.send(*events, clock(0.9))
    await live.kpi("win_rate", low, 2 / 19)
    for rep in others:
        await live.kpi("win_rate", rep, 0.7)
    await live.send(clock(1.5))  # day 1: 19 closed, too few to judge
    await live.judged(TEAM_REPS, 1)

    await live.send(lost("low-19", 1.6, low), clock(1.9))
    await live.kpi("win_rate", low, 0.1)
    await live.send(clock(2.5))  # day 2: 2 of 20 against the team's 16 of 40
    [firing] = await live.alerts_of_rule(1, "win_rate_outlier firing")
    rep_alert(firing, "win_rate_outlier", low)
    check(
        firing,
        "win_rate_outlier",
        low,
        "firing",
        f"win_rate_outlier:{low}:{when(2)}",
        severity="warning",
        team_id=TEAM,
    )
    assert_metrics(
        firing,
        {
            "win_rate": 0.1,
            "team_win_rate": 0.4,
            "threshold": 0.2,
            "closed": 20,
        },
    )

    await live.send(*(won(f"low-{i}", 2.6, low) for i in range(20, 28)), clock(2.9))
    await live.kpi("win_rate", low, 10 / 28)
    await live.send(clock(3.5))  # day 3: 10 of 28 against 24 of 48
    [_, resolved] = await live.alerts_of_rule(2, "win_rate_outlier resolved")
    check(resolved, "win_rate_outlier", low, "resolved", firing["alert_id"], resolved_at=when(3))
    assert_metrics(
        resolved,
        {
            "win_rate": round(10 / 28, 3),
            "team_win_rate": 0.5,
            "closed": 28,
        },
    )
    assert len(live.alerts.values()) == 2
