"""The processing core over a plain dict: time-driven alerts, idempotence, restarts."""

from __future__ import annotations

import random
from collections import UserDict
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.deal_engine import DealEngine, PartitionSnapshot, SharedView
from streamer.core.state.rep import RepState, apply_summary, summarize
from streamer.core.state.stage_stats import StageStats, total
from streamer.core.timeutil import DAY, to_epoch
from streamer.settings import load_settings
from tests.factories import at, created, moved, updated, won

# deal_stalled alone here, firing as soon as it is over; follow_up_gap has tests below
SETTINGS = load_settings(
    rules={"follow_up_gap": {"enabled": False}, "deal_stalled": {"for_seconds": 0}}
)
# follow_up_gap alone, firing as soon as a spell is over the quiet days
GAPS = load_settings(
    rules={"deal_stalled": {"enabled": False}, "follow_up_gap": {"for_seconds": 0}}
)


class CountingStore(UserDict):
    """A dict that counts reads, to see what a tick touches."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def engine(store=None, view=None) -> DealEngine:
    return DealEngine(SETTINGS, store if store is not None else {}, view or SharedView())


def test_a_deal_without_any_new_event_fires_as_time_passes_and_resolves_when_it_moves():
    e = engine()
    e.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    assert e.on_tick(0, to_epoch(at(20))) == []
    [firing] = e.on_tick(0, to_epoch(at(29)))
    assert (firing.status, firing.subject_id) == ("firing", "d1")
    assert e.on_tick(0, to_epoch(at(30))) == []  # a later tick says nothing new
    changed, [resolved] = e.on_deal_event(
        moved("d1", 31, "proposal", "negotiation"), 0, to_epoch(at(31))
    )
    assert changed
    assert (resolved.status, resolved.alert_id) == ("resolved", firing.alert_id)


def test_redelivered_event_changes_nothing_and_alerts_nothing():
    e = engine()
    event = created("d1", 0, "proposal", event_id="dup")
    e.on_deal_event(event, 0, to_epoch(at(0)))
    e.on_tick(0, to_epoch(at(29)))
    changed, drafts = e.on_deal_event(event, 0, to_epoch(at(29)))
    assert not changed and drafts == []


def test_restart_on_the_same_store_neither_repeats_nor_loses_the_alert():
    store: dict = {}
    first = engine(store)
    first.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    first.on_deal_event(created("d2", 0, "proposal"), 0, to_epoch(at(0)))
    assert len(first.on_tick(0, to_epoch(at(29)))) == 2
    restarted = engine(store)  # indexes rebuilt from the table
    assert restarted.on_tick(0, to_epoch(at(30))) == []
    _, [resolved] = restarted.on_deal_event(won("d1", 31), 0, to_epoch(at(31)))
    assert resolved.status == "resolved"


def test_tick_reads_only_the_deals_that_are_due():
    store = CountingStore()
    e = engine(store)
    for i in range(2000):
        e.on_deal_event(created(f"fresh-{i}", 25, "proposal"), 0, to_epoch(at(25)))
    for i in range(3):
        e.on_deal_event(created(f"old-{i}", 0, "proposal"), 0, to_epoch(at(25)))
    store.reads = 0
    drafts = e.on_tick(0, to_epoch(at(29)))
    assert sorted(d.subject_id for d in drafts) == ["old-0", "old-1", "old-2"]
    assert store.reads == 3


class ScanCountingStore(UserDict):
    """A dict that counts full scans, to see what rebuilding the indexes costs."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def values(self):
        self.scans += 1
        return super().values()


def test_partitions_given_together_are_indexed_in_one_scan_after_recovery():
    store = ScanCountingStore()
    before = engine(store)
    for partition in range(6):
        for i in range(3):
            deal = created(f"p{partition}-old-{i}", 0, "proposal")
            before.on_deal_event(deal, partition, to_epoch(at(0)))
    restarted = engine(store)
    restarted.expect(range(6))  # what a rebalance hands the worker
    store.scans = 0
    drafts = [d for p in range(6) for d in restarted.on_tick(p, to_epoch(at(29)))]
    assert len(drafts) == 18  # every partition's stalled deals, from the rebuilt indexes
    assert store.scans == 1


