"""The judging indexes answer exactly what a plain scan over the rep's state answers:
the same integers, the same floats (summed in the same order), the same key order,
also for an index derived from an older one."""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ActivityLogged
from streamer.core.figures import DealIndex, deal_window
from streamer.core.state.activity import HOUR, TouchIndex, add_activity, touches_between
from streamer.core.state.rep import DealSummary
from streamer.core.timeutil import DAY, from_epoch, to_epoch

AS_OF = to_epoch(datetime(2026, 11, 16, tzinfo=UTC))


def convert(amount: float, currency: str | None) -> float:
    return amount * 1.1 if currency == "EUR" else amount


moment = st.integers(-120 * 24, 24).map(lambda h: AS_OF + h * HOUR + 0.25)
deal_spec = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(["proposal", "negotiation", "won", "lost"]),
        "amount": st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
        "currency": st.sampled_from([None, "USD", "EUR"]),
        "source": st.sampled_from([None, "web", "referral"]),
        "product": st.sampled_from([None, "basic", "pro"]),
        "created": st.one_of(st.none(), moment),
        "closed": moment,
        "exits": st.lists(
            st.tuples(st.sampled_from(["a", "b"]), moment, st.booleans()), max_size=3
        ),
        "follow_ups": st.integers(0, 5),
    }
)


def summary(i: int, spec: dict) -> DealSummary:
    closed = spec["stage"] in ("won", "lost")
    return DealSummary(
        deal_id=f"d{i}",
        rep_id="rep-1",
        team_id="t",
        pipeline="default",
        stage=spec["stage"],
        is_open=not closed,
        amount=spec["amount"],
        currency=spec["currency"],
        source_channel=spec["source"],
        product=spec["product"],
        created_at=spec["created"],
        closed_at=spec["closed"] if closed else None,
        exits=tuple(spec["exits"]),
        follow_ups=spec["follow_ups"],
        revision=1,
        opened_at=spec["closed"] - DAY,
    )


def scanned_open(deals: dict[str, DealSummary]) -> tuple:
    open_deals = [d for d in deals.values() if d.is_open]
    amounts = [convert(d.amount, d.currency) for d in open_deals if d.amount is not None]
    return len(open_deals), sum(amounts) if amounts else None, sum(d.follow_ups for d in open_deals)


windows = st.lists(st.tuples(moment, st.integers(0, 100 * 24)), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(deal_spec, max_size=20), spans=windows, bumps=st.lists(st.integers(0, 19)))
def test_deal_index_windows_are_the_scans_floats_and_all(specs, spans, bumps):
    deals = {f"d{i}": summary(i, spec) for i, spec in enumerate(specs)}
    newer = dict(deals)  # a deal's touches: only follow-up counts and revisions change
    for i in bumps:
        if f"d{i}" in newer:
            old = newer[f"d{i}"]
            newer[f"d{i}"] = replace(old, follow_ups=old.follow_ups + 1, revision=old.revision + 1)
    first = DealIndex(deals, convert)
    for mapping, index in ((deals, first), (newer, first.updated(newer, convert))):
        for start, hours in spans:
            end = start + hours * HOUR
            for _ in range(2):  # the second time from the memo
                got, want = (
                    index.window(start, end),
                    deal_window(mapping.values(), start, end, convert),
                )
                assert astuple(got) == astuple(want)
                assert list(got.exits) == list(want.exits)
                assert list(got.won_amount_by) == list(want.won_amount_by)
            assert index.open_at(end) == sum(1 for d in mapping.values() if d.open_at(end))
        n, amount, _, _, follow_ups = index.open_figures()
        assert (n, amount, follow_ups) == scanned_open(mapping)


touch = st.tuples(
    st.integers(0, 12 * 24 * 4).map(lambda q: AS_OF - 10 * DAY + q * 900.0),
    st.sampled_from(["call", "email", "meeting", "social"]),
    st.sampled_from(["inbound", "outbound"]),
    st.sampled_from(["connected", "no_answer", "replied", "opened", "held"]),
)


@settings(max_examples=150, deadline=None)
@given(
    touches=st.lists(touch, max_size=60),
    spans=st.lists(st.tuples(st.integers(-12 * 24, 3 * 24), st.integers(0, 12 * 24)), max_size=5),
    cut=st.integers(0, 60),
)
def test_touch_index_sums_are_the_scans_as_the_buckets_grow(touches, spans, cut):
    buckets: dict[float, object] = {}
    index = TouchIndex()
    for n, (at, channel, direction, outcome) in enumerate(touches):
        event = ActivityLogged(
            event_id=f"a{n}",
            occurred_at=from_epoch(at),
            source="test",
            rep_id="rep-1",
            channel=channel,
            direction=direction,
            outcome=outcome,
        )
        day = at - at % DAY
        buckets[day], _ = add_activity(buckets.get(day), event)  # type: ignore[arg-type]
        if n == cut or n == len(touches) - 1:
            days = [buckets[d] for d in sorted(buckets)]
            index = index.updated(days)  # type: ignore[arg-type]
            for start_h, length_h in spans:
                start = AS_OF + start_h * HOUR
                end = start + length_h * HOUR
                assert index.between(start, end) == touches_between(days, start, end)  # type: ignore[arg-type]
