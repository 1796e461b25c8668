"""A corpus of bad messages among good events, through a real worker and the real Kafka.

Good events of a seeded simulation (some carrying extra fields, nested deep, which the
contract says to accept and ignore) go to a JSON-lines file, which replay reads as the
oracle, and to the input topics, interleaved at seeded places with bad messages of
every kind a producer, a buggy connector or an attacker could write:

* a hand-written corpus: every field of every event type with wrong types and lenient
  forms (numbers and booleans in strings, whitespace around ids and enums, empty and
  blank ids, Unix times, naive timestamps...), NaN and infinities, huge numbers
  (``1e400``, ``10**400``), negative amounts, invalid UTF-8, deep nesting, values and
  keys null or empty, messages up to the broker's limit (about 1,000,000 bytes), and
  valid events dated outside the years taken or too far ahead of their partition;
* a hypothesis-driven corpus (derandomized, so every run sends the same messages):
  a good event with one field replaced by any JSON value, or one field dropped, or its
  bytes edited; of these only what the contract rejects is kept.

Then: every bad message is on the dead-letter topic, byte for byte, with its
headers; no good one is; the worker is alive, ready and live (``/ready``, ``/live``);
and the good events' alerts are replay's. The corpus size and the dead letters per kind are printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import EVENT_MODELS, EventRejected, parse_event
from streamer.kafka_admin import INPUT_MAX_MESSAGE_BYTES, ensure_topics
from streamer.settings import Settings

from . import oracle

pytestmark = pytest.mark.kafka

SEED = 11
REPS = 6
GOOD_EVENTS = 3_000
HYPOTHESIS_EXAMPLES = 700
#: The largest key + value a one-record batch can carry on an input topic (v2 batch
#: header 61 bytes, record framing and varints up to 28 bytes), as in the size test.
LARGEST_INPUT = INPUT_MAX_MESSAGE_BYTES - 61 - 28


@dataclass(frozen=True, slots=True)
class Bad:
    """One bad message: its kind (for the figures), input topic role, key and value, and
    a word its dead letter's ``error`` header must hold (None: any reason)."""

    kind: str
    role: str
    key: bytes | None
    value: bytes | None
    reason_word: str | None = None


# --- the good events ----------------------------------------------------------------


def _with_extras(value: bytes, n: int) -> bytes:
    """The same event with fields the contract does not know: ignored, never rejected."""
    event = json.loads(value)
    nested: Any = {"leaf": [1, "two", None, 3.5]}
    for _ in range(60):  # 120 levels: within what the JSON parser takes (200)
        nested = {"a": [nested]}
    event[f"x_extra_{n}"] = {"nested": nested, "big": 1e300, "text": " padded \u0000 "}
    event["crm_custom_field"] = list(range(50))
    return json.dumps(event, separators=(",", ":")).encode()


def good_events(path: Path) -> list[oracle.SimLine]:
    """The simulation, every 20th event with extra fields, written to ``path``."""
    lines = oracle.simulate_file(path, events=GOOD_EVENTS, seed=SEED, reps=REPS)
    lines = [
        oracle.SimLine(line.role, line.key, _with_extras(line.value, i), line.occurred_at)
        if i % 20 == 0
        else line
        for i, line in enumerate(lines)
    ]
    with path.open("wb") as out:
        for line in lines:
            out.write(line.value + b"\n")
    return lines


# --- the hand-written corpus -----------------------------------------------------------

ID_FIELDS = frozenset(
    {"event_id", "rep_id", "deal_id", "lead_id", "team_id", "manager_id", "pipeline"}
    | {"stage", "from_stage", "name"}
)
NUMBER_FIELDS = frozenset({"amount", "duration_s", "target"})
DATE_FIELDS = frozenset({"expected_close", "period_start", "period_end"})
ENUM_FIELDS = frozenset({"channel", "direction", "outcome", "metric"})
TEXT_FIELDS = frozenset({"source", "source_channel", "product", "reason", "email"})
TEXT_FIELDS |= {"slack_user_id", "timezone"}

