"""The knowledge join: any order, any repetition, any split over processes, same result."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.gateway.changes import Change
from streamer.gateway.knowledge import Record, apply_change, merge

changes = st.builds(
    Change,
    source=st.just("hubspot"),
    kind=st.just("deal"),
    crm_id=st.just("1"),
    at_ms=st.integers(0, 50),
    fields=st.dictionaries(
        st.sampled_from(["stage", "owner", "amount"]), st.sampled_from(["a", "b", "c"]), max_size=3
    ),
    created=st.booleans(),
)


def fold(items: list[Change]) -> Record:
    record = Record()
    for item in items:
        record = apply_change(record, item)
    return record


@given(st.lists(changes, max_size=12), st.randoms())
def test_order_and_repeats_do_not_matter(items: list[Change], rnd) -> None:
    shuffled = list(items) + list(items[: len(items) // 2])
    rnd.shuffle(shuffled)
    assert fold(items) == fold(shuffled)


@given(st.lists(changes, max_size=12), st.integers(0, 12))
def test_two_processes_that_merge_know_what_one_process_knows(items, cut: int) -> None:
    left, right = fold(items[:cut]), fold(items[cut:])
    assert merge(left, right) == fold(items) == merge(right, left)


@given(st.lists(changes, max_size=8))
def test_records_survive_the_topic(items) -> None:
    record = fold(items)
    assert Record.from_json(record.to_json()) == record
