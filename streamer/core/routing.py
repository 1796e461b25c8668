"""Which side of the processor each event type belongs to, and by which key.

State is kept on two sides: the *deal side* (partitions of the deal topic,
keyed by ``deal_id``) and the *rep side* (partitions of the activity topic,
keyed by ``rep_id``). The contract lets a producer put any event type on any
input topic, so the worker routes by type, not by topic: an event that
arrives on the wrong side, or with the wrong key, is forwarded to the right
side's internal topic with the right key. An activity on a deal is counted
on the rep side and also sent to the deal side as a touch.
"""

from __future__ import annotations

import functools

from schemas import (
    ActivityLogged,
    AlertAck,
    AlertSnooze,
    AlertUnsnooze,
    InputEvent,
    LeadConverted,
    LeadCreated,
    QuotaSet,
    RepUpserted,
)

__all__ = ["COMMANDS", "DEAL", "ORG", "REP", "home_of", "murmur2", "partition_for", "sides_of"]

DEAL = "deal"
REP = "rep"
ORG = "org"
COMMANDS = "commands"


def sides_of(event: InputEvent) -> list[tuple[str, str]]:
    """``(side, key)`` pairs where the event must be processed, primary side first."""
    if isinstance(event, ActivityLogged):
        sides = [(REP, event.rep_id)]
        if event.deal_id:
            sides.append((DEAL, event.deal_id))
        return sides
    if isinstance(event, LeadCreated | LeadConverted | QuotaSet):
        return [(REP, event.rep_id)]
    if isinstance(event, RepUpserted):
        return [(ORG, event.rep_id)]
    if isinstance(event, AlertAck | AlertSnooze | AlertUnsnooze):
        # alert commands are keyed by the alert's subject, like the alerts themselves
        key = event.alert_key
        return [(COMMANDS, key.split(":", 1)[1] if key.count(":") >= 2 else key)]
    return [(DEAL, event.deal_id)]


def home_of(event: InputEvent) -> tuple[str, str]:
    """``(topic role, key)`` a producer following the contract writes the event with
    (section 1): deal and lead events on the deal topic by deal or lead id, activities
    on the activity topic, quotas and org entries by rep, commands by subject."""
    if isinstance(event, ActivityLogged):
        return "activities", event.rep_id
    if isinstance(event, LeadCreated | LeadConverted):
        return "deals", event.lead_id
    if isinstance(event, QuotaSet):
        return "quotas", event.rep_id
    if isinstance(event, RepUpserted):
        return "org", event.rep_id
    if isinstance(event, AlertAck | AlertSnooze | AlertUnsnooze):
        return "commands", sides_of(event)[0][1]
    return "deals", event.deal_id


def murmur2(data: bytes) -> int:
    """Kafka's default partitioner hash: murmur2 of the key's bytes, as the Java client's
    ``org.apache.kafka.common.utils.Utils.murmur2`` computes it (unsigned, 32 bits).

    Kept here rather than imported from the Kafka client so the domain imports no Kafka
    library; it must give the same numbers as the client's partitioner, which a test
    checks.
    """
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length & ~3
    extra = length % 4
    if extra >= 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a key (murmur2, as in Java).

    Remembered for the most recent keys: murmur2 is pure Python, and every event asks
    for its keys' partitions more than once (reps and open deals come back often).
    """
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
