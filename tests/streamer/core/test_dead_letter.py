"""Dead letters: the record fits whatever it carries, and the limit judges the right window."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.dead_letter import (
    ERROR_HEADER_MAX_BYTES,
    MIN_MAX_BYTES,
    RECORD_OVERHEAD_BYTES,
    TIME_WINDOW_SLICES,
    DeadLetter,
    DeadLetterLimit,
    DeadLetterPolicy,
    Verdict,
    dead_letter_record,
    record_size,
)
from streamer.kafka_admin import DEAD_LETTER_MAX_BYTES, INPUT_MAX_MESSAGE_BYTES
from streamer.settings import SettingsError, load_settings

CONTRACT_HEADERS = ["error", "original_topic", "original_partition", "original_offset"]


def _kafka_estimate(record: DeadLetter) -> int:
    # What aiokafka's producer compares with max_request_size before sending.
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(
            record.key, record.value, list(record.headers)
        )
    )


def _record(
    value: bytes | None, max_bytes: int = 10_000, key: bytes | None = b"deal-9"
) -> DeadLetter:
    return dead_letter_record(
        value, key, "occurred_at: field required", "crm.deals", 3, 41_512, max_bytes
    )


# --- the record ---------------------------------------------------------------


def test_a_small_message_is_kept_byte_for_byte_with_every_header() -> None:
    value = b'{"event_type":"deal.created"}'

    record = dead_letter_record(
        value, b"deal-9", "occurred_at: field required", "crm.deals", 3, 41_512, 1_000_000
    )

    assert (record.key, record.value) == (b"deal-9", value)
    assert record.headers == (
        ("error", b"occurred_at: field required"),
        ("original_topic", b"crm.deals"),
        ("original_partition", b"3"),
        ("original_offset", b"41512"),
        ("original_size", str(len(value)).encode()),
        ("original_sha256", hashlib.sha256(value).hexdigest().encode()),
    )
    assert not record.truncated
    assert record.header("truncated") is None


def test_a_value_that_does_not_fit_is_cut_to_exactly_what_fits() -> None:
    max_bytes = 8_000
    # headers as for any value of 1,000-9,999 bytes (the size header has 4 digits)
    fits = max_bytes - record_size(b"deal-9", b"", _record(b"x" * 1_000).headers)
    assert 1_000 <= fits < 10_000

    whole = _record(b"x" * fits, max_bytes)
    cut = _record(b"y" * (fits + 1), max_bytes)

    assert whole.value == b"x" * fits and not whole.truncated
    assert record_size(whole.key, whole.value, whole.headers) == max_bytes
    assert cut.truncated and cut.header("truncated") == b"true"
    assert record_size(cut.key, cut.value, cut.headers) == max_bytes  # nothing wasted
    assert cut.value == b"y" * len(cut.value or b"")
    assert cut.key == b"deal-9"
    assert cut.header("original_size") == str(fits + 1).encode()
    assert cut.header("original_sha256") == hashlib.sha256(b"y" * (fits + 1)).hexdigest().encode()


def test_a_message_just_under_the_input_topics_limit_is_dead_lettered_whole() -> None:
    # The poison pill: ~1,000,000 bytes, accepted by the broker, could not be
    # forwarded. With the project's limits it goes to the dead-letter topic whole.
    value = b"{" + b"x" * (INPUT_MAX_MESSAGE_BYTES - 200) + b"}"

    record = dead_letter_record(
        value, b"rep-1", "message is not valid JSON", "crm.activities", 0, 7, DEAD_LETTER_MAX_BYTES
    )

    assert record.value == value and not record.truncated
    assert _kafka_estimate(record) <= DEAD_LETTER_MAX_BYTES


def test_a_key_too_large_for_the_record_is_cut_too() -> None:
    key = b"k" * 20_000

    record = dead_letter_record(b"value", key, "bad", "crm.deals", 0, 1, MIN_MAX_BYTES)

    assert record.value == b""
    assert record.header("truncated") == b"true"
    assert record.header("key_truncated") == b"true"
    assert record.key is not None and key.startswith(record.key) and record.key
    assert record_size(record.key, record.value, record.headers) <= MIN_MAX_BYTES
    assert record.header("original_sha256") == hashlib.sha256(b"value").hexdigest().encode()


def test_a_null_value_stays_null_and_is_described_as_empty() -> None:
    record = _record(None)

    assert record.value is None
    assert record.header("original_size") == b"0"
    assert record.header("original_sha256") == hashlib.sha256(b"").hexdigest().encode()
    assert not record.truncated


def test_a_null_value_with_a_huge_key_is_not_called_a_cut_value() -> None:
    record = dead_letter_record(None, b"k" * 10_000, "bad", "t", 0, 0, MIN_MAX_BYTES)

    assert record.value is None
    assert record.header("truncated") is None
    assert record.header("key_truncated") == b"true"


def test_a_long_error_is_cut_on_a_character_boundary() -> None:
    record = _record(b"{}", key=None)
    long = dead_letter_record(b"{}", None, "é" * 2_000, "crm.deals", 0, 0, 100_000)

    error = long.header("error")
    assert error is not None and len(error) <= ERROR_HEADER_MAX_BYTES
    assert error.decode("utf-8").endswith("...")
    assert error.decode("utf-8").startswith("é" * 100)
    assert record.header("error") == b"occurred_at: field required"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_bytes": MIN_MAX_BYTES - 1}, "max_bytes must be at least"),
        ({"topic": ""}, "topic must be"),
        ({"topic": "t" * 250}, "topic must be"),
        ({"partition": -1}, "partition must be"),
        ({"offset": -1}, "offset must be"),
        ({"offset": 2**63}, "offset must be"),
    ],
)
def test_arguments_no_kafka_message_can_have_are_refused(
    changes: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "value": b"{}",
        "key": None,
        "error": "bad",
        "topic": "crm.deals",
        "partition": 0,
        "offset": 0,
        "max_bytes": MIN_MAX_BYTES,
        **changes,
    }

    with pytest.raises(ValueError, match=message):
        dead_letter_record(**arguments)  # type: ignore[arg-type]


def test_the_reserved_overhead_covers_what_kafka_counts() -> None:
    # The largest headers a dead letter can carry, with every varint at its widest.
    record = dead_letter_record(
        b"v" * 70_000,
        b"k" * 70_000,
        "é" * 5_000,
        "t" * 249,
        2**31 - 1,
        2**63 - 1,
        MIN_MAX_BYTES,
    )
    counted = record_size(record.key, record.value, record.headers) - RECORD_OVERHEAD_BYTES

    assert _kafka_estimate(record) - counted < RECORD_OVERHEAD_BYTES / 4
    assert _kafka_estimate(record) <= MIN_MAX_BYTES


@settings(max_examples=300)
@given(
    value=st.none() | st.binary(max_size=40_000),
    key=st.none() | st.binary(max_size=6_000),
    error=st.text(max_size=1_500),
    topic=st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-_", min_size=1, max_size=249),
    partition=st.integers(min_value=0, max_value=2**31 - 1),
    offset=st.integers(min_value=0, max_value=2**63 - 1),
    max_bytes=st.integers(min_value=MIN_MAX_BYTES, max_value=50_000),
)
def test_any_message_becomes_a_record_that_fits_and_names_its_original(
    value: bytes | None,
    key: bytes | None,
    error: str,
    topic: str,
    partition: int,
    offset: int,
    max_bytes: int,
) -> None:
    record = dead_letter_record(value, key, error, topic, partition, offset, max_bytes)

    original = value or b""
    assert record_size(record.key, record.value, record.headers) <= max_bytes
    assert _kafka_estimate(record) <= max_bytes
    names = [name for name, _ in record.headers]
    assert names[:6] == [*CONTRACT_HEADERS, "original_size", "original_sha256"]
    assert record.header("original_topic") == topic.encode()
    assert record.header("original_partition") == str(partition).encode()
    assert record.header("original_offset") == str(offset).encode()
    assert record.header("original_size") == str(len(original)).encode()
    assert record.header("original_sha256") == hashlib.sha256(original).hexdigest().encode()
    assert (record.value is None) == (value is None)
    assert original.startswith(record.value or b"")
    assert (record.header("truncated") == b"true") == ((record.value or b"") != original)
    if record.header("key_truncated") is None:
        assert record.key == key
    else:
        assert (key or b"").startswith(record.key or b"") and record.key != key
    if not record.truncated:
        assert (record.key, record.value) == (key, value)


# --- the limit ----------------------------------------------------------------


def _count_limit(**changes: object) -> DeadLetterLimit:
    fields: dict[str, object] = {"max_ratio": 0.5, "min_messages": 4, "window_messages": 10}
    return DeadLetterLimit(**{**fields, **changes})  # type: ignore[arg-type]


def _feed(policy: DeadLetterPolicy, flags: Sequence[bool], start: float = 0.0) -> list[Verdict]:
    return [policy.record(flag, start + i) for i, flag in enumerate(flags)]


def test_nothing_is_judged_before_the_window_holds_min_messages() -> None:
    verdicts = _feed(DeadLetterPolicy(_count_limit()), [False, False, False, False])

    assert [v.ratio for v in verdicts] == [None, None, None, 1.0]
    assert [v.exceeded for v in verdicts] == [False, False, False, True]
    assert [v.changed for v in verdicts] == [False, False, False, True]
    assert (verdicts[-1].accepted, verdicts[-1].rejected) == (0, 4)


def test_the_limit_is_exceeded_above_max_ratio_not_at_it() -> None:
    policy = DeadLetterPolicy(_count_limit())

    at = _feed(policy, [True, False, True, False])[-1]
    above = policy.record(False, 4)

    assert at.ratio == 0.5 and not at.exceeded
    assert above.ratio == pytest.approx(3 / 5) and above.exceeded and above.changed


def test_old_messages_leave_a_count_window_and_the_episode_ends_once() -> None:
    policy = DeadLetterPolicy(_count_limit())

    bad = _feed(policy, [False] * 10)
    good = _feed(policy, [True] * 10, start=10)

    assert bad[-1].exceeded and bad[-1].rejected == 10
    assert [v.exceeded for v in good] == [True] * 4 + [False] * 6  # 5 of 10 is not above 0.5
    assert [v.changed for v in good] == [False] * 4 + [True] + [False] * 5
    assert (good[-1].accepted, good[-1].rejected, good[-1].ratio) == (10, 0, 0.0)


def test_stop_only_when_the_limit_says_so() -> None:
    warn = _feed(DeadLetterPolicy(_count_limit()), [False] * 5)
    stop = _feed(DeadLetterPolicy(_count_limit(on_exceeded="stop")), [False] * 5)

    assert warn[-1].exceeded and not warn[-1].stop
    assert [v.stop for v in stop] == [False, False, False, True, True]


def test_max_ratio_one_is_never_exceeded() -> None:
    verdicts = _feed(DeadLetterPolicy(_count_limit(max_ratio=1.0)), [False] * 20)

    assert verdicts[-1].ratio == 1.0 and not any(v.exceeded for v in verdicts)


def test_a_time_window_forgets_what_is_older_than_the_window() -> None:
    limit = DeadLetterLimit(max_ratio=0.5, min_messages=2, window_seconds=100.0)
    policy = DeadLetterPolicy(limit)

    _feed(policy, [False] * 10, start=0.0)  # t = 0..9
    during = policy.record(True, 50.0)
    after = policy.record(True, 108.5)  # t = 0..8 are over 100 s old, t = 9 is not

    assert (during.accepted, during.rejected, during.exceeded) == (1, 10, True)
    assert (after.accepted, after.rejected) == (2, 1)
    assert not after.exceeded and after.changed


def test_a_time_window_holds_bounded_state_at_any_rate() -> None:
    policy = DeadLetterPolicy(DeadLetterLimit(0.5, 1, window_seconds=10.0))

    for i in range(50_000):
        verdict = policy.record(i % 3 != 0, i * 0.001)

    assert len(policy._slices) <= TIME_WINDOW_SLICES
    assert verdict.accepted + verdict.rejected <= 10_001


def test_a_clock_that_goes_back_counts_as_the_latest_time() -> None:
    policy = DeadLetterPolicy(DeadLetterLimit(0.5, 1, window_seconds=100.0))

    policy.record(False, 1_000.0)
    back = policy.record(True, 10.0)  # would be long expired; taken as t = 1000
    later = policy.record(True, 1_099.5)

    assert (back.accepted, back.rejected) == (1, 1)
    assert (later.accepted, later.rejected) == (2, 1)
    with pytest.raises(ValueError, match="finite"):
        policy.record(True, math.nan)


@settings(max_examples=200)
@given(
    window=st.sampled_from([100, 200, 1_000]),
    steps=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=40)), max_size=300),
)
def test_a_time_window_holds_between_the_last_99_and_100_percent_of_it(
    window: int, steps: list[tuple[bool, int]]
) -> None:
    policy = DeadLetterPolicy(DeadLetterLimit(0.5, 1, window_seconds=float(window)))
    seen: list[tuple[int, bool]] = []
    now = 0
    slice_seconds = window // TIME_WINDOW_SLICES
    for accepted, gap in steps:
        now += gap
        seen.append((now, accepted))
        verdict = policy.record(accepted, float(now))

        def count(since: int, flag: bool, now: int = now) -> int:
            return sum(1 for t, a in seen if since < t <= now and a == flag)

        for flag, counted in ((True, verdict.accepted), (False, verdict.rejected)):
            assert count(now - window + slice_seconds, flag) <= counted <= count(now - window, flag)


@given(st.lists(st.booleans(), max_size=200), st.integers(min_value=1, max_value=30))
def test_a_count_window_is_exactly_the_last_n_messages(flags: list[bool], size: int) -> None:
    limit = DeadLetterLimit(max_ratio=0.25, min_messages=1, window_messages=size)
    policy = DeadLetterPolicy(limit)
    previous = False
    for i, flag in enumerate(flags):
        verdict = policy.record(flag, 0.0)

        last = flags[max(0, i + 1 - size) : i + 1]
        assert (verdict.accepted, verdict.rejected) == (sum(last), len(last) - sum(last))
        assert verdict.exceeded == ((len(last) - sum(last)) / len(last) > 0.25)
        assert verdict.changed == (verdict.exceeded != previous)
        previous = verdict.exceeded


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_ratio": 0.0}, "max_ratio"),
        ({"max_ratio": 1.5}, "max_ratio"),
        ({"min_messages": 0}, "min_messages"),
        ({"window_messages": None}, "exactly one"),
        ({"window_seconds": 60.0}, "exactly one"),
        ({"window_messages": 3}, "at least min_messages"),
        ({"window_messages": None, "window_seconds": -1.0}, "window_seconds"),
        ({"on_exceeded": "panic"}, "on_exceeded"),
    ],
)
def test_a_limit_that_cannot_work_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _count_limit(**fields)


# --- settings -----------------------------------------------------------------


def test_the_default_settings_warn_over_the_last_1000_messages() -> None:
    limit = DeadLetterLimit.from_settings(load_settings().dead_letter)

    assert limit == DeadLetterLimit(
        max_ratio=0.5, min_messages=100, window_messages=1000, on_exceeded="warn"
    )


def test_a_time_window_and_stop_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESPULSE_DEAD_LETTER__WINDOW__SECONDS", "300")
    monkeypatch.setenv("SALESPULSE_DEAD_LETTER__ON_EXCEEDED", "stop")
    monkeypatch.setenv("SALESPULSE_DEAD_LETTER__MAX_RATIO", "0.2")

    policy = DeadLetterPolicy.from_settings(load_settings().dead_letter)

    assert policy.limit == DeadLetterLimit(
        max_ratio=0.2, min_messages=100, window_seconds=300.0, on_exceeded="stop"
    )


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"max_ratio": 0}, "dead_letter.max_ratio"),
        ({"max_ratio": 1.01}, "dead_letter.max_ratio"),
        ({"min_messages": 0}, "dead_letter.min_messages"),
        ({"on_exceeded": "ignore"}, "dead_letter.on_exceeded"),
        ({"window": {"messages": 0}}, "dead_letter.window.messages"),
        ({"window": {"seconds": 0}}, "dead_letter.window.seconds"),
        ({"window": {"messages": 50, "seconds": 60}}, "dead_letter.window"),
        ({"window": {"messages": 50}, "min_messages": 51}, "dead_letter"),
    ],
)
def test_bad_dead_letter_settings_name_the_setting(section: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(dead_letter=section)

    assert f"setting {named} " in str(error.value)