def test_learned_averages_combine_own_partitions_with_other_workers_snapshots():
    view = SharedView()
    mine = engine(view=view)
    for i in range(3):
        mine.on_deal_event(created(f"a{i}", 0, "proposal"), 0, to_epoch(at(0)))
        mine.on_deal_event(moved(f"a{i}", 10, "proposal", "negotiation"), 0, to_epoch(at(10)))
    other = engine(view=SharedView())
    for i in range(3):
        other.on_deal_event(created(f"b{i}", 0, "proposal"), 1, to_epoch(at(0)))
        other.on_deal_event(moved(f"b{i}", 20, "proposal", "negotiation"), 1, to_epoch(at(20)))
    view.put_snapshot(PartitionSnapshot.from_wire(other.snapshot(1).to_wire()))
    mine.invalidate_stats()  # as every tick does
    base = mine.baseline_for("default/proposal", None, to_epoch(at(30)))
    assert base.learned and base.samples == 6
    assert base.avg_days == 15.0


# --- property: incremental stage statistics == batch over the final deals ----------------


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.randoms(use_true_random=False))
def test_stage_statistics_match_a_batch_computation(n_deals, rnd: random.Random):
    events = []
    stages = ["prospecting", "qualification", "proposal", "negotiation"]
    for d in range(n_deals):
        day = rnd.randint(0, 10)
        events.append(created(f"d{d}", day, rnd.choice(stages), event_id=f"c{d}"))
        for m in range(rnd.randint(0, 4)):
            day += rnd.randint(1, 9)
            events.append(moved(f"d{d}", day, "x", rnd.choice(stages), event_id=f"m{d}-{m}"))
    delivered = events + rnd.sample(events, k=min(3, len(events)))
    rnd.shuffle(delivered)
    e = engine()
    for event in delivered:
        e.on_deal_event(event, 0, to_epoch(at(100)))
    got = {k: (round(v.total_seconds), v.count) for k, v in e.stage_stats().items()}
    # batch: per deal, sort its moves, sum completed visits per stage
    expected: dict[str, list[float]] = {}
    for d in range(n_deals):
        mine = sorted(
            (ev.occurred_at, ev.event_id, ev.stage) for ev in events if ev.deal_id == f"d{d}"
        )
        path = []
        for moment, _, stage in mine:
            if not path or path[-1][0] != stage:
                path.append((stage, to_epoch(moment)))
        for (stage, entered), (_, left) in zip(path, path[1:], strict=False):
            entry = expected.setdefault(f"default/{stage}", [0.0, 0])
            entry[0] += left - entered
            entry[1] += 1
    assert got == {k: (round(s), c) for k, (s, c) in expected.items()}
    # and a fresh engine rebuilding from the same table agrees
    rebuilt = engine(dict(e.deals))
    rebuilt.assign([0])
    assert rebuilt.stage_stats() == e.stage_stats()
    assert all(deal.partition == 0 for deal in e.deals.values())
    assert DAY == 86400.0


def touch(deal_id: str, day: float, follow_up: bool = True, event_id: str | None = None):
    from tests.factories import activity

    return activity(day, deal_id=deal_id, follow_up=follow_up, event_id=event_id)


def test_follow_up_gap_fires_after_quiet_days_and_resolves_on_the_next_touch():
    e = DealEngine(GAPS, {}, SharedView())
    e.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    e.on_touch(touch("d1", 1, follow_up=False), 0, to_epoch(at(1)))
    assert e.on_tick(0, to_epoch(at(7.9))) == []
    [firing] = e.on_tick(0, to_epoch(at(8.1)))
    assert firing.rule == "follow_up_gap" and firing.metrics["follow_ups"] == 0
    assert firing.alert_id == "follow_up_gap:d1:2026-11-02T09:00:00Z"
    changed, [resolved] = e.on_touch(touch("d1", 9), 0, to_epoch(at(9)))
    assert changed and resolved.status == "resolved" and resolved.alert_id == firing.alert_id


