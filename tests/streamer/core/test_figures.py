"""Figures behind the rules and KPIs: deal windows against a batch over the latest revision of
each deal, and team sums that add up across partitions."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ActivityLogged
from streamer.core.deal_engine import RepPartitionSnapshot, SharedView
from streamer.core.figures import TeamSums, deal_window, rep_figures
from streamer.core.rep_engine import RepEngine
from streamer.core.state.rep import DealSummary
from streamer.core.timeutil import DAY, from_epoch, to_epoch
from streamer.settings import load_settings

AS_OF = to_epoch(datetime(2026, 11, 16, tzinfo=UTC))
HOUR = 3600.0
STAGES = ["prospecting", "proposal", "negotiation", "won", "lost"]
REPS = ["rep-a", "rep-b", "rep-c"]


def same(amount: float, currency: str | None) -> float:
    return amount


def engine(settings=None, view: SharedView | None = None) -> RepEngine:
    return RepEngine(settings or load_settings(), {}, {}, {}, view or SharedView())


def summary(
    deal_id: str,
    revision: int,
    *,
    rep_id: str = "rep-a",
    team_id: str | None = "emea",
    stage: str = "proposal",
    amount: float | None = 1000.0,
    created_at: float | None = AS_OF - 60 * DAY,
    closed_at: float | None = None,
    exits: tuple[tuple[str, float, bool], ...] = (),
    pipeline: str = "default",
) -> DealSummary:
    closed = stage in ("won", "lost")
    return DealSummary(
        deal_id=deal_id,
        rep_id=rep_id,
        team_id=team_id,
        pipeline=pipeline,
        stage=stage,
        is_open=not closed,
        amount=amount,
        currency=None,
        source_channel=None,
        product=None,
        created_at=created_at,
        closed_at=closed_at if closed else None,
        exits=exits,
        follow_ups=0,
        revision=revision,
    )


# --- property: streaming deal windows == batch over the latest revision of each deal ------

offset_days = st.integers(-120, 5).map(lambda d: AS_OF + d * DAY)
offset_hours = st.integers(-120 * 24, 5 * 24).map(lambda h: AS_OF + h * HOUR)
moment = st.one_of(offset_days, offset_hours)
revision_spec = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(STAGES),
        "amount": st.one_of(st.none(), st.integers(0, 50_000).map(float)),
        "created_at": st.one_of(st.none(), moment),
        "closed_at": moment,
        "pipeline": st.sampled_from(["default", "partner"]),
        "exits": st.lists(
            st.tuples(st.sampled_from(STAGES[:3]), moment, st.booleans()), max_size=3
        ).map(tuple),
    }
)
deal_spec = st.tuples(st.sampled_from(REPS), st.lists(revision_spec, min_size=1, max_size=4))


def batch_window(latest: list[DealSummary], start: float, end: float) -> dict:
    """The contract's figures over a window, from the final deals, written out plainly."""
    inside = [d for d in latest if d.closed_at is not None and start <= d.closed_at < end]
    won = [d for d in inside if d.stage == "won"]
    with_amount = [d for d in won if d.amount is not None]
    exits: dict[str, list[int]] = {}
    for d in latest:
        for stage, left, forward in d.exits:
            if start <= left < end:
                entry = exits.setdefault(f"{d.pipeline}/{stage}", [0, 0])
                entry[0] += 1
                entry[1] += forward
    cycles = [d for d in won if d.created_at is not None]
    return {
        "won": len(won),
        "lost": sum(1 for d in inside if d.stage == "lost"),
        "won_amount": sum(d.amount for d in with_amount),
        "won_with_amount": len(with_amount),
        "created": sum(
            1 for d in latest if d.created_at is not None and start <= d.created_at < end
        ),
        "cycle_count": len(cycles),
        "cycle_days_sum": sum((d.closed_at - d.created_at) / DAY for d in cycles),
        "exits": exits,
    }


