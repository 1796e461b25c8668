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
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import (
    ActivityLogged,
    EventRejected,
    InputEvent,
    LeadConverted,
    LeadCreated,
    QuotaSet,
    parse_event,
)

from .engine import DealEngine, SharedView, finish_alert
from .faust_fastpath import THROUGHPUT_SETTINGS
from .faust_fastpath import install as install_fast_path
from .kafka_admin import TopicLayout, client_options
from .kpi_export import KpiExporter
from .kpis import build_report
from .logs import get_logger
from .metrics import Metrics
from .notify.agents import register_notifications
from .rep_engine import FORWARDED, INPUT, RepEngine
from .routing import COMMANDS, DEAL, ORG, REP, sides_of
from .rules.alerting import AlertDraft
from .settings import Settings
from .shared_feed import SharedFeed
from .state.activity import ActivityDay
from .state.deal import DealState
from .state.rep import DealSummary, RepState

__all__ = ["CodecTable", "Worker", "batched_writes", "build_worker", "dead_letter_headers"]

SUMMARY_HEADER = "salespulse-deal-summary"

log = get_logger(__name__)


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
    deals: DealEngine
    reps: RepEngine
    metrics: Metrics
    layout: TopicLayout


class CodecTable(MutableMapping[str, Any]):
    """A Faust table seen as a mapping of objects: JSON on the wire, objects to the engines.

    With ``cache`` the decoded objects of this worker's own keys are kept in memory
    (the worker is their only writer); :meth:`forget` drops them on revocation.

    Between :meth:`begin_batch` and :meth:`end_batch` (one batch of one partition, see
    :func:`batched_writes`) reads go through a cache of the batch, and writes stay in it:
    each key written in the batch reaches the table (its store and its changelog) once,
    with its last value, at :meth:`end_batch`, instead of once per event. The values are
    frozen dataclasses, so an object read back from the batch is the one a decode of the
    written value would give. Whole-table reads (iteration, ``len``, ``values``) flush
    the batch's writes first, so they see them.
    """

    def __init__(self, table: Any, decode: Any, encode: Any, cache: bool) -> None:
        self.table, self.decode, self.encode = table, decode, encode
        self.cache: dict[str, Any] | None = {} if cache else None
        self.batch: dict[str, Any] | None = None  # key -> value (None: absent) this batch
        self.dirty: set[str] = set()  # keys of ``batch`` written but not yet in the table

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        batch = self.batch
        if batch is not None:
            if key in batch:
                value = batch[key]
            else:
                value = batch[key] = self._read(key)
            return default if value is None else value
        value = self._read(key)
        return default if value is None else value

    def _read(self, key: str) -> Any:
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        raw = self.table.get(key)
        if raw is None:
            return None
        value = self.decode(raw)
        if self.cache is not None:
            self.cache[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if self.batch is not None:
            self.batch[key] = value
            self.dirty.add(key)
        else:
            self.table[key] = self.encode(value)
        if self.cache is not None:
            self.cache[key] = value

    def __delitem__(self, key: str) -> None:
        if self.batch is not None:
            self.batch[key] = None
            self.dirty.add(key)
        else:
            del self.table[key]
        if self.cache is not None:
            self.cache.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        self.flush()
        return iter(list(self.table.keys()))

    def __len__(self) -> int:
        self.flush()
        return len(self.table)

    def values(self) -> Any:  # type: ignore[override]
        """Every value, decoded one at a time (a million deals are never all in memory);
        a batch's writes are flushed first, so they are seen."""
        self.flush()
        return (self.decode(raw) for raw in self.table.values() if raw is not None)

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def begin_batch(self) -> None:
        self.batch, self.dirty = {}, set()

    def flush(self) -> None:
        """Write the batch's dirty keys to the table, each once, with its last value."""
        if not self.dirty:
            return
        batch, table, encode = self.batch or {}, self.table, self.encode
        for key in sorted(self.dirty):  # a stable order: replays write the same log
            value = batch[key]
            if value is not None:
                table[key] = encode(value)
            elif key in table:  # else written and deleted in the batch, never stored
                del table[key]
        self.dirty = set()

    def end_batch(self) -> None:
        self.flush()
        self.batch = None

    def abandon_batch(self) -> None:
        """Drop a failed batch's writes (its messages are not acked: read again). The
        decoded cache may hold them, so it is dropped too."""
        self.batch, self.dirty = None, set()
        self.forget()


@contextmanager
def batched_writes(*stores: CodecTable) -> Iterator[None]:
    """One batch of one partition over ``stores``: reads cached, each written key
    written once at the end (inside the batch's stream context, before it is acked)."""
    for store in stores:
        store.begin_batch()
    try:
        yield
    except BaseException:
        for store in stores:
            store.abandon_batch()
        raise
    for store in stores:
        store.end_batch()


def _identity(value: Any) -> Any:
    return value


def build_worker(settings: Settings, layout: TopicLayout, metrics: Metrics | None = None) -> Worker:
    """Build the Faust app, its topics, tables, agents and pages for the partition
    counts of the deal and activity topics."""
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
        topic_partitions=layout.deals,
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
        **THROUGHPUT_SETTINGS,
    )

    def raw_topic(*topic_names: str, **kwargs: Any) -> faust.TopicT:
        return app.topic(
            *topic_names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            **kwargs,
        )

    def internal(name: str, partitions: int, **kwargs: Any) -> faust.TopicT:
        return raw_topic(
            f"{settings.app_id}-{name}", partitions=partitions, internal=True, **kwargs
        )

    # Each side reads its input topic and an internal topic with the same partition
    # count (so partition n of both is assigned together): forwarded events, touches
    # for the deal side, deal summaries for the rep side.
    deal_events = internal("deal-events", layout.deals)
    rep_events = internal("rep-events", layout.reps)
    deal_ticks = internal("ticks", layout.deals, retention=3600.0, deleting=True)
    rep_ticks = internal("rep-ticks", layout.reps, retention=3600.0, deleting=True)
    stats_topic = internal("partition-stats", 1, compacting=True)
    dlq = raw_topic(names.dlq)
    late_topic = raw_topic(names.late)
    alerts_topic = raw_topic(names.alerts)
    commands_topic = raw_topic(names.commands)

    json_schema = faust.Schema(key_serializer="json", value_serializer="json")
    deals_table = app.Table("deals", partitions=layout.deals, default=None, schema=json_schema)
    reps_table = app.Table("reps", partitions=layout.reps, default=None, schema=json_schema)
    buckets_table = app.Table(
        "activity-days", partitions=layout.reps, default=None, schema=json_schema
    )
    clocks_table = app.Table("rep-clocks", partitions=layout.reps, default=None, schema=json_schema)
    deal_store = CodecTable(deals_table, DealState.from_dict, DealState.to_dict, cache=False)
    rep_store = CodecTable(reps_table, RepState.from_dict, RepState.to_dict, cache=True)
    bucket_store = CodecTable(buckets_table, ActivityDay.from_dict, ActivityDay.to_dict, cache=True)
    clock_store = CodecTable(clocks_table, _identity, _identity, cache=False)
    view = SharedView()
    deals = DealEngine(settings, deal_store, view)
    reps = RepEngine(settings, rep_store, bucket_store, clock_store, view)
    feed = SharedFeed(settings, view, stats_topic.get_topic_name())
    offsets: dict[TP, int] = {}
    published: dict[str, dict[str, Any]] = {}
    publish_rounds = [0]  # completed publications of this worker's snapshots
    kpis = KpiExporter(settings, metrics)

    def caught_up(tp: TP) -> bool:
        highwater = app.consumer.highwater(tp) if app.consumer else None
        offset = offsets.get(tp)
        return highwater is not None and offset is not None and offset + 1 >= highwater

    def clock(streams: list[tuple[float | None, TP]]) -> float | None:
        """Rule time of a partition: wall clock, or event time.

        On the event clock, while any input stream of the partition (its input topic,
        its internal topic) is still catching up, time is the slowest such stream's
        watermark, so a backlog is never judged against time that other streams or
        partitions have reached; once all are caught up (or idle), it follows the
        newest event time anywhere. ``None``: not yet known.
        """
        if settings.clock == "wall":
            return time.time()
        behind = [mark for mark, tp in streams if not caught_up(tp) and tp in offsets]
        if not behind:
            return deals.event_time()
        if any(mark is None for mark in behind):
            return None
        return min(behind) - settings.allowed_lateness_seconds  # type: ignore[type-var]

    def deal_clock(partition: int) -> float | None:
        mark = deals.watermarks.get(partition)
        return clock(
            [
                (mark, TP(names.deals, partition)),
                (mark, TP(deal_events.get_topic_name(), partition)),
            ]
        )

    def rep_clock(partition: int) -> float | None:
        now = clock(
            [
                (reps.stream_marks.get((partition, INPUT)), TP(names.activities, partition)),
                (
                    reps.stream_marks.get((partition, FORWARDED)),
                    TP(rep_events.get_topic_name(), partition),
                ),
            ]
        )
        if now is not None and settings.clock == "wall":
            now -= settings.allowed_lateness_seconds  # judge only once late events are in
        return now

    def emit(drafts: list[AlertDraft], now: float) -> None:
        emitted_at = time.time() if settings.clock == "wall" else now
        for draft in drafts:
            alert = finish_alert(view, draft, emitted_at)
            alerts_topic.send_soon(key=draft.subject_key.encode(), value=alert.to_json_bytes())
            metrics.alerts.labels(draft.rule, draft.status).inc()
            log.info(
                "alert_emitted",
                alert_id=alert.alert_id,
                rule=alert.rule,
                status=alert.status,
                subject=draft.subject_key,
            )

    def send_summaries() -> None:
        for rep_id, summary in deals.outbox:
            rep_events.send_soon(
                key=rep_id.encode(),
                value=json.dumps(summary.to_dict()).encode(),
                headers=[(SUMMARY_HEADER, b"1")],
            )
        deals.outbox.clear()

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

    def parse(message: Any) -> InputEvent | None:
        offsets[message.tp] = message.offset
        try:
            event = parse_event(message.value if message.value is not None else b"")
        except EventRejected as rejected:
            reject(message, rejected.reason)
            return None
        return event

    org_topic = raw_topic(names.org)
    targets = {DEAL: deal_events, REP: rep_events, ORG: org_topic, COMMANDS: commands_topic}

    def route(message: Any, event: InputEvent, here: str, from_input: bool) -> bool:
        """Send an event from an input topic wherever else it belongs (with the right key);
        True when ``here`` must process it. Internal topics carry only what their side
        processes, so nothing is forwarded twice."""
        if not from_input:
            return True
        mine = False
        for side, key in sides_of(event):
            key_bytes = key.encode("utf-8")
            if side == here and (message.key == key_bytes or side in (ORG, COMMANDS)):
                mine = True
                continue
            targets[side].send_soon(key=key_bytes, value=message.value)
            if not (here == REP and side == DEAL):  # an activity's touch is no misroute
                metrics.events_forwarded.labels(event.event_type).inc()
        return mine

    def on_deal_message(message: Any) -> None:
        event = parse(message)
        if event is None:
            return
        from_input = message.topic == names.deals
        if from_input:
            metrics.events_accepted.labels(event.event_type).inc()
        if not route(message, event, DEAL, from_input):
            return
        partition = message.partition
        occurred = event.occurred_at.timestamp()
        metrics.event_delay.observe(max(0.0, time.time() - occurred))
        now = deal_clock(partition) if settings.clock == "wall" else None
        if isinstance(event, ActivityLogged):
            changed, drafts = deals.on_touch(event, partition, now or _event_now(occurred))
        else:
            amount, currency = event.amount, event.currency
            if amount is not None and currency and settings.to_reporting(amount, currency)[1]:
                metrics.unconverted_amounts.labels(currency).inc()
            deals.observe(partition, occurred)
            now = now if now is not None else deal_clock(partition)
            assert now is not None
            changed, drafts = deals.on_deal_event(event, partition, now)  # type: ignore[arg-type]
        if not changed:
            metrics.events_duplicate.labels(event.event_type).inc()
        emit(drafts, now or occurred)
        send_summaries()

    def _event_now(occurred: float) -> float:
        return deals.event_time() or occurred

    def on_rep_message(message: Any) -> None:
        if dict(message.headers or ()).get(SUMMARY_HEADER):
            offsets[message.tp] = message.offset
            summary = DealSummary.from_dict(json.loads(message.value))
            reps.on_summary(message.key.decode(), summary, message.partition)
            return
        event = parse(message)
        if event is None:
            return
        from_input = message.topic == names.activities
        if from_input:
            metrics.events_accepted.labels(event.event_type).inc()
        if not route(message, event, REP, from_input):
            return
        partition = message.partition
        occurred = event.occurred_at.timestamp()
        stream = INPUT if from_input else FORWARDED
        if not isinstance(event, QuotaSet):
            if reps.is_late(partition, occurred, stream):
                late_topic.send_soon(
                    key=message.key,
                    value=message.value,
                    headers=dead_letter_headers(
                        "late: older than its stream's watermark less the allowed lateness",
                        message.topic,
                        message.partition,
                        message.offset,
                    ),
                )
                metrics.events_late.labels(event.event_type).inc()
                return
            reps.observe(partition, occurred, stream)
        metrics.event_delay.observe(max(0.0, time.time() - occurred))
        if isinstance(event, ActivityLogged):
            changed = reps.on_activity(event, partition)
        elif isinstance(event, LeadCreated | LeadConverted):
            changed = reps.on_lead(event, partition)
        else:
            changed = reps.on_quota(event, partition)  # type: ignore[arg-type]
        if not changed:
            metrics.events_duplicate.labels(event.event_type).inc()

    # The two sides take their input a fetched batch of one partition at a time (the
    # consumer's batch hand-over, streamer.faust_fastpath): every message is processed
    # as one at a time would be, the state written in the batch reaches the tables once
    # per key at its end, and the batch is acked after that. The agents subscribe the
    # topics (and would process them message by message without the hand-over).
    deal_side_topics = (names.deals, deal_events.get_topic_name())
    rep_side_topics = (names.activities, rep_events.get_topic_name())

    async def deal_batch(tp: TP, messages: list[Any]) -> None:
        with batched_writes(deal_store):
            for message in messages:
                on_deal_message(message)

    async def rep_batch(tp: TP, messages: list[Any]) -> None:
        with batched_writes(rep_store, bucket_store, clock_store):
            for message in messages:
                on_rep_message(message)

    install_fast_path(
        app,
        batch_handlers={
            **dict.fromkeys(deal_side_topics, deal_batch),
            **dict.fromkeys(rep_side_topics, rep_batch),
        },
    )

    @app.agent(raw_topic(*deal_side_topics), name="deal-side")
    async def deal_side(stream: faust.StreamT) -> None:
        async for event in stream.events():
            on_deal_message(event.message)

    @app.agent(raw_topic(*rep_side_topics), name="rep-side")
    async def rep_side(stream: faust.StreamT) -> None:
        async for event in stream.events():
            on_rep_message(event.message)

    for role, here in (("org", ORG), ("quotas", "quotas"), ("commands", COMMANDS)):
        # Validated and dead-lettered here; quotas go on to the rep side. The org topic
        # is read whole by every worker (SharedFeed); commands by the notification side.
        def make_agent(topic_name: str, here: str) -> None:
            @app.agent(raw_topic(topic_name), name=f"validate-{topic_name}")
            async def validate_agent(stream: faust.StreamT) -> None:
                async for event in stream.events():
                    message = event.message
                    parsed = parse(message)
                    if parsed is not None:
                        metrics.events_accepted.labels(parsed.event_type).inc()
                        route(message, parsed, here, True)

        make_agent(getattr(names, role), here)

    def make_tick_agent(side: str, topic: faust.TopicT, engine: Any, clock: Any) -> None:
        """Time-based rules of one side, judged inside stream context (tables writable)."""

        @app.agent(topic, name=f"{side}-ticks")
        async def tick_agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                partition = event.message.partition
                now = clock(partition)
                if now is None:
                    continue
                started = time.perf_counter()
                drafts = engine.on_tick(partition, now)
                metrics.tick_duration.observe(time.perf_counter() - started)
                metrics.ticks.labels(f"{side}-{partition}").inc()
                emit(drafts, now)

    make_tick_agent("deals", deal_ticks, deals, deal_clock)
    make_tick_agent("reps", rep_ticks, reps, rep_clock)

    @app.timer(interval=settings.tick_interval_seconds, on_leader=True)
    async def send_ticks() -> None:
        value = json.dumps({"wall": time.time()}).encode()
        for topic, count in ((deal_ticks, layout.deals), (rep_ticks, layout.reps)):
            for partition in range(count):
                await topic.send(value=value, partition=partition)

    @app.timer(interval=settings.stats_publish_interval_seconds)
    async def publish_partition_stats() -> None:
        snapshots: list[tuple[str, dict[str, Any]]] = [
            (f"p{p}", deals.snapshot(p).to_wire()) for p in sorted(deals.owned)
        ]
        snapshots += [(f"r{p}", reps.snapshot(p).to_wire()) for p in sorted(reps.owned)]
        for key, wire in snapshots:
            if published.get(key) != wire:
                await stats_topic.send(key=key.encode(), value=json.dumps(wire).encode())
                published[key] = wire
        export_gauges()
        publish_rounds[0] += 1

    def export_gauges() -> None:
        deals.invalidate_stats()
        now = rep_clock(min(reps.owned)) if reps.owned else None
        if now is not None:
            kpis.export(build_report(deals, reps, now), reps)
        for rule, count in deals.firing().items():
            metrics.open_alerts.labels(rule).set(count)
        watermark = max([*deals.watermarks.values(), *reps.watermarks.values()], default=None)
        if watermark is not None:
            metrics.event_time_watermark.set(watermark)
        for tp, offset in list(offsets.items()):
            highwater = app.consumer.highwater(tp) if app.consumer else None
            if highwater is not None:
                lag = max(0, highwater - offset - 1)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    @app.on_partitions_assigned.connect
    async def on_assigned(app_: faust.App, assigned: set[TP], **_: Any) -> None:
        # indexed after recovery, all in one scan of the deals table (see DealEngine.expect)
        deals.expect(tp.partition for tp in assigned if tp.topic == names.deals)

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        deal_topics = {names.deals, deal_events.get_topic_name()}
        rep_topics = {names.activities, rep_events.get_topic_name()}
        lost_deals = {tp.partition for tp in revoked if tp.topic in deal_topics}
        lost_reps = {tp.partition for tp in revoked if tp.topic in rep_topics}
        deals.revoke(lost_deals)
        reps.revoke(lost_reps)
        if lost_reps:
            rep_store.forget()
            bucket_store.forget()
        for partition in lost_deals:
            published.pop(f"p{partition}", None)
        for partition in lost_reps:
            published.pop(f"r{partition}", None)
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

    watched = {
        names.deals,
        names.activities,
        names.org,
        names.quotas,
        names.commands,
        deal_events.get_topic_name(),
        rep_events.get_topic_name(),
    }

    @app.page("/progress")
    async def progress_page(web: Any, request: Any) -> Any:
        """What this worker has processed: the last offset per input and internal
        partition, and the messages behind its own view of the high watermarks."""
        lag = 0
        assigned = app.consumer.assignment() if app.consumer else set()
        for tp in assigned:
            if tp.topic not in watched:
                continue
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - (offsets.get(tp, -1) + 1))
        processed = {f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()}
        return web.json(
            {
                "lag": lag,
                "assigned": len(assigned),
                "ready": is_ready(),
                "processed": processed,
                "unsent": app.producer.buffer.size if app.producer else 0,
                "publish_rounds": publish_rounds[0],
                "shared_view": feed.positions,
            }
        )

    @app.page("/kpis")
    async def kpis_page(web: Any, request: Any) -> Any:
        """The KPI report (as ``replay --report`` writes it) of this worker's state, as of
        ``?as_of=<RFC 3339>`` or the rule time of now."""
        raw = request.query.get("as_of")
        if raw:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        else:
            moment = rep_clock(min(reps.owned)) if reps.owned else None
            if moment is None:
                return web.json({"error": "no events yet"}, status=503)
        return web.json(build_report(deals, reps, moment))

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        ready = is_ready()
        return web.json({"ready": ready}, status=200 if ready else 503)

    # alert lifecycle and delivery to people (docs/notifications.md)
    register_notifications(app, settings, metrics, view, org_loaded=feed.caught_up)

    return Worker(app=app, deals=deals, reps=reps, metrics=metrics, layout=layout)
