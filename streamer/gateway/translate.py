"""From a change and what the gateway knows to contract events: the one mapping path that
HubSpot, Pipedrive and Salesforce share.

:func:`translate` is pure. It returns :class:`Outcome`: the events to produce (with
topic role and key), or the reason the change cannot be mapped (dead-lettered),
or that it is *pending* (a creation whose owner or stage is still on its way in
another notification: nothing is produced and nothing is dead-lettered; the
events follow when the record is complete).

Event ids are derived from the source, the CRM id, what changed and the CRM's
timestamp, so a redelivered notification yields the same ids and the worker
treats it as a duplicate:

* ``<source>:deal:<crm id>:created``
* ``<source>:deal:<crm id>:stage:<crm stage>:<at ms>`` (stage moves, won, lost by stage)
* ``<source>:deal:<crm id>:status:<won|lost|open>:<at ms>`` (Pipedrive's status)
* ``<source>:deal:<crm id>:updated:<at ms>:<fields>`` (amount, owner, currency, close date)
* ``<source>:deal:<crm id>:deleted``
* ``<source>:activity:<crm id>`` (an activity is logged once, when complete)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas import (
    ActivityLogged,
    DealCreated,
    DealLost,
    DealStageChanged,
    DealUpdated,
    DealWon,
    EventEnvelope,
)

from .changes import Change
from .config import SourceMapping, StageRule
from .knowledge import Record, apply_change

__all__ = ["Emit", "Outcome", "contract_id", "translate"]

Role = Literal["deals", "activities"]
_UPDATE_FIELDS = ("amount", "currency", "owner", "close_date")


@dataclass(frozen=True, slots=True)
class Emit:
    role: Role
    key: str
    event: EventEnvelope


@dataclass(frozen=True, slots=True)
class Outcome:
    events: list[Emit] = field(default_factory=list)
    record: Record | None = None
    error: str | None = None
    pending: bool = False


def contract_id(mapping_prefix: str, crm_id: str) -> str:
    return f"{mapping_prefix}{crm_id}"


def _when(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, UTC)


class _Unmappable(Exception):
    pass


def _stage_rule(mapping: SourceMapping, source: str, stage: str) -> StageRule:
    rule = mapping.stages.get(stage)
    if rule is None:
        raise _Unmappable(
            f"stage {stage!r} is not in gateway.{source}.mapping.stages; add it with its "
            "contract pipeline and stage"
        )
    return rule


def _rep(mapping: SourceMapping, source: str, owner: Any) -> str:
    rep = mapping.rep_for(None if owner is None else str(owner))
    if rep is None:
        raise _Unmappable(
            f"owner {owner!r} is not in gateway.{source}.mapping.owners and no rep_id_template "
            "is set"
        )
    return rep


def translate(change: Change, before: Record, mapping: SourceMapping) -> Outcome:
    """The events ``change`` implies, given the ``before`` record (see the module doc)."""
    after = apply_change(before, change)
    prefix = mapping.id_prefix
    try:
        if change.kind == "deal":
            return _deal(change, before, after, mapping, prefix)
        return _activity(change, after, mapping, prefix)
    except _Unmappable as error:
        return Outcome(record=after, error=str(error))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Outcome(record=after, error=f"not a valid contract event: {where}: {first['msg']}")


def _missing_deal(record: Record) -> list[str]:
    missing = []
    if record.stage is None:
        missing.append("stage")
    if record.value("owner") in (None, ""):
        missing.append("owner")
    return missing


def _deal(
    change: Change, before: Record, after: Record, mapping: SourceMapping, prefix: str
) -> Outcome:
    src = change.source
    base_id = f"{src}:deal:{change.crm_id}"
    deal_id = contract_id(prefix, change.crm_id)
    if change.deleted:
        if mapping.on_delete == "ignore" or _missing_deal(after):
            return Outcome(record=after)
        common = _deal_common(change, after, mapping, deal_id)
        common["stage"] = "lost"
        lost = DealLost(event_id=f"{base_id}:deleted", reason=f"deleted in {src}", **common)
        return Outcome([Emit("deals", deal_id, lost)], after)
    missing = _missing_deal(after)
    if missing:
        if after.created_ms is not None:
            return Outcome(record=after, pending=True)
        return Outcome(
            record=after,
            error=f"deal {change.crm_id}: the gateway knows no {' or '.join(missing)} for it "
            "(no creation seen, and this notification does not carry it); it is kept, and the "
            "deal's events follow once a notification completes it",
        )
    emits: list[Emit] = []
    common = _deal_common(change, after, mapping, deal_id)
    if change.created or _missing_deal(before):
        created_at = after.created_ms if after.created_ms is not None else after.marks[0][0]
        first = after.stage_at(created_at) or after.marks[0]
        rule = _stage_rule(mapping, src, first[1])
        emits.append(
            Emit(
                "deals",
                deal_id,
                DealCreated(
                    event_id=f"{base_id}:created",
                    **{
                        **common,
                        "occurred_at": _when(created_at),
                        "stage": rule.stage,
                        "pipeline": rule.pipeline,
                    },
                ),
            )
        )
    moved = False
    stage = change.fields.get("stage")
    mark = after.stage_at(change.at_ms) if stage is not None else None
    if mark is not None and mark[0] == change.at_ms and mark[1] != str(stage):
        # another stage at the very same instant won the tie (knowledge.py): no news, so
        # its repeats cannot make news either, in whatever order they come
        stage = None
    if stage is not None:
        stage = str(stage)
        status = change.fields.get("status")
        closing = status if status in ("won", "lost") else None
        if not change.created:
            prior = after.stage_at(change.at_ms, strictly_before=True)
            from_stage = prior[1] if prior is not None else change.previous.get("stage")
            if from_stage is not None and str(from_stage) != stage:
                moved = True
                emits.append(
                    _stage_event(
                        base_id,
                        change.at_ms,
                        stage,
                        str(from_stage),
                        closing,
                        common,
                        after,
                        mapping,
                        src,
                    )
                )
        # a late notification of an earlier move can turn the next known mark into a move
        # from this stage that no notification announced (it was no move when it came)
        following = next((m for m in after.marks if m[0] > change.at_ms), None)
        if following is not None and following[1] != stage:
            prior = after.stage_at(following[0], strictly_before=True)
            known = before.stage_at(following[0], strictly_before=True)
            announced = known is not None and known[1] != following[1]
            if prior is not None and prior[1] == stage and not announced:
                emits.append(
                    _stage_event(
                        base_id,
                        following[0],
                        following[1],
                        stage,
                        None,
                        common,
                        after,
                        mapping,
                        src,
                    )
                )
    status = change.fields.get("status")
    old_status = change.previous.get("status")
    if (
        not moved
        and not change.created
        and status in ("won", "lost", "open")
        and old_status is not None
        and old_status != status
    ):
        moved = True
        event_id = f"{base_id}:status:{status}:{change.at_ms}"
        rule = _stage_rule(mapping, src, str(after.stage))
        fields = {**common, "stage": rule.stage, "pipeline": rule.pipeline}
        if status == "won":
            emits.append(Emit("deals", deal_id, DealWon(event_id=event_id, **fields)))
        elif status == "lost":
            reason = after.value("lost_reason")
            emits.append(
                Emit("deals", deal_id, DealLost(event_id=event_id, reason=reason, **fields))
            )
        else:  # reopened: back to its stage from won or lost
            emits.append(
                Emit(
                    "deals",
                    deal_id,
                    DealStageChanged(event_id=event_id, from_stage=str(old_status), **fields),
                )
            )
    changed = change.previous if change.whole else change.fields
    touched = [name for name in _UPDATE_FIELDS if name in changed]
    if touched and not moved and not emits:
        rule = _stage_rule(mapping, src, str(after.stage))
        emits.append(
            Emit(
                "deals",
                deal_id,
                DealUpdated(
                    event_id=f"{base_id}:updated:{change.at_ms}:{'+'.join(touched)}",
                    **{**common, "stage": rule.stage, "pipeline": rule.pipeline},
                ),
            )
        )
    return Outcome(emits, after)


def _stage_event(
    base_id: str,
    at_ms: int,
    stage: str,
    from_stage: str,
    closing: str | None,
    common: dict[str, Any],
    record: Record,
    mapping: SourceMapping,
    source: str,
) -> Emit:
    """The move into ``stage`` at ``at_ms``: won or lost when the stage (or the CRM's status)
    closes the deal, else a stage change."""
    rule = _stage_rule(mapping, source, stage)
    event_id = f"{base_id}:stage:{stage}:{at_ms}"
    fields = {
        **common,
        "occurred_at": _when(at_ms),
        "stage": rule.stage,
        "pipeline": rule.pipeline,
    }
    deal_id = str(common["deal_id"])
    closed = rule.closed or closing
    if closed == "won":
        return Emit("deals", deal_id, DealWon(event_id=event_id, **fields))
    if closed == "lost":
        reason = record.value("lost_reason")
        return Emit("deals", deal_id, DealLost(event_id=event_id, reason=reason, **fields))
    from_rule = _stage_rule(mapping, source, from_stage)
    return Emit(
        "deals",
        deal_id,
        DealStageChanged(event_id=event_id, from_stage=from_rule.stage, **fields),
    )


def _deal_common(
    change: Change, record: Record, mapping: SourceMapping, deal_id: str
) -> dict[str, Any]:
    stage = record.stage
    rule = _stage_rule(mapping, change.source, str(stage))
    currency = record.value("currency") or mapping.default_currency
    values: dict[str, Any] = {
        "occurred_at": _when(change.at_ms),
        "source": change.source,
        "deal_id": deal_id,
        "rep_id": _rep(mapping, change.source, record.value("owner")),
        "pipeline": rule.pipeline,
        "stage": rule.stage,
        "amount": record.value("amount"),
        "currency": currency or None,
        "expected_close": record.value("close_date"),
    }
    return values


def _activity(change: Change, after: Record, mapping: SourceMapping, prefix: str) -> Outcome:
    src = change.source
    if change.deleted:
        return Outcome(record=after)
    kind = after.value("type")
    waiting = after.created_ms is not None
    if kind is None:
        if waiting:
            return Outcome(record=after, pending=True)
        raise _Unmappable(f"activity {change.crm_id}: its type is not known to the gateway")
    if after.value("done") is False:
        return Outcome(record=after, pending=True)  # planned, not yet happened
    rule = mapping.activities.get(str(kind))
    if rule is None:
        raise _Unmappable(f"activity type {kind!r} is not in gateway.{src}.mapping.activities")
    owner = after.value("owner")
    raw_direction = after.value("direction")
    direction = rule.directions.get(str(raw_direction)) if raw_direction is not None else None
    if raw_direction is not None and direction is None and rule.direction is None:
        raise _Unmappable(
            f"direction {raw_direction!r} of {kind!r} is not in gateway.{src}.mapping."
            f"activities.{kind}.directions"
        )
    direction = direction or rule.direction
    raw_outcome = after.value("outcome")
    outcome = rule.outcomes.get(str(raw_outcome)) if raw_outcome is not None else None
    if raw_outcome is not None and outcome is None and str(raw_outcome) in rule.pending_outcomes:
        return Outcome(record=after, pending=True)  # still ringing, scheduled, sending
    if raw_outcome is not None and outcome is None and rule.outcome is None:
        raise _Unmappable(
            f"outcome {raw_outcome!r} of {kind!r} is not in gateway.{src}.mapping."
            f"activities.{kind}.outcomes"
        )
    outcome = outcome or rule.outcome
    missing = [
        name
        for name, value in (("owner", owner), ("direction", direction), ("outcome", outcome))
        if value in (None, "")
    ]
    if missing or direction is None or outcome is None:
        if waiting:
            return Outcome(record=after, pending=True)
        raise _Unmappable(
            f"activity {change.crm_id}: the gateway knows no {' or '.join(missing)} for it"
        )
    rep_id = _rep(mapping, src, owner)
    deal = after.value("deal")
    time_ms = after.value("time_ms") or after.created_ms or change.at_ms
    event = ActivityLogged(
        event_id=f"{src}:activity:{change.crm_id}",
        occurred_at=_when(int(time_ms)),
        source=src,
        rep_id=rep_id,
        channel=rule.channel,
        direction=direction,
        outcome=outcome,
        deal_id=contract_id(prefix, str(deal)) if deal not in (None, "") else None,
        duration_s=after.value("duration_s"),
    )
    return Outcome([Emit("activities", rep_id, event)], after)
