"""The Faust worker: thin agents around :class:`~streamer.engine.DealEngine`.

Layout of the stream (see the README's design section):

* ``crm.deals`` / ``crm.activities`` (and the org, quota and command topics)
  are read as bytes and validated here; what fails goes to the dead-letter
  topic byte for byte with the reason. An event on the wrong topic or with
  the wrong key is forwarded to its home topic with the right key.
* deal events update the ``deals`` table (changelogged, idempotent).
* time is turned into messages: the leader sends a tick to every partition of
  ``<app_id>-ticks`` (same partition count as the deal topic, so partition
  ``n`` of both are assigned together) and the tick agent evaluates the
  time-based rules of its partition inside stream context, where tables can
  be written.
* each worker publishes its partitions' stage statistics and watermarks to
  the compacted ``<app_id>-partition-stats`` topic; every worker reads that
  topic and ``sales.org`` whole (:mod:`streamer.shared_feed`), so baselines
  and routing facts are global however partitions are spread.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import DealEvent, EventRejected, InputEvent, parse_event

from .engine import DealEngine, SharedView
from .kafka_admin import client_options
from .logs import get_logger
from .metrics import Metrics
from .notify.agents import register_notifications
from .routing import home_of
from .rules.alerting import AlertDraft
from .settings import Settings
from .shared_feed import SharedFeed
from .state.stage_stats import StageKey

__all__ = ["Worker", "build_worker", "dead_letter_headers"]

log = get_logger(__name__)

_DEAL_TYPES = frozenset(
    {"deal.created", "deal.stage_changed", "deal.updated", "deal.won", "deal.lost"}
)


def dead_letter_headers(
    error: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The contract's dead-letter headers (section 1)."""
    return [
        ("error", error.encode("utf-8")),
        ("original_topic", topic.encode("utf-8")),
        ("original_partition", str(partition).encode("ascii")),
        ("original_offset", str(offset).encode("ascii")),
    ]


def _faust_broker_credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    ssl_context = client_options(settings).get("ssl_context")
    if kafka.sasl_mechanism:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context,
        )
    return faust.SSLCredentials(ssl_context)


@dataclass
class Worker:
    app: faust.App
    engine: DealEngine
    metrics: Metrics
    partitions: int


