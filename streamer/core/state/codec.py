"""What the table codecs of the state share: values as compact JSON.

A value is written as JSON without spaces and with text as it is (no ``\\u`` escapes),
and read from bytes, from text or as a mapping a caller has parsed already (tables
written before the codecs held parsed JSON objects).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["compact_json", "parsed"]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def compact_json(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8."""
    return _encode(value).encode()


def parsed(raw: bytes | str | Mapping[str, Any]) -> Any:
    """``raw`` as JSON read, or ``raw`` itself when it is parsed already."""
    return raw if isinstance(raw, Mapping) else json.loads(raw)