#: Per kind of field: values of a wrong JSON type, and lenient spellings of a right one.
WRONG_TYPES: dict[str, list[Any]] = {
    "id": [12345, 1.5, True, [], {"id": "x"}],
    "text": [12345, False, ["x"], {"a": 1}],
    "number": ["12.5", True, [], {"value": 1}],
    "bool": ["true", 1, [], {"x": True}],
    "timestamp": [1767225600, 1767225600.5, True, [], {"t": "2026-01-05T10:00:00Z"}],
    "date": [20260105, True, ["2026-01-05"]],
    "enum": [1, True, ["call"]],
    "currency": [840, True, ["USD"]],
}
LENIENT: dict[str, list[Any]] = {
    "id": [" rep-1", "rep-1 ", "\trep-1", "", "   ", "rep\u00001", "rep\n1", "x" * 201],
    "text": ["x" * 1001],
    "number": ["12.5", " 12", "1,000", "0x10", "-1", -1, -0.01, 1e16],
    "bool": ["true", "false", "True", "1", "yes", 0],
    "timestamp": [
        "1767225600",
        "1767225600000",
        "2026-01-05 10:00:00Z",
        "2026-01-05T10:00:00",
        "2026-01-05",
        "2026-01-05T10:00Z",
        "2026-01-05T10:00:00+0100",
        " 2026-01-05T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-01-05T10:00:60Z",
        "yesterday",
    ],
    "date": ["2026-01-05T00:00:00Z", "05/01/2026", "2026-1-5", " 2026-01-05", "2026-02-30"],
    "enum": [" call", "CALL", "Call", "", "outbound "],
    "currency": ["usd", " USD", "US", "USDX", "€"],
}
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "1e308"]


def _field_kind(name: str) -> str:
    if name in ID_FIELDS:
        return "id"
    if name in NUMBER_FIELDS:
        return "number"
    if name in DATE_FIELDS:
        return "date"
    if name in ENUM_FIELDS:
        return "enum"
    if name in TEXT_FIELDS:
        return "text"
    if name == "follow_up":
        return "bool"
    if name in ("occurred_at", "until"):
        return "timestamp"
    if name == "currency":
        return "currency"
    raise AssertionError(f"a field the corpus does not know: {name}")


def _templates(good: list[oracle.SimLine]) -> dict[str, oracle.SimLine]:
    """The first good event of each event type (without extras)."""
    found: dict[str, oracle.SimLine] = {}
    for i, line in enumerate(good):
        event_type = json.loads(line.value)["event_type"]
        if i % 20 and event_type not in found:
            found[event_type] = line
    return found