def got_window(w) -> dict:
    return {
        "won": w.won,
        "lost": w.lost,
        "won_amount": w.won_amount,
        "won_with_amount": w.won_with_amount,
        "created": w.created,
        "cycle_count": w.cycle_count,
        "cycle_days_sum": pytest.approx(w.cycle_days_sum),
        "exits": w.exits,
    }


@settings(max_examples=150, deadline=None)
@given(
    deals=st.lists(deal_spec, max_size=15),
    windows=st.lists(st.tuples(st.integers(-130, 5), st.integers(0, 100)), min_size=1, max_size=4),
    rnd=st.randoms(use_true_random=False),
)
def test_deal_windows_match_a_batch_over_the_latest_revisions(deals, windows, rnd):
    revisions = [
        summary(f"d{i}", r + 1, rep_id=rep_id, **spec)
        for i, (rep_id, specs) in enumerate(deals)
        for r, spec in enumerate(specs)
    ]
    delivered = revisions + [rnd.choice(revisions) for _ in range(len(revisions) // 2)]
    rnd.shuffle(delivered)
    e = engine()
    for s in delivered:
        e.on_summary(s.rep_id, s, 0)

    latest: dict[str, DealSummary] = {}
    for s in revisions:
        if s.deal_id not in latest or latest[s.deal_id].revision < s.revision:
            latest[s.deal_id] = s
    for rep_id in REPS:
        mine = [d for d in latest.values() if d.rep_id == rep_id]
        state = e.rep(rep_id)
        if state is None:
            assert not mine
            continue
        assert state.deals == {d.deal_id: d for d in mine}
        for start_d, length in windows:
            start, end = AS_OF + start_d * DAY, AS_OF + (start_d + length) * DAY
            got = deal_window(state.deals.values(), start, end, same)
            assert got_window(got) == batch_window(mine, start, end)
        figures = rep_figures(e.windows(state, AS_OF), AS_OF)
        assert got_window(figures.win90) == batch_window(mine, AS_OF - 90 * DAY, AS_OF)
        assert figures.open_deals == sum(1 for d in mine if d.stage not in ("won", "lost"))


def test_a_deal_handed_to_another_rep_leaves_the_old_owners_figures():
    e = engine()
    e.on_summary("rep-a", summary("d1", 1, rep_id="rep-a"), 0)
    e.on_summary("rep-a", summary("d1", 2, rep_id="rep-b"), 0)  # the old owner hears of it
    e.on_summary("rep-b", summary("d1", 2, rep_id="rep-b"), 0)
    assert e.rep("rep-a").deals == {}
    assert list(e.rep("rep-b").deals) == ["d1"]
    # an older revision arriving again changes nothing
    assert not e.on_summary("rep-b", summary("d1", 1, rep_id="rep-a"), 0)


def test_a_hand_over_seen_before_the_earlier_revisions_still_removes_the_deal():
    e = engine()
    e.on_summary("rep-a", summary("d1", 2, rep_id="rep-b"), 0)
    e.on_summary("rep-a", summary("d1", 1, rep_id="rep-a"), 0)
    assert "d1" not in e.rep("rep-a").deals


def test_figures_with_no_data_are_null_not_zero():
    e = engine()
    e.on_summary("rep-a", summary("d1", 1, amount=None), 0)
    state = e.rep("rep-a")
    kpis = rep_figures(e.windows(state, AS_OF), AS_OF).kpis()
    assert kpis["open_deals"] == 1
    for name in (
        "open_amount",
        "win_rate",
        "won_amount",
        "deal_size_avg",
        "contact_rate",
        "quota_attainment",
        "lead_to_opportunity_ratio",
        "email_open_rate",
    ):
        assert kpis[name] is None, name


# --- team sums: additive across partitions ----------------------------------------------

rep_spec = st.fixed_dictionaries(
    {
        "team": st.sampled_from(["emea", "apac"]),
        "deals": st.lists(
            st.tuples(
                st.sampled_from(STAGES),
                st.integers(0, 9).map(lambda k: k * 1000.0),
                st.integers(1, 100),  # days before AS_OF it closed or left a stage
                st.booleans(),
            ),
            max_size=8,
        ),
        "touches": st.lists(
            st.tuples(
                st.sampled_from(["call", "email", "meeting", "social"]),
                st.sampled_from(["connected", "no_answer", "replied", "held"]),
                st.integers(1, 200),  # hours before AS_OF
            ),
            max_size=10,
        ),
    }
)


def load_rep(e: RepEngine, partition: int, index: int, spec: dict) -> None:
    rep_id = f"rep-{index}"
    for j, (stage, amount, days, forward) in enumerate(spec["deals"]):
        left = AS_OF - days * DAY
        e.on_summary(
            rep_id,
            summary(
                f"{rep_id}-d{j}",
                1,
                rep_id=rep_id,
                team_id=spec["team"],
                stage=stage,
                amount=amount,
                created_at=left - 10 * DAY,
                closed_at=left,
                exits=(("proposal", left, forward),),
            ),
            partition,
        )
    for j, (channel, outcome, hours) in enumerate(spec["touches"]):
        e.on_activity(
            ActivityLogged(
                event_id=f"{rep_id}-a{j}",
                occurred_at=from_epoch(AS_OF - hours * HOUR),
                source="test",
                rep_id=rep_id,
                team_id=spec["team"],
                channel=channel,
                direction="outbound",
                outcome=outcome,
            ),
            partition,
        )


def wire(sums: dict[str, TeamSums]) -> dict:
    def tidy(value):
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict):
            return {k: tidy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [tidy(v) for v in value]
        return value

    return {team: tidy(s.to_wire()) for team, s in sums.items()}


@settings(max_examples=60, deadline=None)
@given(reps=st.lists(rep_spec, min_size=1, max_size=6), split=st.lists(st.booleans(), min_size=6))
def test_team_sums_of_two_partitions_add_up_to_the_sums_over_all_reps(reps, split):
    whole = engine()
    left, right = engine(), engine()
    for i, spec in enumerate(reps):
        load_rep(whole, 0, i, spec)
        if split[i]:
            load_rep(right, 1, i, spec)
        else:
            load_rep(left, 0, i, spec)
    expected = whole.local_team_sums(0, AS_OF)

    total: dict[str, TeamSums] = {}
    for part in (left.local_team_sums(0, AS_OF), right.local_team_sums(1, AS_OF)):
        # partitions exchange their sums over the wire
        snapshot = RepPartitionSnapshot.from_wire(RepPartitionSnapshot(0, AS_OF, part).to_wire())
        for team, sums in snapshot.teams.items():
            total.setdefault(team, TeamSums()).add(sums)
    assert wire(total) == wire(expected)
    assert sum(s.reps for s in expected.values()) == sum(
        1 for spec in reps if spec["deals"] or spec["touches"]
    )


def test_team_sums_read_off_the_contracts_team_figures():
    a = TeamSums(
        won=3, lost=1, exits={"default/proposal": [10, 4]}, outbound_attempts=100, conversations=5
    )
    b = TeamSums(won=1, lost=5, exits={"default/proposal": [10, 8], "default/demo": [2, 2]})
    a.add(b)
    assert a.win_rate() == 0.4
    assert a.conversion("default/proposal") == 0.6
    assert a.conversion("default/demo") == 1.0
    assert a.conversion("default/unknown") is None
    assert a.kpis()["contact_rate"] == 0.05
    assert TeamSums().win_rate() is None


# --- the team figure the rules judge against covers every partition ----------------------


def closed_deals(rep_id: str, won: int, lost: int, closed_at: float) -> list[DealSummary]:
    out = []
    for i in range(won + lost):
        is_won = i < won
        out.append(
            summary(
                f"{rep_id}-{i}",
                1,
                rep_id=rep_id,
                stage="won" if is_won else "lost",
                created_at=closed_at - 20 * DAY,
                closed_at=closed_at,
                exits=(("proposal", closed_at, is_won),),
            )
        )
    return out


def test_conversion_drop_and_win_rate_outlier_judge_against_the_whole_teams_figure():
    settings = load_settings(rep_rules_interval_seconds=86_400)
    closed_at = AS_OF - 2 * DAY + HOUR
    # partition 1, on another worker: two good reps of the team, 60 won of 100
    other = engine(settings)
    for rep_id, won, lost in (("rep-x", 30, 20), ("rep-y", 30, 20)):
        for s in closed_deals(rep_id, won, lost, closed_at):
            other.on_summary(rep_id, s, 1)
    other.on_tick(1, AS_OF)

    def run(with_snapshot: bool) -> list:
        view = SharedView()
        if with_snapshot:  # the other partition's sums at each boundary judged here
            for boundary in (AS_OF - DAY, AS_OF):
                sums = other.local_sums_at(boundary)[1]
                wire = RepPartitionSnapshot(1, boundary, sums).to_wire()
                view.put_snapshot(RepPartitionSnapshot.from_wire(wire), at_boundary=True)
        mine = engine(settings, view)
        for s in closed_deals("rep-a", 4, 16, closed_at):  # 4 won of 20
            mine.on_summary("rep-a", s, 0)
        return [d for d in mine.on_tick(0, AS_OF) if d.rule != "pipeline_load"]

    # alone on its partition, the rep is its own team: no outlier
    assert run(with_snapshot=False) == []

    drafts = {d.rule: d for d in run(with_snapshot=True)}
    assert set(drafts) == {"conversion_drop", "win_rate_outlier"}
    team_rate = round(64 / 120, 3)
    win = drafts["win_rate_outlier"]
    assert (win.status, win.severity, win.rep_id) == ("firing", "warning", "rep-a")
    assert win.metrics["win_rate"] == 0.2 and win.metrics["team_win_rate"] == team_rate
    assert win.metrics["threshold"] == round(0.5 * 64 / 120, 3) and win.metrics["closed"] == 20
    conv = drafts["conversion_drop"]
    assert conv.metrics["stage"] == "default/proposal"
    assert conv.metrics["conversion"] == 0.2 and conv.metrics["team_conversion"] == team_rate
    assert conv.metrics["exits"] == 20
    # fired at the first daily boundary after the deals closed
    assert win.started_at == AS_OF - DAY


def test_shuffled_reps_give_the_same_team_sums():
    rnd = random.Random(7)
    specs = [
        {
            "team": "emea",
            "deals": [("won", 5000.0, 3, True), ("lost", 0.0, 9, False)],
            "touches": [("call", "connected", 5)],
        },
        {"team": "emea", "deals": [("proposal", 2000.0, 1, True)], "touches": []},
        {
            "team": "apac",
            "deals": [("won", 7000.0, 40, True)],
            "touches": [("email", "replied", 30), ("social", "no_answer", 2)],
        },
    ]
    order = list(enumerate(specs))
    first = engine()
    for i, spec in order:
        load_rep(first, 0, i, spec)
    rnd.shuffle(order)
    second = engine()
    for i, spec in order:
        load_rep(second, 0, i, spec)
    sums = first.local_team_sums(0, AS_OF)
    assert wire(sums) == wire(second.local_team_sums(0, AS_OF))
    emea = sums["emea"]
    assert (emea.reps, emea.won, emea.lost, emea.open_deals) == (2, 1, 1, 1)
    assert (emea.won_amount, emea.outbound_attempts, emea.conversations) == (5000.0, 1, 1)
    assert emea.exits == {"default/proposal": [3, 2]}
    assert sums["apac"].won_amount == 7000.0 and sums["apac"].conversations == 1
