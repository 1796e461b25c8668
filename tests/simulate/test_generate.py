"""The simulated stream: deterministic, ordered, valid, keyed as the contract says, lazy,
and realistic enough that the rules have something to find."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import schemas
from streamer.devtools.simdata import CALIBRATION, ROSTER
from streamer.devtools.simulate import ROLES, SimConfig, SimEvent, generate
from streamer.settings import TopicNames

DAY = 86_400.0
SMALL = SimConfig(seed=3, days=21, reps=4)


def _t(event: SimEvent) -> float:
    return datetime.fromisoformat(event.value["occurred_at"]).timestamp()


def _of_type(events: list[SimEvent], event_type: str) -> list[SimEvent]:
    return [e for e in events if e.value["event_type"] == event_type]


def test_same_seed_same_events() -> None:
    assert list(generate(SMALL)) == list(generate(SMALL))


def test_other_seed_other_events() -> None:
    first = [e.value for e in generate(SMALL)]
    other = [e.value for e in generate(SimConfig(seed=4, days=21, reps=4))]
    assert first != other
    assert not {v["event_id"] for v in first} & {v["event_id"] for v in other}


def test_events_are_in_non_decreasing_time_order(default_events: list[SimEvent]) -> None:
    times = [_t(e) for e in default_events]
    assert times == sorted(times)
    start = SimConfig().start.timestamp()
    assert times[0] == start
    assert times[-1] < start + 90 * DAY


def test_timestamps_are_utc_rfc3339_with_z(default_events: list[SimEvent]) -> None:
    for event in default_events[::97]:
        stamp = event.value["occurred_at"]
        assert stamp.endswith("Z") and len(stamp) == 20
        assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def test_every_event_validates_against_the_contract(default_events: list[SimEvent]) -> None:
    for event in default_events:
        parsed = schemas.parse_event(json.dumps(event.value))
        assert parsed.event_type == event.value["event_type"]


def test_event_ids_are_unique(default_events: list[SimEvent]) -> None:
    ids = [e.value["event_id"] for e in default_events]
    assert len(set(ids)) == len(ids)


def test_every_event_type_is_produced(default_events: list[SimEvent]) -> None:
    types = Counter(e.value["event_type"] for e in default_events)
    for event_type in (
        "rep.upserted", "quota.set", "lead.created", "lead.converted", "deal.created",
        "deal.stage_changed", "deal.updated", "deal.won", "deal.lost", "activity.logged",
    ):  # fmt: skip
        assert types[event_type] > 0, event_type


def test_topics_are_roles_and_keys_follow_the_contract(default_events: list[SimEvent]) -> None:
    topic_of = {
        "activity.logged": "activities", "quota.set": "quotas", "rep.upserted": "org",
        "deal.created": "deals", "deal.stage_changed": "deals", "deal.updated": "deals",
        "deal.won": "deals", "deal.lost": "deals", "lead.created": "deals",
        "lead.converted": "deals",
    }  # fmt: skip
    assert set(ROLES) <= set(TopicNames.model_fields)
    for event in default_events:
        value = event.value
        assert event.topic == topic_of[value["event_type"]]
        if event.topic == "deals":
            assert event.key == value.get("deal_id", value.get("lead_id"))
        else:
            assert event.key == value["rep_id"]


def test_reps_come_first_in_three_teams_with_real_names(default_events: list[SimEvent]) -> None:
    reps = [e.value for e in default_events[:12]]
    assert all(v["event_type"] == "rep.upserted" for v in reps)
    assert Counter(v["team_id"] for v in reps) == {"central": 4, "east": 4, "west": 4}
    names = {r.name for r in ROSTER}
    assert all(v["name"] in names for v in reps)
    assert all(v["manager_id"].startswith("mgr-") and v["timezone"] for v in reps)
    assert all(v["email"].endswith("@example.com") for v in reps)


def test_more_reps_than_the_roster_get_synthetic_names() -> None:
    reps = [e.value for e in itertools.islice(generate(SimConfig(reps=40, days=1)), 40)]
    assert len({v["rep_id"] for v in reps}) == 40
    assert {v["name"] for v in reps[:35]} == {r.name for r in ROSTER}
    assert all(v["event_type"] == "rep.upserted" for v in reps)


def test_a_quota_per_rep_per_quarter(default_events: list[SimEvent]) -> None:
    quotas = _of_type(default_events, "quota.set")
    periods = Counter((q.value["rep_id"], q.value["period_start"]) for q in quotas)
    assert set(periods.values()) == {1}
    # the run starts 2026-01-05 and lasts 90 days: Q1 at the start, Q2 a week ahead
    assert {p for _, p in periods} == {"2026-01-01", "2026-04-01"}
    assert all(q.value["target"] > 0 and q.value["metric"] == "revenue" for q in quotas)


def test_deal_lifecycles_are_consistent(default_events: list[SimEvent]) -> None:
    stages = SimConfig().stages
    current: dict[str, str] = {}
    for event in default_events:
        value = event.value
        kind = value["event_type"]
        if kind == "deal.created":
            assert value["deal_id"] not in current
        elif kind.startswith("deal."):
            assert current[value["deal_id"]] not in ("won", "lost"), "event after close"
        if kind == "deal.stage_changed":
            assert value["from_stage"] == current[value["deal_id"]]
            assert stages.index(value["stage"]) == stages.index(value["from_stage"]) + 1
        if kind == "deal.lost":
            assert value["reason"]
        if kind.startswith("deal."):
            current[value["deal_id"]] = value["stage"]


def test_converted_leads_name_a_new_deal(default_events: list[SimEvent]) -> None:
    created = {e.value["deal_id"]: _t(e) for e in _of_type(default_events, "deal.created")}
    leads = {e.value["lead_id"] for e in _of_type(default_events, "lead.created")}
    for event in _of_type(default_events, "lead.converted"):
        assert event.value["lead_id"] in leads
        assert created[event.value["deal_id"]] == _t(event)


def test_follow_up_marks_touches_after_the_first_on_a_deal(
    default_events: list[SimEvent],
) -> None:
    start = SimConfig().start.timestamp()
    created = {e.value["deal_id"]: _t(e) for e in _of_type(default_events, "deal.created")}
    touched: set[str] = set()
    for event in _of_type(default_events, "activity.logged"):
        deal = event.value.get("deal_id")
        if deal is None:
            continue
        if deal in touched:
            assert event.value["follow_up"] is True
        elif created[deal] > start:  # deals open at the start were touched before it
            assert event.value["follow_up"] is False
        touched.add(deal)


def test_won_share_matches_the_dataset() -> None:
    config = SimConfig(seed=11, reps=24, days=180, underperformer_fraction=0.0, stall_fraction=0.0)
    closes = Counter(
        e.value["event_type"]
        for e in generate(config)
        if e.value["event_type"] in ("deal.won", "deal.lost")
    )
    share = closes["deal.won"] / (closes["deal.won"] + closes["deal.lost"])
    assert closes.total() > 2000
    assert share == pytest.approx(CALIBRATION.win_rate, abs=0.03)


def test_amounts_follow_product_prices(default_events: list[SimEvent]) -> None:
    prices = {p.name: p.price for p in CALIBRATION.products}
    for event in _of_type(default_events, "deal.created"):
        ratio = event.value["amount"] / prices[event.value["product"]]
        assert 0.5 < ratio < 1.7


def _stage_stats(events: list[SimEvent]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Average days per stage from completed moves, and each deal's longest silence in a stage."""
    entered: dict[str, tuple[str, float]] = {}
    last: dict[str, float] = {}
    moves: dict[str, list[float]] = defaultdict(list)
    silences: list[tuple[str, float]] = []
    for event in events:
        value, t = event.value, _t(event)
        deal = value.get("deal_id")
        if deal is None or value["event_type"] == "lead.converted":
            continue
        if deal in last and deal in entered and entered[deal][0] not in ("won", "lost"):
            silences.append((entered[deal][0], (t - last[deal]) / DAY))
        last[deal] = t
        if value["event_type"] == "deal.stage_changed":
            moves[value["from_stage"]].append((t - entered[deal][1]) / DAY)
        kind = value["event_type"]
        if kind in ("deal.created", "deal.stage_changed", "deal.won", "deal.lost"):
            entered[deal] = (value["stage"], t)
    averages = {stage: statistics.mean(days) for stage, days in moves.items()}
    return averages, silences