def test_follow_up_gap_spares_deals_with_enough_follow_ups():
    e = DealEngine(GAPS, {}, SharedView())
    e.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    for i in range(5):
        e.on_touch(touch("d1", 1 + i * 0.1, event_id=f"t{i}"), 0, to_epoch(at(2)))
    assert e.on_tick(0, to_epoch(at(30))) == []


def test_every_deal_change_is_summarised_for_old_and_new_owner():
    e = engine()
    e.on_deal_event(created("d1", 0, "proposal", rep_id="rep-a"), 0, to_epoch(at(0)))
    e.outbox.clear()
    e.on_deal_event(moved("d1", 1, "proposal", "negotiation", rep_id="rep-b"), 0, to_epoch(at(1)))
    assert [(rep, s.rep_id, s.stage) for rep, s in e.outbox] == [
        ("rep-b", "rep-b", "negotiation"),
        ("rep-a", "rep-b", "negotiation"),
    ]


def test_a_touch_that_is_no_follow_up_sends_no_summary_and_a_follow_up_does():
    e = engine()
    e.on_deal_event(created("d1", 0, "proposal", rep_id="rep-a"), 0, to_epoch(at(0)))
    e.outbox.clear()
    assert e.on_touch(touch("d1", 1, follow_up=False), 0, to_epoch(at(1)))[0]
    assert e.outbox == []
    e.on_touch(touch("d1", 2, follow_up=True), 0, to_epoch(at(2)))
    assert [(rep, s.follow_ups) for rep, s in e.outbox] == [("rep-a", 1)]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_rep_side_holds_every_deal_as_the_deal_side_summarises_it(rnd):
    e = engine()
    held: dict[str, RepState] = {}
    stages = ["prospecting", "proposal", "negotiation"]
    events = []
    for i in range(40):
        deal, day, rep = f"d{rnd.randrange(4)}", rnd.uniform(0, 30), rnd.choice(["rep-a", "rep-b"])
        kind = rnd.randrange(5)
        if kind == 0:
            events.append(created(deal, day, rnd.choice(stages), rep_id=rep, event_id=f"e{i}"))
        elif kind == 1:
            events.append(
                moved(
                    deal,
                    day,
                    "prospecting",
                    rnd.choice(stages),
                    rep_id=rep,
                    event_id=f"e{i}",
                    amount=float(rnd.randrange(3)),
                )
            )
        elif kind == 2:
            events.append(
                updated(
                    deal,
                    day,
                    "proposal",
                    rep_id=rep,
                    event_id=f"e{i}",
                    product=rnd.choice([None, "a", "b"]),
                )
            )
        elif kind == 3:
            events.append(won(deal, day, rep_id=rep, event_id=f"e{i}"))
        else:
            events.append(touch(deal, day, follow_up=rnd.random() < 0.5, event_id=f"e{i}"))
    events += rnd.sample(events, 10)  # redeliveries
    for event in events:
        if event.event_type == "activity.logged":
            e.on_touch(event, 0, to_epoch(at(31)))
        else:
            e.on_deal_event(event, 0, to_epoch(at(31)))
        for rep_id, summary in e.outbox:
            held[rep_id], _ = apply_summary(held.get(rep_id), rep_id, summary, 0)
        e.outbox.clear()
    for deal in e.deals.values():
        if deal.rep_id is None:
            continue
        expected = replace(summarize(deal), revision=0)
        assert replace(held[deal.rep_id].deals[deal.deal_id], revision=0) == expected
        for rep_id, state in held.items():
            if rep_id != deal.rep_id:
                assert deal.deal_id not in state.deals


