"""Dead letters: the record an unacceptable input message becomes, and the limit on how many.

Two pure pieces the worker calls; neither talks to Kafka or reads a clock.

* :func:`dead_letter_record` turns a rejected message into the record for the
  dead-letter topic: the original key and value, byte for byte, with the
  contract's headers (``error``, ``original_topic``, ``original_partition``,
  ``original_offset``) and ``original_size`` and ``original_sha256``. When the
  whole record would be larger than the dead-letter topic and the producer
  take, it keeps as much of the value as fits and says so (``truncated:
  true``), so that no message the brokers accepted can stop the worker.
* :class:`DeadLetterPolicy` (in the spirit of arroyo's ``DlqPolicy`` and
  ``DlqLimit``) watches the share of rejected messages over a sliding window
  and tells when it passes the configured ratio, and whether to stop: a
  producer that ships a broken schema should page someone, not quietly move a
  whole topic to the dead-letter topic.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from ..settings import DeadLetterSettings

__all__ = [
    "ERROR_HEADER_MAX_BYTES",
    "MIN_MAX_BYTES",
    "RECORD_OVERHEAD_BYTES",
    "TIME_WINDOW_SLICES",
    "DeadLetter",
    "DeadLetterLimit",
    "DeadLetterPolicy",
    "Verdict",
    "dead_letter_record",
    "record_size",
]

# --- the record -----------------------------------------------------------------

RECORD_OVERHEAD_BYTES: Final = 1024
"""Bytes a record is counted above its key, value and header names and values.

Kafka's producer counts a record as the v2 record-batch header (61 bytes), the
record's own framing (attributes, timestamp and offset deltas: at most 21
bytes) and a varint length in front of the key, the value, the header count
and every header name and value (at most 5 bytes each): under 130 bytes for a
dead letter's eight headers. We keep 1 KiB, so that the bound holds with room to
spare whichever client or broker version does the counting. Compression
cannot make it worse: the producer sends a batch uncompressed when compressing
would not shrink it.
"""

ERROR_HEADER_MAX_BYTES: Final = 1024
"""The ``error`` header is cut to this many UTF-8 bytes (ending ``...``)."""

MIN_MAX_BYTES: Final = 4096
"""The smallest ``max_bytes`` :func:`dead_letter_record` takes.

The headers of a dead letter are bounded: the error at
:data:`ERROR_HEADER_MAX_BYTES`, a topic name at 249 bytes (Kafka's limit),
numbers at 20 digits, the hash at 64, header names at 102 bytes together: at
most about 1.5 KiB, plus :data:`RECORD_OVERHEAD_BYTES`. With 4 KiB they always
fit, whatever the key and value.
"""

_TOPIC_MAX_BYTES: Final = 249
_INT64: Final = 2**63
_ELLIPSIS: Final = b"..."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for the dead-letter topic, ready to hand to the producer.

    ``headers`` is a tuple of ``(name, value)`` pairs in the order written,
    which Faust's and aiokafka's ``send`` take as they are.
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> bytes | None:
        """The value of header ``name``, or None when the record has none."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def truncated(self) -> bool:
        """True when the value (or the key) is not the whole original."""
        return self.header("truncated") == b"true" or self.header("key_truncated") == b"true"


def record_size(
    key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes], ...]
) -> int:
    """The bytes a record counts against a size limit: its key, value, header names and
    values, plus :data:`RECORD_OVERHEAD_BYTES`. An upper bound on what Kafka counts."""
    size = RECORD_OVERHEAD_BYTES + len(key or b"") + len(value or b"")
    return size + sum(len(name.encode("utf-8")) + len(data) for name, data in headers)