def _dump(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _swap(value: bytes, name: str, literal: str) -> bytes:
    """``value`` with field ``name`` written as ``literal`` (JSON json.dumps cannot write)."""
    event = json.loads(value)
    event[name] = "@@@"
    return _dump(event).replace(b'"@@@"', literal.encode())


def hand_corpus(good: list[oracle.SimLine], newest: datetime) -> list[Bad]:
    templates = _templates(good)
    assert set(templates) >= {"activity.logged", "deal.created", "quota.set", "rep.upserted"}
    bad: list[Bad] = []
    for event_type, line in templates.items():
        event = json.loads(line.value)
        model = EVENT_MODELS[event_type]
        for name, info in model.model_fields.items():
            if name in ("event_type", "schema_version"):
                continue
            kind = _field_kind(name)
            for value in WRONG_TYPES[kind]:
                bad.append(Bad("wrong type", line.role, line.key, _dump({**event, name: value})))
            for value in LENIENT[kind]:
                bad.append(Bad("lenient form", line.role, line.key, _dump({**event, name: value})))
            if info.is_required():
                bad.append(
                    Bad("null or missing field", line.role, line.key, _dump({**event, name: None}))
                )
                missing = {k: v for k, v in event.items() if k != name}
                bad.append(Bad("null or missing field", line.role, line.key, _dump(missing)))
            if kind == "number":
                for literal in RAW_NUMBERS:
                    bad.append(
                        Bad(
                            "NaN, infinite or huge number",
                            line.role,
                            line.key,
                            _swap(line.value, name, literal),
                            name,
                        )
                    )
        for literal in ('"1"', "1.0", "true", "0", "2", "1" + "0" * 400):
            bad.append(
                Bad(
                    "lenient form",
                    line.role,
                    line.key,
                    _swap(line.value, "schema_version", literal),
                    "schema_version",
                )
            )
        for wrong in ("deal.closed", " " + event_type, event_type.upper(), "", None, 7):
            bad.append(
                Bad(
                    "unknown event_type",
                    line.role,
                    line.key,
                    _dump({**event, "event_type": wrong}),
                    "event_type",
                )
            )
        # valid events, dated where no event can be: outside the years taken
        for moment in (
            "9999-12-31T23:59:59Z",
            "2100-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
        ):
            bad.append(
                Bad(
                    "occurred_at outside the years taken",
                    line.role,
                    line.key,
                    _dump({**event, "occurred_at": moment}),
                    "outside the years",
                )
            )
        text = line.value
        bad += [
            Bad(
                "not UTF-8",
                line.role,
                line.key,
                text.replace(b'"source":"', b'"source":"\xff', 1),
                "UTF-8",
            ),
            Bad(
                "not UTF-8",
                line.role,
                line.key,
                text.replace(b'"source":"', b'"source":"\xc3\x28', 1),
                "UTF-8",
            ),
            Bad(
                "not UTF-8",
                line.role,
                line.key,
                text.replace(b'"source":"', b'"source":"\xed\xa0\x80', 1),
                "UTF-8",
            ),
            Bad(
                "not UTF-8",
                line.role,
                line.key,
                text.replace(b'"source":"', b'"source":"\xc0\xaf', 1),
                "UTF-8",
            ),
            Bad("not UTF-8", line.role, line.key, text[:-2] + b"\xe2\x82", "UTF-8"),
            Bad("not UTF-8", line.role, line.key, text.decode().encode("utf-16"), None),
            Bad("not JSON", line.role, line.key, text[: len(text) // 2], "JSON"),
            Bad("not JSON", line.role, line.key, b"\xef\xbb\xbf" + text, "JSON"),
            Bad("not JSON", line.role, line.key, text + b"}", "JSON"),
            Bad("not JSON", line.role, line.key, text.replace(b'"', b"'"), "JSON"),
            Bad("not JSON", line.role, line.key, text.replace(b'"source"', b"source", 1), "JSON"),
            Bad("not JSON", line.role, line.key, text + b"\n" + text, "JSON"),
            Bad(
                "deep nesting",
                line.role,
                line.key,
                text[:-1] + b',"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                "JSON",
            ),
            Bad(
                "deep nesting",
                line.role,
                line.key,
                text[:-1] + b',"x":' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}",
                "JSON",
            ),
        ]
    bad += [
        Bad("not an object", "deals", b"d", raw, "object")
        for raw in (b"[]", b"[1,2,3]", b'"deal.created"', b"42", b"true", b"null", b"[{}]")
    ]
    bad += [
        Bad("deep nesting", "activities", b"a", b"[" * 100_000, "JSON"),
        Bad("deep nesting", "deals", None, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "JSON"),
    ]
    # (a null key with a null value too, but aiokafka's producer refuses to send that; and
    # the compacted topics, quotas and org, refuse a null key)
    bad += [
        Bad("null or empty key and value", role, key, value, "JSON")
        for role in ("deals", "activities", "quotas", "org")
        for key, value in ((b"k", None), (b"", b""), (None, b""), (b"", None))
        if key is not None or role in ("deals", "activities")
    ]
    bad += [
        Bad("null or empty key and value", role, key, value, None)
        for role in ("deals", "activities")
        for key, value in ((None, b"{}"), (b"", b"{}"), (None, b"   "), (b"", b"\x00"))
    ]
    bad += oversized(templates, good)
    bad += jumps(good, newest)
    return bad


def oversized(templates: dict[str, oracle.SimLine], good: list[oracle.SimLine]) -> list[Bad]:
    """Messages up to what an input topic takes (about 1,000,000 bytes)."""
    deal, activity = templates["deal.created"], templates["activity.logged"]
    key = deal.key
    room = LARGEST_INPUT - len(key)
    event = json.loads(deal.value)
    big: list[Bad] = [
        Bad("oversized", "deals", key, b"{" + b"x" * (room - 2) + b"}", "JSON"),
        Bad("oversized", "deals", key, b"\xff" * room, "UTF-8"),
        Bad("oversized", "deals", key, b"[" * room, "JSON"),
    ]
    for name in ("deal_id", "source", "product"):
        filler = "x" * (room - len(_dump({**event, name: ""})))
        value = _dump({**event, name: filler})
        assert len(value) == room
        big.append(Bad("oversized", "deals", key, value, name))
    activity_event = json.loads(activity.value)
    padding = "p" * (room - len(_dump({**activity_event, "x": "", "duration_s": -1})))
    big.append(
        Bad(
            "oversized",
            "activities",
            activity.key,
            _dump({**activity_event, "x": padding, "duration_s": -1}),
            "duration_s",
        )
    )
    return big


def jumps(good: list[oracle.SimLine], newest: datetime) -> list[Bad]:
    """Valid events dated more than 400 days after every good one, on partitions that
    have a watermark by then (they are put after a good event of the same key). Any two
    are over 400 days apart, so none confirms another as a real jump."""
    found = []
    rng = random.Random(SEED)
    candidates = [line for line in good[len(good) // 10 :] if line.role != "org"]
    for i, line in enumerate(rng.sample(candidates, 20)):
        moment = newest + timedelta(days=420 + 401 * i)
        assert moment.year < 2099
        event = {**json.loads(line.value), "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
        found.append(
            Bad(
                "occurred_at too far ahead of its partition",
                line.role,
                line.key,
                _dump(event),
                "max_event_time_jump_seconds",
            )
        )
    return found


# --- the hypothesis-driven corpus ------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats()
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _rejected(value: bytes) -> bool:
    try:
        parse_event(value)
    except EventRejected:
        return True
    return False


def hypothesis_corpus(good: list[oracle.SimLine]) -> list[Bad]:
    """Mutants of good events that the contract rejects, drawn by hypothesis with a fixed
    derandomized search, so every run produces the same ones."""
    plain = [line for i, line in enumerate(good) if i % 20]
    found: list[Bad] = []

    def keep(kind: str, line: oracle.SimLine, value: bytes) -> None:
        if _rejected(value):
            found.append(Bad(kind, line.role, line.key, value))

    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        index=st.integers(0, len(plain) - 1),
        how=st.sampled_from(["field value", "field dropped", "bytes edited"]),
        data=st.data(),
    )
    def draw(index: int, how: str, data: st.DataObject) -> None:
        line = plain[index]
        event = json.loads(line.value)
        if how == "bytes edited":
            raw = bytearray(line.value)
            for _ in range(data.draw(st.integers(1, 4))):
                at = data.draw(st.integers(0, len(raw) - 1))
                action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
                if action == "delete":
                    del raw[at]
                else:
                    chunk = data.draw(st.binary(min_size=1, max_size=4))
                    raw[at : at + (len(chunk) if action == "replace" else 0)] = chunk
            keep("hypothesis: bytes edited", line, bytes(raw))
            return
        name = data.draw(st.sampled_from(sorted(event)))
        if how == "field dropped":
            keep(
                "hypothesis: field dropped",
                line,
                _dump({k: v for k, v in event.items() if k != name}),
            )
            return
        value = data.draw(json_values)
        try:
            raw_value = json.dumps({**event, name: value}, separators=(",", ":")).encode()
        except ValueError:  # an integer past Python's str() limit: not a message
            return
        keep("hypothesis: field value", line, raw_value)

    draw()
    return found


# --- sending and reading back ---------------------------------------------------------


def interleave(good: list[oracle.SimLine], bad: list[Bad]) -> list[oracle.SimLine | Bad]:
    """Bad messages at seeded places among the good ones; a too-far-ahead event right
    after a good event of its key (so its partition has a watermark to be judged by)."""
    rng = random.Random(SEED)
    after: dict[int, list[Bad]] = {}
    for message in bad:
        if message.kind == "occurred_at too far ahead of its partition":
            index = next(
                i
                for i in range(len(good) // 10, len(good))
                if (good[i].role, good[i].key) == (message.role, message.key)
            )
        else:
            index = rng.randrange(-1, len(good))
        after.setdefault(index, []).append(message)
    stream: list[oracle.SimLine | Bad] = list(after.get(-1, []))
    for i, line in enumerate(good):
        stream.append(line)
        stream += after.get(i, [])
    return stream


async def send(settings: Settings, stream: list[oracle.SimLine | Bad]) -> list[tuple[Bad, Any]]:
    """Everything to its input topic in order; the bad messages with where they landed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        max_request_size=INPUT_MAX_MESSAGE_BYTES,
    )
    await producer.start()
    placed: list[tuple[Bad, Any]] = []
    try:
        pending = []
        for message in stream:
            topic = getattr(settings.topics, message.role)
            future = await producer.send(topic, key=message.key, value=message.value)
            pending.append((message, future))
        for message, future in pending:
            metadata = await future
            if isinstance(message, Bad):
                placed.append((message, metadata))
    finally:
        await producer.stop()
    return placed


def get(settings: Settings, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def rejected_total(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("salespulse_events_rejected_total{")
    )


# --- the test -------------------------------------------------------------------------


async def test_every_bad_message_is_dead_lettered_and_the_good_events_alert_as_in_replay(
    make_worker, tmp_path: Path
) -> None:
    path = tmp_path / "good.jsonl"
    good = good_events(path)
    newest = max(datetime.fromisoformat(line.occurred_at) for line in good).astimezone(UTC)
    hand = hand_corpus(good, newest)
    for message in hand:  # the corpus is bad by the contract, not by its own say-so
        if message.kind not in (
            "occurred_at outside the years taken",
            "occurred_at too far ahead of its partition",
        ):
            assert _rejected(message.value or b""), (message.kind, (message.value or b"")[:200])
    corpus = hand + hypothesis_corpus(good)
    settings = oracle.oracle_settings(tmp_path)
    expected = oracle.replay_file(settings, path)

    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    started = time.monotonic()
    placed = await send(settings, interleave(good, corpus))
    drained = await oracle.wait_drained(settings, [worker], timeout=150)
    seconds = time.monotonic() - started

    dead = await oracle.read_topic(settings, settings.topics.dlq)
    by_origin: dict[tuple[str, int, int], Any] = {}
    for record in dead:
        headers = dict(record.headers)
        origin = (
            headers["original_topic"].decode(),
            int(headers["original_partition"]),
            int(headers["original_offset"]),
        )
        by_origin[origin] = record
    sent_kinds: Counter[str] = Counter(message.kind for message in corpus)
    reached: Counter[str] = Counter()
    problems: list[str] = []
    for message, meta in placed:
        record = by_origin.pop((meta.topic, meta.partition, meta.offset), None)
        if record is None:
            problems.append(f"not dead-lettered: {message.kind} {(message.value or b'')[:120]!r}")
            continue
        headers = {k: v.decode() for k, v in record.headers}
        original = message.value or b""
        if (record.key, record.value) != (message.key, message.value):
            problems.append(f"not byte for byte: {message.kind}")
        elif (
            headers.get("original_size") != str(len(original))
            or headers.get("original_sha256") != hashlib.sha256(original).hexdigest()
        ):
            problems.append(f"size or hash header wrong: {message.kind} {headers}")
        elif "truncated" in headers or not headers.get("error"):
            problems.append(f"cut or without a reason: {message.kind} {headers}")
        elif message.reason_word and message.reason_word not in headers["error"]:
            problems.append(f"{message.kind}: {message.reason_word!r} not in {headers['error']!r}")
        else:
            reached[message.kind] += 1

    width = max(map(len, sent_kinds))
    print(f"\n{len(good):,} good events and {len(corpus):,} bad messages, {drained}")
    print(f"{'kind':<{width}}  {'sent':>6}  {'dead-lettered':>13}")
    for kind, n in sorted(sent_kinds.items()):
        print(f"{kind:<{width}}  {n:>6,}  {reached[kind]:>13,}")
    print(f"{'all':<{width}}  {len(corpus):>6,}  {sum(reached.values()):>13,}")
    largest = max(len(m.value or b"") for m in corpus)
    print(f"largest message {largest:,} bytes; {seconds:.1f}s from the first message to drained")

    assert not problems, "\n".join(problems[:20])
    assert not by_origin, f"good events dead-lettered: {list(by_origin.values())[:5]}"
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    for page in ("/ready", "/live"):
        status, body = await asyncio.to_thread(get, settings, page)
        assert status == 200, (page, body)
    metrics = await asyncio.to_thread(worker.metrics)
    assert rejected_total(metrics) == len(corpus)
    written = await oracle.read_written(settings)
    oracle.assert_same_alerts(expected, written, "good events among bad messages")
