"""Where each event type lives: its home topic (by settings field) and key.

The contract lets a producer put any event type on any input topic; state is
partitioned by the key of the event's home topic. An event that arrives
elsewhere is forwarded, byte for byte, to its home topic with the right key.
"""

from __future__ import annotations

from schemas import InputEvent

__all__ = ["home_of"]

_HOME = {
    "activity.logged": ("activities", "rep_id"),
    "deal.created": ("deals", "deal_id"),
    "deal.stage_changed": ("deals", "deal_id"),
    "deal.updated": ("deals", "deal_id"),
    "deal.won": ("deals", "deal_id"),
    "deal.lost": ("deals", "deal_id"),
    "lead.created": ("deals", "lead_id"),
    "lead.converted": ("deals", "lead_id"),
    "quota.set": ("quotas", "rep_id"),
    "rep.upserted": ("org", "rep_id"),
    "alert.ack": ("commands", "alert_key"),
    "alert.snooze": ("commands", "alert_key"),
    "alert.unsnooze": ("commands", "alert_key"),
}


def home_of(event: InputEvent) -> tuple[str, str]:
    """The settings field naming the event's home topic, and the key it is partitioned by."""
    role, key_field = _HOME[event.event_type]
    return role, str(getattr(event, key_field))
