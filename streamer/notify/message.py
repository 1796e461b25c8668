"""The notification as it travels from the lifecycle to the senders, and a send's outcome."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Item", "Notification", "Outcome", "digest_items"]


@dataclass(frozen=True, slots=True)
class Item:
    """One alert state change to tell: ``firing``, ``reminder`` or ``resolved``."""

    kind: str
    alert: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one target. ``id`` is deterministic: the delivery log's key.

    Alert notifications hold one item and have ids ``<alert_id>:<kind>:<seq>:<receiver>``;
    a digest holds many and has the id ``digest:<receiver>:<address>:<window>``, and
    ``closed``: per rule, how many episodes opened and closed since the last digest
    and were left out of it (:func:`digest_items`).
    """

    id: str
    receiver: str
    address: str
    kind: str  # firing | reminder | resolved | digest
    items: tuple[Item, ...]
    created_at: float
    not_before: float | None = None
    digest: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    closed: Mapping[str, int] = field(default_factory=dict)

    @property
    def target_key(self) -> str:
        return f"{self.receiver}|{self.address}"

    @property
    def severity(self) -> str:
        order = {"info": 0, "warning": 1, "critical": 2}
        return max(
            (str(i.alert.get("severity", "info")) for i in self.items),
            key=lambda s: order.get(s, 0),
        )

    def to_json_bytes(self) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "receiver": self.receiver,
            "address": self.address,
            "kind": self.kind,
            "items": [{"kind": i.kind, "alert": dict(i.alert)} for i in self.items],
            "created_at": self.created_at,
            "not_before": self.not_before,
            "digest": self.digest,
        }
        if self.closed:
            data["closed"] = dict(self.closed)
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Notification:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            receiver=data["receiver"],
            address=data.get("address", ""),
            kind=data["kind"],
            items=tuple(Item(i["kind"], i["alert"]) for i in data["items"]),
            created_at=float(data["created_at"]),
            not_before=data.get("not_before"),
            digest=bool(data.get("digest", False)),
            closed={str(k): int(v) for k, v in (data.get("closed") or {}).items()},
        )


def digest_items(
    items: Iterable[Item], omit_closed: bool, carried: Mapping[str, int] | None = None
) -> tuple[tuple[Item, ...], dict[str, int]]:
    """What a digest tells when it is put together: its items, and per rule how many
    episodes it leaves out because they opened and closed since the last digest.

    With ``omit_closed``, an episode (``alert_id``) whose ``firing`` and ``resolved``
    items are both among ``items`` is over before anyone could hear of it: every item
    of it is left out and counted under its rule. An episode told before (only its
    resolution here) stays, so whoever heard it fire hears it end. ``carried`` are the
    counts of a digest that was left with nothing to tell and so was not sent; they are
    added in. The items keep their order.
    """
    items = tuple(items)
    counts: Counter[str] = Counter(carried or {})
    if not omit_closed:
        return items, dict(counts)
    kinds: dict[str, set[str]] = {}
    for item in items:
        kinds.setdefault(str(item.alert.get("alert_id")), set()).add(item.kind)
    closed = {a for a, k in kinds.items() if "firing" in k and "resolved" in k}
    kept = tuple(i for i in items if str(i.alert.get("alert_id")) not in closed)
    for item in items:
        if item.kind == "resolved" and str(item.alert.get("alert_id")) in closed:
            counts[str(item.alert.get("rule"))] += 1
    return kept, {rule: counts[rule] for rule in sorted(counts)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a send achieved. ``retry``: try again (after ``retry_after`` if given);
    neither ok nor retry: the destination is broken, do not try again."""

    ok: bool
    retry: bool = False
    retry_after: float | None = None
    reason: str = ""
    rate_limited: bool = False

    @classmethod
    def delivered(cls) -> Outcome:
        return cls(True)

    @classmethod
    def again(cls, reason: str, after: float | None = None, rate_limited: bool = False) -> Outcome:
        return cls(False, True, after, reason, rate_limited)

    @classmethod
    def broken(cls, reason: str) -> Outcome:
        return cls(False, False, None, reason)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (Slack sends seconds; HTTP dates are not used by it)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