def test_some_deals_stall_far_beyond_their_stage_average(default_events: list[SimEvent]) -> None:
    averages, silences = _stage_stats(default_events)
    stalled = [(s, d) for s, d in silences if s in averages and d > 3 * averages[s]]
    assert len(stalled) >= 10
    created = len(_of_type(default_events, "deal.created"))
    assert len(stalled) < 0.2 * created


def test_no_stall_fraction_means_no_long_silences() -> None:
    events = list(generate(SimConfig(seed=5, days=90, reps=6, stall_fraction=0.0)))
    _, silences = _stage_stats(events)
    assert max(d for _, d in silences) < 60  # stall silences run 4-7x a 10-19 day stage


def _weekly_outbound(events: list[SimEvent]) -> dict[str, dict[int, list[int]]]:
    """Per rep and week: [conversations, outbound attempts] (contract section 2)."""
    start = _t(events[0])
    out: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for event in _of_type(events, "activity.logged"):
        v = event.value
        cell = out[v["rep_id"]][int((_t(event) - start) // (7 * DAY))]
        talk = (v["channel"], v["outcome"])
        cell[0] += talk in (("call", "connected"), ("email", "replied"), ("meeting", "held"))
        outbound = (
            v["direction"] == "outbound" and v["channel"] in schemas.OUTBOUND_ATTEMPT_CHANNELS
        )
        cell[1] += outbound
    return out


def test_most_reps_have_healthy_activity_and_contact(default_events: list[SimEvent]) -> None:
    weekly = _weekly_outbound(default_events)
    healthy = [
        rep
        for rep, weeks in weekly.items()
        if all(a >= 50 and c / a > 0.05 for c, a in (weeks[w] for w in range(1, 12)))
    ]
    assert len(healthy) >= 9


def test_underperformers_slump_in_activity_and_contact(default_events: list[SimEvent]) -> None:
    weekly = _weekly_outbound(default_events)
    idle = [
        rep
        for rep, weeks in weekly.items()
        if statistics.mean(weeks[w][1] for w in range(8, 12))
        < 0.5 * statistics.mean(weeks[w][1] for w in range(4))
    ]
    ineffective = [
        rep
        for rep, weeks in weekly.items()
        if weeks[10][1] >= 50 and weeks[10][0] / weeks[10][1] < 0.032
    ]
    assert len(idle) == 1
    assert len(ineffective) == 1


def test_idle_underperformer_leaves_leads_untouched(default_events: list[SimEvent]) -> None:
    start = _t(default_events[0])
    assigned: dict[str, tuple[str, float]] = {}
    touched: dict[str, float] = {}
    for event in default_events:
        v = event.value
        if v["event_type"] == "lead.created" and _t(event) > start + 50 * DAY:
            assigned[v["lead_id"]] = (v["rep_id"], _t(event))
        elif v["event_type"] == "activity.logged" and v.get("lead_id") in assigned:
            touched.setdefault(v["lead_id"], _t(event))
    worked: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for lead, (rep, t) in assigned.items():
        total[rep] += 1
        worked[rep] += lead in touched and touched[lead] - t <= 2 * DAY
    slow = [rep for rep in total if worked[rep] < 0.5 * total[rep]]
    assert len(slow) == 1


def test_generate_is_lazy() -> None:
    huge = SimConfig(reps=2000, days=365 * 10, deals_per_rep_week=5.0)  # ~5M deals
    events = generate(huge)
    assert isinstance(events, Iterator)
    first = list(itertools.islice(events, 5))
    assert [e.value["event_type"] for e in first] == ["rep.upserted"] * 5


def test_endless_config_keeps_going() -> None:
    endless = SimConfig(days=None, reps=2, warm_start=False)
    events = list(itertools.islice(generate(endless), 20_000))
    assert len(events) == 20_000
    assert _t(events[-1]) > endless.start.timestamp() + 60 * DAY


def test_start_with_an_offset_is_normalised_to_utc() -> None:
    local = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    first = next(generate(SimConfig(start=local, days=1, reps=1)))
    assert first.value["occurred_at"] == "2026-03-02T09:00:00Z"


@pytest.mark.parametrize(
    "bad",
    [
        {"start": datetime(2026, 1, 5)},
        {"days": 0},
        {"reps": 0},
        {"stages": ()},
        {"stages": ("a", "a")},
        {"stages": ("a", "won")},
        {"stall_fraction": 1.5},
        {"deals_per_rep_week": -1},
    ],
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**bad)  # type: ignore[arg-type]


def test_custom_stages_are_walked_in_order() -> None:
    stages = ("new", "demo", "closing")
    config = SimConfig(stages=stages, days=60, reps=3, start=datetime(2026, 5, 4, tzinfo=UTC))
    moves = {
        (e.value["from_stage"], e.value["stage"])
        for e in generate(config)
        if e.value["event_type"] == "deal.stage_changed"
    }
    assert moves == {("new", "demo"), ("demo", "closing")}


def test_activities_fall_in_business_hours_mostly(default_events: list[SimEvent]) -> None:
    offsets = {"central": -6, "east": -5, "west": -8}
    touches = _of_type(default_events, "activity.logged")
    inside = 0
    for event in touches:
        local = datetime.fromisoformat(event.value["occurred_at"]) + timedelta(
            hours=offsets[event.value["team_id"]]
        )
        inside += local.weekday() < 5 and 8 <= local.hour < 18
    assert inside / len(touches) > 0.97