def test_a_stall_that_ended_before_any_tick_is_still_reported_with_its_end():
    e = engine()
    e.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    # no tick while it sat in proposal for 40 days; the move reveals the stall
    changed, drafts = e.on_deal_event(
        moved("d1", 40, "proposal", "negotiation"), 0, to_epoch(at(40))
    )
    assert [(d.status, d.alert_id) for d in drafts] == [
        ("firing", "deal_stalled:d1:2026-11-01T09:00:00Z"),
        ("resolved", "deal_stalled:d1:2026-11-01T09:00:00Z"),
    ]
    assert drafts[1].resolved_at == to_epoch(at(40))


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_stage_statistics_are_those_of_the_deals_as_they_end_up(rnd):
    e = engine()
    stages = ["prospecting", "proposal", "negotiation"]
    events = []
    for i in range(30):
        deal, day = f"d{rnd.randrange(4)}", rnd.randrange(0, 40) / 2  # ties in time too
        kind = rnd.randrange(4)
        if kind == 0:
            events.append(created(deal, day, rnd.choice(stages), event_id=f"e{i}"))
        elif kind == 1:
            events.append(moved(deal, day, "prospecting", rnd.choice(stages), event_id=f"e{i}"))
        elif kind == 2:
            events.append(won(deal, day, event_id=f"e{i}", pipeline=rnd.choice(["default", "x"])))
        else:
            events.append(updated(deal, day, "proposal", event_id=f"e{i}"))
    for event in events + rnd.sample(events, 5):
        e.on_deal_event(event, 0, to_epoch(at(41)))
    fresh = StageStats()
    for deal in e.deals.values():
        fresh.add(deal)
    assert e.partials[0].snapshot() == fresh.snapshot()
    assert e.stage_stats() == total(fresh.snapshot())


def test_deal_stalled_with_for_fires_only_after_being_over_that_long_started_at_its_crossing():
    two_days = load_settings(
        rules={"follow_up_gap": {"enabled": False}, "deal_stalled": {"for_seconds": 2 * DAY}}
    )
    e = DealEngine(two_days, {}, SharedView())
    e.on_deal_event(created("d1", 0, "proposal"), 0, to_epoch(at(0)))
    assert e.on_tick(0, to_epoch(at(29.9))) == [], "over the 28 days, not for two days yet"
    [firing] = e.on_tick(0, to_epoch(at(30.1)))
    assert firing.alert_id == "deal_stalled:d1:2026-11-01T09:00:00Z"
    assert firing.started_at == to_epoch(at(28)), "when the condition began to hold"
    # a stay over the threshold for less than ``for`` is no episode, found late or not
    e.on_deal_event(created("d2", 0, "proposal"), 0, to_epoch(at(0)))
    _, drafts = e.on_deal_event(moved("d2", 29, "proposal", "won"), 0, to_epoch(at(29)))
    assert drafts == [] and e.on_tick(0, to_epoch(at(40))) == []


def test_follow_up_gap_with_for_fires_a_day_later_and_spares_spells_that_end_before():
    a_day = load_settings(
        rules={"deal_stalled": {"enabled": False}, "follow_up_gap": {"for_seconds": DAY}}
    )
    e = DealEngine(a_day, {}, SharedView())
    for deal in ("d1", "d2"):
        e.on_deal_event(created(deal, 0, "proposal"), 0, to_epoch(at(0)))
        e.on_touch(touch(deal, 1, follow_up=False, event_id=f"{deal}-t1"), 0, to_epoch(at(1)))
    e.on_touch(touch("d2", 8.5, event_id="d2-t2"), 0, to_epoch(at(8.5)))  # quiet 7.5 days
    assert e.on_tick(0, to_epoch(at(8.9))) == []
    [firing] = e.on_tick(0, to_epoch(at(9.1)))
    assert firing.subject_id == "d1" and firing.started_at == to_epoch(at(8))
    assert e.on_tick(0, to_epoch(at(16))) == [], "d2's spell ended within the day"
    [later] = e.on_tick(0, to_epoch(at(16.6)))  # d2 quiet again since day 8.5: 7 + 1 days
    assert later.subject_id == "d2" and later.started_at == to_epoch(at(15.5))