def build_worker(settings: Settings, partitions: int, metrics: Metrics | None = None) -> Worker:
    """Build the Faust app, its topics, table, agents and pages for ``partitions``
    partitions (the partition count of the deal topic)."""
    metrics = metrics or Metrics()
    names = settings.topics
    datadir = Path(settings.data_dir) / f"worker-{settings.web_port}"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(",")),
        broker_credentials=_faust_broker_credentials(settings),
        store=settings.store,
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=settings.broker_session_timeout_seconds,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_seconds,
        broker_request_timeout=max(90.0, settings.broker_session_timeout_seconds + 30.0),
        processing_guarantee="at_least_once",
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        autodiscover=False,
        timezone="UTC",
    )

    def raw_topic(name: str, **kwargs: Any) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            **kwargs,
        )

    inputs = {
        "deals": raw_topic(names.deals),
        "activities": raw_topic(names.activities),
        "org": raw_topic(names.org),
        "quotas": raw_topic(names.quotas),
        "commands": raw_topic(names.commands),
    }
    dlq = raw_topic(names.dlq)
    alerts_topic = raw_topic(names.alerts)
    ticks = raw_topic(
        f"{settings.app_id}-ticks",
        partitions=partitions,
        internal=True,
        retention=3600.0,
        deleting=True,
    )
    stats_topic = raw_topic(
        f"{settings.app_id}-partition-stats",
        partitions=1,
        internal=True,
        compacting=True,
    )
    deals_table = app.Table(
        "deals",
        partitions=partitions,
        default=None,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    view = SharedView()
    engine = DealEngine(settings, deals_table, view)
    feed = SharedFeed(settings, view, stats_topic.get_topic_name())
    offsets: dict[TP, int] = {}
    published: dict[int, dict[str, Any]] = {}

    def now_for_rules() -> float | None:
        if settings.clock == "wall":
            return time.time()
        return engine.event_time()

    def emit(drafts: list[AlertDraft], now: float) -> None:
        emitted_at = time.time() if settings.clock == "wall" else now
        for draft in drafts:
            alert = engine.finish(draft, emitted_at)
            alerts_topic.send_soon(key=draft.subject_key.encode(), value=alert.to_json_bytes())
            metrics.alerts.labels(draft.rule, draft.status).inc()
            log.info(
                "alert_emitted",
                alert_id=alert.alert_id,
                rule=alert.rule,
                status=alert.status,
                subject=draft.subject_key,
            )

    def reject(message: Any, error: str) -> None:
        dlq.send_soon(
            key=message.key,
            value=message.value,
            headers=dead_letter_headers(error, message.topic, message.partition, message.offset),
        )
        metrics.events_rejected.labels(message.topic).inc()
        log.warning(
            "event_rejected",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=error,
        )

    def accept(role: str, message: Any) -> InputEvent | None:
        """Validate; dead-letter or forward what this topic does not keep."""
        offsets[message.tp] = message.offset
        try:
            event = parse_event(message.value if message.value is not None else b"")
        except EventRejected as rejected:
            reject(message, rejected.reason)
            return None
        metrics.events_accepted.labels(event.event_type).inc()
        home, key = home_of(event)
        key_bytes = key.encode("utf-8")
        if home != role or (role == "deals" and message.key != key_bytes):
            target = inputs[home]
            target.send_soon(key=key_bytes, value=message.value, headers=message.headers)
            metrics.events_forwarded.labels(event.event_type).inc()
            return None
        occurred = event.occurred_at.timestamp()
        metrics.event_delay.observe(max(0.0, time.time() - occurred))
        engine.observe(message.partition, occurred)
        return event

    def on_deal_event(message: Any, event: DealEvent) -> None:
        now = now_for_rules()
        assert now is not None  # observe() ran: the event clock has a value
        changed, drafts = engine.on_deal_event(event, message.partition, now)
        if not changed:
            metrics.events_duplicate.labels(event.event_type).inc()
        emit(drafts, now)

    @app.agent(inputs["deals"], name="deals")
    async def deals_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            parsed = accept("deals", message)
            if parsed is not None and parsed.event_type in _DEAL_TYPES:
                on_deal_event(message, parsed)  # type: ignore[arg-type]

    for role in ("activities", "org", "quotas", "commands"):
        # Validated and dead-lettered here; their state arrives with later rules.
        # The org topic is also read whole by every worker (SharedFeed).
        def make_agent(role: str) -> None:
            @app.agent(inputs[role], name=role)
            async def validate_agent(stream: faust.StreamT) -> None:
                async for event in stream.events():
                    accept(role, event.message)

        make_agent(role)

    @app.agent(ticks, name="ticks")
    async def ticks_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            partition = event.message.partition
            now = now_for_rules()
            if now is None:
                continue
            started = time.perf_counter()
            drafts = engine.on_tick(partition, now)
            metrics.tick_duration.observe(time.perf_counter() - started)
            metrics.ticks.labels(str(partition)).inc()
            emit(drafts, now)

    @app.timer(interval=settings.tick_interval_seconds, on_leader=True)
    async def send_ticks() -> None:
        value = json.dumps({"wall": time.time()}).encode()
        for partition in range(partitions):
            await ticks.send(value=value, partition=partition)

    @app.timer(interval=settings.stats_publish_interval_seconds)
    async def publish_partition_stats() -> None:
        for partition in sorted(engine.owned):
            wire = engine.snapshot(partition).to_wire()
            if published.get(partition) != wire:
                await stats_topic.send(
                    key=f"p{partition}".encode(), value=json.dumps(wire).encode()
                )
                published[partition] = wire
        export_gauges()

    stage_kpis = metrics.kpi.stage

    def export_gauges() -> None:
        engine.invalidate_stats()
        for key, stat in engine.stage_stats().items():
            pipeline, stage = _split(key)
            avg = stat.avg_seconds
            if avg is not None:
                stage_kpis["avg_days"].labels(pipeline, stage).set(avg / 86400.0)
            stage_kpis["samples"].labels(pipeline, stage).set(stat.count)
        stage_kpis["open_deals"].clear()
        for key, count in engine.open_deals_by_stage().items():
            stage_kpis["open_deals"].labels(*_split(key)).set(count)
        metrics.open_alerts.labels("deal_stalled").set(engine.firing())
        watermark = max(engine.watermarks.values(), default=None)
        if watermark is not None:
            metrics.event_time_watermark.set(watermark)
        for tp, offset in list(offsets.items()):
            highwater = app.consumer.highwater(tp) if app.consumer else None
            if highwater is not None:
                lag = max(0, highwater - offset - 1)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        lost = {tp.partition for tp in revoked if tp.topic == names.deals}
        engine.revoke(lost)
        for partition in lost:
            published.pop(partition, None)
        for tp in revoked:
            offsets.pop(tp, None)

    @app.task
    async def run_feed() -> None:
        await feed.run()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def is_ready() -> bool:
        return app.rebalancing is False and app.tables.recovery.completed.is_set()

    # Read at every scrape, so the gauge is true without anyone polling /ready.
    metrics.ready.set_function(lambda: 1.0 if is_ready() else 0.0)

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        ready = is_ready()
        return web.json({"ready": ready}, status=200 if ready else 503)

    # alert lifecycle and delivery to people (docs/notifications.md)
    register_notifications(app, settings, metrics, view, org_loaded=feed.caught_up)

    return Worker(app=app, engine=engine, metrics=metrics, partitions=partitions)


def _split(key: StageKey) -> tuple[str, str]:
    pipeline, _, stage = key.partition("/")
    return pipeline, stage