def dead_letter_record(
    value: bytes | None,
    key: bytes | None,
    error: str,
    topic: str,
    partition: int,
    offset: int,
    max_bytes: int,
) -> DeadLetter:
    """The dead-letter record of one rejected input message.

    Headers, in this order: ``error`` (the reason, UTF-8, cut to
    :data:`ERROR_HEADER_MAX_BYTES`), ``original_topic``,
    ``original_partition``, ``original_offset`` (the contract's four), then
    ``original_size`` (bytes of the original value, decimal) and
    ``original_sha256`` (hex SHA-256 of the original value). A null value is
    kept null and hashed as empty.

    ``max_bytes`` is the largest record the dead-letter topic and the producer
    both take (the smaller of the topic's ``max.message.bytes`` and the
    producer's ``max_request_size``); the record's :func:`record_size` never
    exceeds it. When the original does not fit whole:

    * the key is kept whole and the value is cut to the bytes that fit (a
      prefix of the original), with the header ``truncated: true``;
    * if the key alone does not fit, the value is emptied (``truncated:
      true`` when it had bytes) and the key is cut too (``key_truncated:
      true``).

    The size and hash headers always describe the original value, so a cut
    record can still be matched with its source at ``original_topic`` /
    ``original_partition`` / ``original_offset``.

    Raises :class:`ValueError` when ``max_bytes`` is below
    :data:`MIN_MAX_BYTES`, the topic name is empty or longer than Kafka
    allows, or the partition or offset is negative or out of Kafka's range:
    none can happen for a message read from Kafka.
    """
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}, got {max_bytes}")
    topic_bytes = topic.encode("utf-8")
    if not 0 < len(topic_bytes) <= _TOPIC_MAX_BYTES:
        raise ValueError(f"topic must be a Kafka topic name of 1-249 bytes, got {topic!r}")
    if not 0 <= partition < 2**31:
        raise ValueError(f"partition must be a Kafka partition number, got {partition}")
    if not 0 <= offset < _INT64:
        raise ValueError(f"offset must be a Kafka offset, got {offset}")

    original = value if value is not None else b""
    headers: tuple[tuple[str, bytes], ...] = (
        ("error", _cut_text(error, ERROR_HEADER_MAX_BYTES)),
        ("original_topic", topic_bytes),
        ("original_partition", str(partition).encode("ascii")),
        ("original_offset", str(offset).encode("ascii")),
        ("original_size", str(len(original)).encode("ascii")),
        ("original_sha256", hashlib.sha256(original).hexdigest().encode("ascii")),
    )
    if record_size(key, value, headers) <= max_bytes:
        return DeadLetter(key=key, value=value, headers=headers)

    value_cut = headers + (("truncated", b"true"),)
    room = max_bytes - record_size(key, None, value_cut)
    if room >= 0:
        return DeadLetter(key=key, value=original[:room], headers=value_cut)

    # The key alone is too large (Kafka allows keys as large as values): keep the
    # headers, which say where the original is, and as much of the key as fits.
    if original:
        headers = value_cut
    headers += (("key_truncated", b"true"),)
    emptied = None if value is None else b""
    key_room = max_bytes - record_size(None, emptied, headers)
    return DeadLetter(key=(key or b"")[:key_room], value=emptied, headers=headers)


def _cut_text(text: str, limit: int) -> bytes:
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return data
    # Cut on a character boundary so the header stays valid UTF-8.
    head = data[: limit - len(_ELLIPSIS)].decode("utf-8", errors="ignore").encode("utf-8")
    return head + _ELLIPSIS


# --- the limit ------------------------------------------------------------------

TIME_WINDOW_SLICES: Final = 100
"""A time window is kept as this many slices of equal length, so memory stays
bounded at any message rate; a message counts for 99-100% of the window."""


