"""The Faust side of notifications: two thin agents, two tables, the dead-letter topic.

``notify-lifecycle`` reads the alerts topic, the alert-commands topic and the
worker's ticks topic (all three keyed by subject and created with the same
partition count, so partition ``n`` of each is assigned together). Per
subject it keeps :class:`~streamer.notify.lifecycle.SubjectState` in the
``notify-lifecycle`` table, asks :mod:`~streamer.notify.lifecycle` what people
should hear and :mod:`~streamer.notify.routing` who and when, and writes one
message per target to the ``<app_id>-notify-outbox`` topic, keyed by target
(receiver and address). The outbox messages are acknowledged by Kafka
*before* the state is written, so a crash in between repeats them with the
same deterministic ids rather than losing them.

``notify-delivery`` reads the outbox (and the ticks). The ``notify-deliveries``
table is the delivery log, keyed by notification id: a notification it
already holds is skipped. Others are held for quiet hours or gathered for a
digest in the ``notify-parked`` table, or sent now through the
:class:`~streamer.notify.delivery.Dispatcher`; the result goes into the log and
the producer is flushed before the next message, so a delivery that the
receiver accepted is not repeated after a crash. Only a send in flight when
the process dies can be repeated (see docs/notifications.md).

Deliveries run one at a time per worker (agents stay at concurrency 1), in
outbox order per target, at most one message per ``min_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from faust.types import TP
from pydantic import ValidationError

from schemas import Alert, AlertAck, AlertSnooze, AlertUnsnooze, EventRejected, parse_event

from ..logs import get_logger
from ..settings import rule_fire_delays
from .delivery import Dispatcher, log_record
from .lifecycle import (
    Command,
    Notice,
    SubjectState,
    next_due,
    on_alert,
    on_command,
    on_tick,
    policy_of,
    subject_key_of,
)
from .message import Item, Notification, Outcome, digest_items
from .routing import plan

__all__ = ["register_notifications"]

log = get_logger(__name__)


def _iso_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def register_notifications(
    app: faust.App,
    settings: Any,
    metrics: Any,
    view: Any,
    *,
    org_loaded: asyncio.Event | None = None,
) -> None:
    """Add the notification agents and tables to ``app`` (built by ``build_worker``).

    ``view.reps`` is the org chart routing reads managers from; when
    ``org_loaded`` is given, the lifecycle waits for it (the org topic read to
    its end) before routing its first alert, so a fresh worker does not route
    by a half-read org chart. With no receiver configured nothing is added:
    nothing is sent, nothing fails.
    """
    config = settings.notifications
    if not config.enabled:
        return
    m = metrics.notifications
    names = settings.topics
    partitions = int(app.conf.topic_partitions)
    ticks_name = f"{settings.app_id}-ticks"
    outbox_name = f"{settings.app_id}-notify-outbox"
    policy = policy_of(config, rule_fire_delays(settings))
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    lifecycle_in = app.topic(names.alerts, names.commands, ticks_name, **raw)
    delivery_in = app.topic(outbox_name, ticks_name, partitions=partitions, internal=True, **raw)
    outbox = app.topic(outbox_name, partitions=partitions, **raw)
    alerts_out = app.topic(names.alerts, **raw)
    commands_out = app.topic(names.commands, **raw)
    dlq = app.topic(config.dlq_topic, partitions=partitions, **raw)
    json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
    lifecycle = app.Table(
        "notify-lifecycle", partitions=partitions, default=None, schema=json_schema
    )
    deliveries = app.Table(
        "notify-deliveries", partitions=partitions, default=None, schema=json_schema
    )
    parked = app.Table("notify-parked", partitions=partitions, default=None, schema=json_schema)
    dispatcher = Dispatcher(config, on_attempt=lambda r, o, s: _count_attempt(m, r, o, s))

    # per-partition indexes, rebuilt from the tables when a partition is first seen
    due_subjects: dict[int, dict[str, float]] = {}
    due_parked: dict[int, dict[str, float]] = {}
    # parked retry's key -> its target (receiver, address) and its place in the target's
    # order (the notification's created_at: the outbox's order per target)
    retry_target: dict[str, tuple[str, float]] = {}

    def index_lifecycle(partition: int) -> dict[str, float]:
        if partition not in due_subjects:
            found: dict[str, float] = {}
            for key, value in list(lifecycle.items()):
                if value and value.get("partition") == partition:
                    due = next_due(SubjectState.from_dict(value))
                    if due is not None:
                        found[key] = due
            due_subjects[partition] = found
        return due_subjects[partition]

    def index_parked(partition: int) -> dict[str, float]:
        if partition not in due_parked:
            found = due_parked[partition] = {}
            for key, value in list(parked.items()):
                if value and value.get("partition") == partition:
                    found[key] = float(value["due_at"])
                    if key.startswith("retry|"):
                        retry_target[key] = (value["target"], float(value["seq"]))
            update_parked_gauge()
        return due_parked[partition]

    def update_parked_gauge() -> None:
        counts = {"quiet_hours": 0, "digest": 0, "retry": 0}
        for index in due_parked.values():
            for key in index:
                kind = key.split("|", 1)[0]
                counts[{"digest": "digest", "retry": "retry"}.get(kind, "quiet_hours")] += 1
        for reason, count in counts.items():
            m.parked.labels(reason).set(count)

    # --- lifecycle -----------------------------------------------------------------------

    async def apply(
        partition: int,
        subject_key: str,
        step: Callable[[SubjectState], tuple[SubjectState, list[Notice]]],
        now: float,
    ) -> None:
        raw_state = lifecycle.get(subject_key)
        state = (
            SubjectState.from_dict(raw_state)
            if raw_state
            else SubjectState.empty(subject_key, partition)
        )
        new_state, notices = step(state)
        if new_state == state and not notices:
            return
        notifications, unroutable = plan(notices, config, view.reps, now)
        for notice in notices:
            m.notices.labels(notice.kind).inc()
        for notice in unroutable:
            m.unroutable.labels(str(notice.alert.get("rule"))).inc()
            log.warning("notification_unroutable", alert_key=notice.alert_key, kind=notice.kind)
        pending = [
            await outbox.send(key=n.target_key.encode(), value=n.to_json_bytes())
            for n in notifications
        ]
        for notice in notices:
            if notice.after_snooze:  # the contract: firing is re-sent when a snooze ends
                copy = {**notice.alert, "emitted_at": datetime.fromtimestamp(now, UTC)}
                alert = Alert.model_validate(copy)
                pending.append(
                    await alerts_out.send(key=subject_key.encode(), value=alert.to_json_bytes())
                )
        for future in pending:
            await future  # acknowledged by Kafka before the state that depends on them
        lifecycle[subject_key] = new_state.to_dict()
        index = index_lifecycle(partition)
        due = next_due(new_state)
        if due is None:
            index.pop(subject_key, None)
        else:
            index[subject_key] = due
        for n in notifications:
            log.info(
                "notification_planned",
                notification_id=n.id,
                receiver=n.receiver,
                kind=n.kind,
                held_until=n.not_before,
                digest=n.digest,
            )

    def to_command(event: Any, now: float) -> Command | None:
        if isinstance(event, AlertAck):
            return Command("ack", event.alert_key, event.by, None, event.reason)
        if isinstance(event, AlertSnooze):
            until = event.until.timestamp() if event.until is not None else None
            return Command("snooze", event.alert_key, event.by, until, event.reason)
        if isinstance(event, AlertUnsnooze):
            return Command("unsnooze", event.alert_key, event.by, None, event.reason)
        return None

    @app.agent(lifecycle_in, name="notify-lifecycle")
    async def lifecycle_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if org_loaded is not None and not org_loaded.is_set():
                await org_loaded.wait()
            message = event.message
            partition = message.partition
            now = time.time()
            index_lifecycle(partition)
            if message.topic == ticks_name:
                for subject_key, due in sorted(index_lifecycle(partition).items()):
                    if due <= now:
                        await apply(
                            partition, subject_key, partial(on_tick, now=now, policy=policy), now
                        )
                continue
            if message.value is None:
                continue
            if message.topic == names.alerts:
                try:
                    alert = Alert.from_json(message.value)
                except ValidationError as error:
                    log.warning(
                        "alert_unreadable",
                        topic=message.topic,
                        partition=partition,
                        offset=message.offset,
                        error=str(error).splitlines()[0],
                    )
                    continue
                subject_key = alert.subject.key
                if message.key != subject_key.encode():
                    log.warning(
                        "alert_wrong_key",
                        topic=message.topic,
                        partition=partition,
                        offset=message.offset,
                        alert_key=alert.alert_key,
                    )
                    continue
                data = alert.model_dump(mode="json")
                await apply(
                    partition,
                    subject_key,
                    partial(on_alert, alert=data, now=now, policy=policy),
                    now,
                )
                continue
            try:  # the commands topic; the worker's commands agent dead-letters bad ones
                command_event = parse_event(message.value)
            except EventRejected:
                continue
            command = to_command(command_event, now)
            if command is None:
                continue
            try:
                subject_key = subject_key_of(command.alert_key)
            except ValueError:
                log.warning("alert_command_bad_key", alert_key=command.alert_key)
                continue
            if message.key != subject_key.encode():
                # keyed otherwise by its producer: re-key so it meets its alert's partition
                await commands_out.send(key=subject_key.encode(), value=message.value)
                continue
            m.commands.labels(command.kind).inc()
            log.info(
                "alert_command", command=command.kind, alert_key=command.alert_key, by=command.by
            )
            await apply(
                partition,
                subject_key,
                partial(on_command, command=command, now=now, policy=policy),
                now,
            )

    # --- delivery ------------------------------------------------------------------------

    async def finish(notification: Notification, outcome: Outcome, attempts: int) -> None:
        now = time.time()
        deliveries[notification.id] = log_record(outcome, attempts, now)
        if outcome.ok:
            m.delivered.labels(notification.receiver, notification.kind).inc()
            for item in notification.items:
                emitted = item.alert.get("emitted_at")
                if emitted and notification.kind != "digest":
                    m.latency.labels(notification.receiver).observe(
                        max(0.0, now - _iso_epoch(str(emitted)))
                    )
            log.info(
                "notification_delivered",
                notification_id=notification.id,
                receiver=notification.receiver,
                kind=notification.kind,
                attempts=attempts,
            )
        else:
            m.failed.labels(notification.receiver, outcome.reason).inc()
            await dlq.send(
                key=notification.id.encode(),
                value=notification.to_json_bytes(),
                headers=[
                    ("error", outcome.reason.encode()),
                    ("receiver", notification.receiver.encode()),
                    ("notification_id", notification.id.encode()),
                    ("attempts", str(attempts).encode()),
                ],
            )
            log.error(
                "notification_failed",
                notification_id=notification.id,
                receiver=notification.receiver,
                reason=outcome.reason,
                attempts=attempts,
                retried=outcome.retry,
            )
        # the log entry must be durable before the next send: after a crash the
        # receiver's acceptance is then known and the notification not sent again
        await app.producer.flush()

    async def send(partition: int, notification: Notification, attempts_before: int = 0) -> None:
        """Deliver, in order per target: behind a retry parked for the same target and
        created before it, it is parked too, due just after it (parked entries are released
        in due order); a retry the dispatcher leaves for later is parked with the tries
        made so far."""
        behind = retry_due(partition, notification.target_key, notification.created_at)
        if behind is not None:
            park_retry(partition, notification, attempts_before, behind + 0.001, "behind_a_retry")
            return
        result = await dispatcher.deliver(notification, attempts_before)
        if result.retry_in is not None:
            due = time.time() + result.retry_in
            park_retry(partition, notification, result.attempts, due, result.outcome.reason)
            return
        await finish(notification, result.outcome, result.attempts)

    def retry_due(partition: int, target: str, created_at: float) -> float | None:
        """When the last retry parked for ``target`` of a notification created before
        ``created_at`` is due, or None if none is."""
        index = index_parked(partition)
        dues = [
            due
            for key, due in index.items()
            if (place := retry_target.get(key)) is not None
            and place[0] == target
            and place[1] < created_at
        ]
        return max(dues) if dues else None

    def park_retry(
        partition: int, notification: Notification, attempts: int, due: float, reason: str
    ) -> None:
        """Park a notification to be tried again at ``due`` (by the ticks, through
        :func:`release`); the parked table is changelogged, so it survives a restart."""
        key = f"retry|{notification.id}"
        parked[key] = {
            "partition": partition,
            "due_at": due,
            "target": notification.target_key,
            "seq": notification.created_at,
            "attempts": attempts,
            "notification": notification.to_json_bytes().decode(),
        }
        index_parked(partition)[key] = due
        retry_target[key] = (notification.target_key, notification.created_at)
        update_parked_gauge()
        log.info(
            "notification_retry_parked",
            notification_id=notification.id,
            receiver=notification.receiver,
            attempts=attempts,
            until=due,
            reason=reason,
        )

    async def release(partition: int, key: str, now: float) -> None:
        value = parked.get(key)
        due_parked[partition].pop(key, None)
        retry_target.pop(key, None)
        if not value:
            return
        if key.startswith("digest|"):
            target = key.partition("|")[2]
            carry_key = f"closed|{target}"
            carried = parked.get(carry_key) or {}
            items, closed = digest_items(
                (Item(i["kind"], i["alert"]) for i in value["items"]),
                config.digest.omit_closed_episodes,
                carried.get("counts"),
            )
            del parked[key]
            update_parked_gauge()
            if not items:
                # only episodes that opened and closed since the last digest: nothing to
                # act on, so nothing is sent; the next digest counts them
                parked[carry_key] = {"counts": closed}
                log.info("digest_left_out", target=target, closed=closed)
                return
            if carried:
                del parked[carry_key]
            notification = Notification(
                id=f"digest:{value['receiver']}:{value['address']}:{int(value['opened_at'])}",
                receiver=value["receiver"],
                address=value["address"],
                kind="digest",
                items=items,
                created_at=now,
                closed=closed,
            )
        else:
            notification = Notification.from_json(value["notification"])
            del parked[key]
            update_parked_gauge()
        if deliveries.get(notification.id):
            return
        await send(partition, notification, int(value.get("attempts", 0)))

    def park(partition: int, notification: Notification, now: float) -> None:
        index = index_parked(partition)
        if notification.digest:
            key = f"digest|{notification.target_key}"
            value = parked.get(key) or {
                "partition": partition,
                "receiver": notification.receiver,
                "address": notification.address,
                "opened_at": now,
                "due_at": now + config.digest.interval_seconds,
                "ids": [],
                "items": [],
            }
            if notification.id in value["ids"]:
                return
            item = notification.items[0]
            value = {
                **value,
                "ids": [*value["ids"], notification.id],
                "items": [*value["items"], {"kind": item.kind, "alert": dict(item.alert)}],
            }
        else:
            key = f"held|{notification.id}"
            value = {
                "partition": partition,
                "due_at": notification.not_before,
                "notification": notification.to_json_bytes().decode(),
            }
        parked[key] = value
        index[key] = float(value["due_at"])
        update_parked_gauge()
        log.info(
            "notification_parked",
            notification_id=notification.id,
            receiver=notification.receiver,
            until=value["due_at"],
            digest=notification.digest,
        )

    @app.agent(delivery_in, name="notify-delivery")
    async def delivery_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            partition = message.partition
            now = time.time()
            index = index_parked(partition)
            if message.topic == ticks_name:
                for key, due in sorted(index.items(), key=lambda kv: kv[1]):
                    if due <= now:
                        await release(partition, key, now)
                continue
            if message.value is None:
                continue
            notification = Notification.from_json(message.value)
            if deliveries.get(notification.id):
                m.duplicates.labels(notification.receiver).inc()
                log.info("notification_duplicate_skipped", notification_id=notification.id)
                continue
            if notification.digest or (
                notification.not_before is not None and notification.not_before > now
            ):
                park(partition, notification, now)
                continue
            await send(partition, notification)

    @app.task
    async def declare_dead_letter_topic() -> None:
        await dlq.maybe_declare()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_partitions(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        for tp in revoked:
            if tp.topic in (names.alerts, outbox_name):
                due_subjects.pop(tp.partition, None)
                due_parked.pop(tp.partition, None)
        update_parked_gauge()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_dispatcher(app_: faust.App, **_: Any) -> None:
        await dispatcher.close()


def _count_attempt(m: Any, receiver: str, outcome: Outcome, seconds: float) -> None:
    if outcome.ok:
        result = "ok"
    elif outcome.rate_limited:
        result = "rate_limited"
    elif outcome.retry:
        result = "retry"
    else:
        result = "broken"
    m.attempts.labels(receiver, result).inc()
    m.send_duration.labels(receiver).observe(seconds)
