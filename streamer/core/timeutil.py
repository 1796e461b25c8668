"""Time helpers. Internally every instant is a float of POSIX seconds, UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["DAY", "UTC_TZ", "from_epoch", "iso", "to_epoch"]

DAY = 86_400.0
UTC_TZ = UTC


def to_epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware datetime (naive ones are refused)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every timestamp must carry an offset")
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso(seconds: float) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, seconds precision unless fractional."""
    moment = from_epoch(seconds)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