@dataclass(frozen=True, slots=True)
class DeadLetterLimit:
    """When the share of rejected messages is too high, and what to do then.

    Exactly one of ``window_messages`` (the last N messages) and
    ``window_seconds`` (the messages of the last N seconds of the caller's
    clock) is set. The limit is *exceeded* when the window holds at least
    ``min_messages`` messages and rejected / (accepted + rejected) in it is
    above ``max_ratio``; ``max_ratio = 1`` can never be exceeded.
    """

    max_ratio: float
    min_messages: int
    window_messages: int | None = None
    window_seconds: float | None = None
    on_exceeded: Literal["warn", "stop"] = "warn"

    def __post_init__(self) -> None:
        if not 0 < self.max_ratio <= 1:
            raise ValueError(f"max_ratio must be in (0, 1], got {self.max_ratio}")
        if self.min_messages < 1:
            raise ValueError(f"min_messages must be at least 1, got {self.min_messages}")
        if (self.window_messages is None) == (self.window_seconds is None):
            raise ValueError("set exactly one of window_messages and window_seconds")
        if self.window_messages is not None and self.window_messages < self.min_messages:
            raise ValueError(
                f"window_messages ({self.window_messages}) must be at least min_messages "
                f"({self.min_messages})"
            )
        if self.window_seconds is not None and not (
            math.isfinite(self.window_seconds) and self.window_seconds > 0
        ):
            raise ValueError(f"window_seconds must be > 0, got {self.window_seconds}")
        if self.on_exceeded not in ("warn", "stop"):
            raise ValueError(f"on_exceeded must be 'warn' or 'stop', got {self.on_exceeded!r}")

    @classmethod
    def from_settings(cls, settings: DeadLetterSettings) -> DeadLetterLimit:
        """The limit the ``dead_letter`` section of the settings describes."""
        by_time = settings.window.seconds is not None
        return cls(
            max_ratio=settings.max_ratio,
            min_messages=settings.min_messages,
            window_messages=None if by_time else settings.window.messages,
            window_seconds=settings.window.seconds,
            on_exceeded=settings.on_exceeded,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The state of the window after one message.

    ``ratio`` is rejected / (accepted + rejected) in the window, None until
    the window holds ``min_messages``. ``exceeded`` says it is above the
    limit's ``max_ratio``; ``stop`` that it is and the limit says to stop.
    ``changed`` is True on the message that made ``exceeded`` differ from the
    verdict before (the first verdict compares with "not exceeded"): log and
    alert on it, once per episode rather than once per message.
    """

    accepted: int
    rejected: int
    ratio: float | None
    exceeded: bool
    stop: bool
    changed: bool


class DeadLetterPolicy:
    """The sliding window of accepted and rejected input messages behind a :class:`DeadLetterLimit`.

    Call :meth:`record` once per input message, in the order processed, with
    ``now`` from the caller's clock (wall clock or event time, seconds; only a
    time window reads it). Keep one policy per stream to be judged on its own,
    e.g. one per input topic, so a broken producer on a quiet topic is not
    hidden by a busy healthy one.

    When :meth:`record` says ``stop``, the caller should neither dead-letter
    nor commit the message that crossed the limit, and exit non-zero: a
    restart after the producer is fixed reads it again. The window starts
    empty in every process (like arroyo's), so a restart needs
    ``min_messages`` messages before it judges again.
    """

    def __init__(self, limit: DeadLetterLimit) -> None:
        self.limit = limit
        self._accepted = 0
        self._rejected = 0
        self._exceeded = False
        # count window: one flag per message, oldest first
        self._flags: deque[bool] = deque()
        # time window: [slice index, accepted, rejected], oldest first
        self._slices: deque[list[int]] = deque()
        self._slice_seconds = (limit.window_seconds or 0.0) / TIME_WINDOW_SLICES
        self._latest = -math.inf

    @classmethod
    def from_settings(cls, settings: DeadLetterSettings) -> DeadLetterPolicy:
        """A policy for the ``dead_letter`` section of the settings."""
        return cls(DeadLetterLimit.from_settings(settings))

    def record(self, accepted: bool, now: float) -> Verdict:
        """Count one message (``accepted`` False: it went to the dead-letter topic) and
        judge the window.

        ``now`` never goes backwards for a time window: an earlier one than seen
        before counts as the latest seen. Raises :class:`ValueError` for a
        ``now`` that is not a finite number when the window is by time.
        """
        if self.limit.window_messages is not None:
            self._count_window(accepted, self.limit.window_messages)
        else:
            self._time_window(accepted, now)
        total = self._accepted + self._rejected
        ratio = self._rejected / total if total >= self.limit.min_messages else None
        exceeded = ratio is not None and ratio > self.limit.max_ratio
        changed = exceeded != self._exceeded
        self._exceeded = exceeded
        return Verdict(
            accepted=self._accepted,
            rejected=self._rejected,
            ratio=ratio,
            exceeded=exceeded,
            stop=exceeded and self.limit.on_exceeded == "stop",
            changed=changed,
        )

    def _count_window(self, accepted: bool, size: int) -> None:
        self._flags.append(accepted)
        self._add(accepted, 1)
        if len(self._flags) > size:
            self._add(self._flags.popleft(), -1)

    def _time_window(self, accepted: bool, now: float) -> None:
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite number of seconds, got {now}")
        self._latest = max(self._latest, now)
        index = math.floor(self._latest / self._slice_seconds)
        while self._slices and self._slices[0][0] <= index - TIME_WINDOW_SLICES:
            _, gone_accepted, gone_rejected = self._slices.popleft()
            self._accepted -= gone_accepted
            self._rejected -= gone_rejected
        if not self._slices or self._slices[-1][0] != index:
            self._slices.append([index, 0, 0])
        self._slices[-1][1 if accepted else 2] += 1
        self._add(accepted, 1)

    def _add(self, accepted: bool, step: int) -> None:
        if accepted:
            self._accepted += step
        else:
            self._rejected += step
