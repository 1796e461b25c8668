"""The Faust worker: wiring around :class:`~streamer.core.processor.Processor`.

Everything a message means is decided by the processor (the same one ``salespulse
replay`` drives); this module only moves bytes and carries out effects:

* the input topics and both internal topics (``<app_id>-deal-events``,
  ``<app_id>-rep-events``) are handed over a fetched partition batch at a time
  (:mod:`streamer.faust_app.fastpath`) to :meth:`Processor.read` / :meth:`Processor.receive`;
* after each batch the processor runs as far as event time allows; its effects
  (alerts, forwards to the other side, dead letters, late events) are sent and
  **their delivery awaited before** the state the batch changed is written to the
  tables, and only then are the processed messages acknowledged: a crash anywhere
  re-derives and re-sends, never skips;
* after each batch and on every tick the worker tells every internal partition how
  far each input partition it reads has come (a *bound*, :mod:`streamer.core.event_time`),
  in-band behind the records it forwarded there;
* the leader's timer sends a tick to every partition of ``<app_id>-ticks`` and
  ``<app_id>-rep-ticks``: a wake-up, so time passes on the wall clock and idle inputs
  are noticed;
* each worker publishes its partitions' stage statistics and team sums to the
  compacted ``<app_id>-partition-stats`` topic; every worker reads that topic and
  ``sales.org`` whole (:mod:`streamer.faust_app.shared_feed`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.types import TP, Message
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..core.dead_letter import DeadLetterPolicy, dead_letter_record
from ..core.deal_engine import DealEngine, RepPartitionSnapshot, SharedView
from ..core.event_time import floor_to
from ..core.kpis import build_report
from ..core.processor import BOUND_HEADER, Outbox, Processor, Side
from ..core.rep_engine import RepEngine
from ..core.routing import partition_for
from ..core.state.activity import decode_day, encode_day
from ..core.state.deal import decode_deal, encode_deal
from ..core.state.rep import decode_rep, encode_rep
from ..core.timeutil import DAY
from ..kafka_admin import (
    TopicLayout,
    client_options,
    dead_letter_max_bytes,
    producer_size_options,
)
from ..logs import get_logger
from ..metrics import Metrics
from ..notify.agents import register_notifications
from ..settings import Settings
from .batch_send import send_batches
from .fastpath import THROUGHPUT_SETTINGS, FastPathConsumer
from .fastpath import install as install_fast_path
from .health import EXIT_STUCK, Health, ProgressWatch, recovered_to
from .kpi_export import KpiExporter
from .shared_feed import SharedFeed

__all__ = ["CodecTable", "Worker", "batched_writes", "build_worker"]

log = get_logger(__name__)


def _faust_broker_credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    ssl_context = cast("ssl.SSLContext | None", client_options(settings).get("ssl_context"))
    if kafka.sasl_mechanism:
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context,
        )
    return faust.SSLCredentials(ssl_context)


class CodecTable(MutableMapping[str, Any]):
    """A Faust table seen as a mapping of objects: bytes of the state's codecs (``encode``,
    ``decode``) in the table and its changelog, objects to the engines.

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

    def __init__(
        self,
        table: Any,
        decode: Any,
        encode: Any,
        cache: bool,
        scope: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.table, self.decode, self.encode = table, decode, encode
        # the partition context a key's reads and writes need (a side processes the
        # records of all its partitions in one order, whatever batch it is in)
        self.scope = scope or (lambda key: nullcontext())
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
        with self.scope(key):
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
            with self.scope(key):
                self.table[key] = self.encode(value)
        if self.cache is not None:
            self.cache[key] = value

    def __delitem__(self, key: str) -> None:
        if self.batch is not None:
            self.batch[key] = None
            self.dirty.add(key)
        else:
            with self.scope(key):
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
            with self.scope(key):
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


class PartitionScopes:
    """Faust's tables take a key's store database and changelog partition from the
    current event; a side processes the records of all its partitions in one order, so
    each read and write is scoped to its key's partition here (an event per partition,
    kept alive: Faust holds it by a weak reference)."""

    def __init__(self, app: faust.App, topic: str, partitions: int) -> None:
        self.app, self.topic, self.partitions = app, topic, partitions
        self._events: dict[int, Any] = {}

    def event(self, partition: int) -> Any:
        event = self._events.get(partition)
        if event is None:
            message = Message(self.topic, partition, 0, 0.0, 0, None, None, None, None)
            event = self._events[partition] = self.app.create_event(None, None, None, message)
        return event

    @contextmanager
    def partition(self, partition: int) -> Iterator[None]:
        token = _current_event.set(weakref.ref(self.event(partition)))
        try:
            yield
        finally:
            _current_event.reset(token)

    def by_key(self, partition_of: Callable[[str], int]) -> Callable[[str], Any]:
        return lambda key: self.partition(partition_of(key))


@dataclass
class Worker:
    app: faust.App
    processor: Processor
    metrics: Metrics
    layout: TopicLayout

    @property
    def deals(self) -> DealEngine:
        return self.processor.deals

    @property
    def reps(self) -> RepEngine:
        return self.processor.reps


#: Records of one input partition that may wait for event time before it is paused.
HELD_PER_PARTITION = 20_000

#: Offsets at a partition's end that may be transaction markers (a producer with
#: transactions writes one per commit; the client skips them, so they are never read):
#: a partition only counts as unread by the health watch with more than this waiting.
TAIL_MARKERS = 10

#: A consumer whose fetches (each returns within a second) stopped this long ago has
#: work waiting: the health watch then asks for progress (docs/operations.md, *Health*).
FETCH_SILENCE_SECONDS = 10.0

_COUNTERS = {
    "accepted": "events_accepted",
    "rejected": "events_rejected",
    "late": "events_late",
    "duplicate": "events_duplicate",
    "forwarded": "events_forwarded",
    "unconverted": "unconverted_amounts",
}


def build_worker(settings: Settings, layout: TopicLayout, metrics: Metrics | None = None) -> Worker:
    """Build the Faust app, its topics, tables, the processor and the pages for the
    partition counts of the input topics."""
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
        **producer_size_options(),  # any record an input topic takes can be forwarded
        # Faust's own views answer anyone with raw table state (/table/deals/<id>/), the
        # partition map (/router/), the topology and stats: off (docs/operations.md)
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
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
    # count (so partition n of both is assigned together): events forwarded to it (an
    # activity's touch, an event on the wrong topic), deal summaries, bounds.
    deal_events = internal("deal-events", layout.deals)
    rep_events = internal("rep-events", layout.reps)
    deal_ticks = internal("ticks", layout.deals, retention=3600.0, deleting=True)
    rep_ticks = internal("rep-ticks", layout.reps, retention=3600.0, deleting=True)
    stats_topic = internal("partition-stats", 1, compacting=True)
    dlq = raw_topic(names.dlq)
    late_topic = raw_topic(names.late)
    alerts_topic = raw_topic(names.alerts)
    internal_topics = {"deal": deal_events, "rep": rep_events}
    internal_counts = {"deal": layout.deals, "rep": layout.reps}

    # Keys stay JSON (the changelogs' keys must not change); values are the bytes of the
    # state's own codecs (compact, versioned; Faust's recovery then hands them to the store
    # without a JSON decoding of each)
    json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
    options = settings.rocksdb.table_options() if settings.store.startswith("rocksdb") else None

    def table(name: str, partitions: int, raw: bool = True) -> Any:
        # Faust serializes a table's store values by its value_type (bytes: as they are)
        return app.Table(name, partitions=partitions, default=None, options=options,
                         **({"value_type": bytes} if raw else {"schema": json_schema}))  # fmt: skip

    deals_table = table("deals", layout.deals)
    reps_table = table("reps", layout.reps)
    buckets_table = table("activity-days", layout.reps)
    clocks_table = table("rep-clocks", layout.reps, raw=False)
    deal_scopes = PartitionScopes(app, deal_events.get_topic_name(), layout.deals)
    rep_scopes = PartitionScopes(app, rep_events.get_topic_name(), layout.reps)
    deal_store = CodecTable(
        deals_table,
        decode_deal,
        encode_deal,
        cache=False,
        scope=deal_scopes.by_key(lambda key: partition_for(key, layout.deals)),
    )
    by_rep = rep_scopes.by_key(lambda key: partition_for(key.split("|", 1)[0], layout.reps))
    rep_store = CodecTable(reps_table, decode_rep, encode_rep, True, by_rep)
    bucket_store = CodecTable(buckets_table, decode_day, encode_day, True, by_rep)
    clock_store = CodecTable(
        clocks_table, _identity, _identity, False, rep_scopes.by_key(lambda key: int(key))
    )
    stores = (deal_store, rep_store, bucket_store, clock_store)
    view = SharedView()
    counts = {"deals": layout.deals, "activities": layout.reps, "quotas": layout.quotas}
    processor = Processor(
        settings,
        DealEngine(settings, deal_store, view),
        RepEngine(settings, rep_store, bucket_store, clock_store, view),
        view,
        counts,
    )
    deals, reps = processor.deals, processor.reps
    feed = SharedFeed(settings, view, stats_topic.get_topic_name())
    kpis = KpiExporter(settings, metrics)
    roles = {
        names.deals: "deals",
        names.activities: "activities",
        names.quotas: "quotas",
        names.org: "org",
    }
    sides: dict[str, Side] = {
        deal_events.get_topic_name(): "deal",
        rep_events.get_topic_name(): "rep",
    }
    offsets: dict[TP, int] = {}  # the last offset read per partition
    tick_offsets: dict[TP, int] = {}  # the same for the processor's tick partitions
    records_read = [0]  # records of every batch processed: the progress the watch sees
    watch = ProgressWatch(settings.health, time.time())
    published: dict[str, dict[str, Any]] = {}
    publish_rounds = [0]  # completed publications of this worker's snapshots
    bounds_sent: dict[str, Any] = {"wire": None, "at": 0.0}

    def next_offset(tp: TP) -> int:
        """The next offset to read: after the last one read, or the committed one."""
        read = offsets.get(tp)
        if read is not None:
            return read + 1
        consumer: Any = app.consumer  # the committed offset has no public accessor
        committed = consumer._committed_offset.get(tp) if consumer else None  # noqa: SLF001
        return int(committed or 0)

    def caught_up(tp: TP) -> bool:
        highwater = app.consumer.highwater(tp) if app.consumer else None
        return highwater is not None and next_offset(tp) >= highwater

    def idle_sources() -> dict[str, bool]:
        """Each input partition this worker reads -> whether it has nothing left to read."""
        assigned = app.consumer.assignment() if app.consumer else set()
        return {
            f"{roles[tp.topic]}:{tp.partition}": caught_up(tp)
            for tp in assigned
            if roles.get(tp.topic) in ("deals", "activities", "quotas")
        }

    async def send_bounds(force: bool) -> None:
        """Tell every internal partition how far this worker's inputs have come (when it
        changed, at most every 50 ms; on a tick always, for workers that just joined)."""
        wire = processor.bounds(idle_sources())
        moment = time.monotonic()
        if not force and (wire == bounds_sent["wire"] or moment - bounds_sent["at"] < 0.05):
            return
        bounds_sent["wire"], bounds_sent["at"] = wire, moment
        value = json.dumps(wire).encode()
        for side, topic in internal_topics.items():
            for partition in range(internal_counts[side]):
                await topic.send(value=value, partition=partition, headers=[(BOUND_HEADER, b"1")])

    async def deliver(out: Outbox) -> None:
        """Send every effect and wait until the broker has them all (effects before the
        state that records them, and before the offsets that produced them). The health
        watch sees how long they wait: a producer that cannot deliver is a stuck worker."""
        token = watch.delivery_started(time.time())
        try:
            await send_effects(out)
        finally:
            watch.delivery_finished(token, time.time())

    async def send_effects(out: Outbox) -> None:
        pending: list[Any] = []
        # the bulk of what a run writes: as record batches per partition (batch_send.py)
        for side, topic in internal_topics.items():
            outgoing = [
                (f.partition, f.key, f.value, f.headers) for f in out.forwards if f.side == side
            ]
            if outgoing:
                pending += await send_batches(app, topic.get_topic_name(), outgoing)
        for alert in out.alerts:
            key = f"{alert.subject.kind}:{alert.subject.id}"
            pending.append(await alerts_topic.send(key=key.encode(), value=alert.to_json_bytes()))
            log.info(
                "alert_emitted",
                alert_id=alert.alert_id,
                rule=alert.rule,
                status=alert.status,
                subject=key,
            )
        if out.dead and dlq_limit[0] is None:
            dlq_limit[0] = await dead_letter_max_bytes(settings)
        for dead in out.dead:
            record = dead_letter_record(
                dead.value,
                dead.key,
                dead.error,
                dead.topic,
                dead.partition,
                dead.offset,
                dlq_limit[0] or 0,
            )
            if record.truncated:
                metrics.dead_letters_truncated.labels(dead.topic).inc()
            topic = late_topic if dead.late else dlq
            pending.append(
                await topic.send(key=record.key, value=record.value, headers=list(record.headers))
            )
            if not dead.late:
                log.warning(
                    "event_rejected",
                    topic=dead.topic,
                    partition=dead.partition,
                    offset=dead.offset,
                    error=dead.error,
                )
        for partition, boundary, sums in out.team_sums:
            wire = RepPartitionSnapshot(partition, boundary, sums).to_wire()
            sums_key = f"t{partition}@{boundary!r}".encode()
            await stats_topic.send(key=sums_key, value=json.dumps(wire).encode())
        for (metric, label), n in out.counts.items():
            if metric == "alert":
                rule, status = label.split(":", 1)
                metrics.alerts.labels(rule, status).inc(n)
            else:
                getattr(metrics, _COUNTERS[metric]).labels(label).inc(n)
        if pending:
            await asyncio.gather(*pending)

    policies: dict[str, DeadLetterPolicy] = {}  # per input topic
    dlq_limit: list[int | None] = [None]  # what the dead-letter topics take, asked once

    def judge_dead_letters(topic: str, verdict: Any) -> None:
        """The dead-letter policy's verdict after one input message (arroyo's DlqLimit):
        metrics, a log line when the limit is crossed either way, and a stop when so
        configured (nothing of the batch is sent or committed: a restart reads it again
        once the producer that broke the schema is fixed)."""
        if verdict.ratio is not None:
            metrics.dead_letter_window_ratio.labels(topic).set(verdict.ratio)
        metrics.dead_letter_limit_exceeded.labels(topic).set(1.0 if verdict.exceeded else 0.0)
        if verdict.changed:
            event = "dead_letter_limit_exceeded" if verdict.exceeded else "dead_letter_limit_ok"
            log.warning(
                event,
                topic=topic,
                ratio=verdict.ratio,
                rejected=verdict.rejected,
                accepted=verdict.accepted,
                max_ratio=settings.dead_letter.max_ratio,
            )
        if verdict.stop:
            log.error("dead_letter_limit_stop", topic=topic, ratio=verdict.ratio)
            os._exit(3)  # no flush, no commit: the batch is read again after a restart

    paused: set[TP] = set()

    def hold_back_what_runs_ahead() -> None:
        """Kafka Streams' buffered.records.per.partition: an input partition with more than
        HELD_PER_PARTITION records waiting for event time, while its own time is ahead of
        the frontier, is paused until the others catch up (the consumer would otherwise
        read one topic whole, holding all of it in memory, before time can move)."""
        consumer = app.consumer
        if not isinstance(consumer, FastPathConsumer):
            return
        frontier = min(processor.deal_frontier.value, processor.rep_frontier.value)
        lateness = settings.allowed_lateness_seconds
        for tp in consumer.assignment():
            role = roles.get(tp.topic)
            if role not in ("deals", "activities", "quotas"):
                continue
            held = consumer.held_count(tp)
            ahead = processor.marks.mark(f"{role}:{tp.partition}") - lateness > frontier
            if tp in paused:
                if held < HELD_PER_PARTITION // 2 or not ahead:
                    consumer.let_go([tp])
                    paused.discard(tp)
            elif held > HELD_PER_PARTITION and ahead:
                consumer.hold_back([tp])
                paused.add(tp)

    ticks_read: list[Any] = []  # wake-ups read since the last run: done once it is

    async def on_batch(tp: TP, messages: list[Any]) -> list[Any]:
        """One fetched batch of one partition, read into the processor: validated, judged
        late or not, buffered or forwarded (memory only). Processing, delivery and state
        writes are the run's, once per fetch (:func:`run_fetch`); nothing is done yet."""
        topic = tp.topic
        role, side = roles.get(topic), sides.get(topic)
        if role is not None:
            read, dead = processor.read, processor.out.dead
            policy = policies.setdefault(
                topic, DeadLetterPolicy.from_settings(settings.dead_letter)
            )
            for m in messages:
                before = len(dead)
                read(role, topic, m.partition, m.offset, m.key, m.value, m)
                rejected = any(not d.late for d in dead[before:])
                judge_dead_letters(topic, policy.record(not rejected, time.time()))
            offsets[tp] = messages[-1].offset
        elif side is not None:
            receive = processor.receive
            for m in messages:
                receive(side, m.partition, m.key, m.value, dict(m.headers or ()), m)
            offsets[tp] = messages[-1].offset
        else:  # a tick: time passes, idle inputs show
            metrics.ticks.labels(f"reps-{tp.partition}").inc()
            tick_offsets[tp] = messages[-1].offset
            ticks_read.extend(messages)
        records_read[0] += len(messages)
        return []

    async def run_fetch() -> list[Any]:
        """After the batches of a fetch were read: run the processor, deliver its effects
        and wait for the broker, then write the state; return the messages (of any
        partition) now fully processed, to be acknowledged."""
        for store in stores:
            store.begin_batch()
        try:
            if feed.caught_up.is_set():  # routing facts and baselines first
                if deals.expected or processor.deal_parts - deals.owned:
                    wanted = sorted(deals.expected | processor.deal_parts)
                    indexed = deals.assign(processor.deal_parts)
                    log.info("deals_indexed", partitions=wanted, deals=indexed)
                processor.read_locally(idle_sources())
                started = time.perf_counter()
                processor.advance(time.time())
                metrics.tick_duration.observe(time.perf_counter() - started)
            out = processor.take()
            await deliver(out)
        except BaseException:
            for store in stores:
                store.abandon_batch()
            raise
        for store in stores:
            store.end_batch()
        ticked = ticks_read[:]
        ticks_read.clear()
        await send_bounds(force=bool(ticked))
        await publish_deal_snapshots(eager=True)
        hold_back_what_runs_ahead()
        # ticks: a wake-up, done once the run they caused is
        return [m for m in out.done if m is not None] + ticked

    topics_in = [names.deals, names.activities, names.quotas, names.org, *sides]
    install_fast_path(
        app,
        batch_handlers={
            **dict.fromkeys(topics_in, on_batch),
            # the processor's wake-up (``<app_id>-ticks`` is the notifications' timer)
            rep_ticks.get_topic_name(): on_batch,
        },
        run_handler=run_fetch,
    )

    # The agents subscribe the topics (the batch hand-over takes their messages); the
    # grouping is Faust's unit of assignment: partition n of a side's input, internal
    # and tick topics go to the same worker.
    def subscribe(name: str, *topics: faust.TopicT) -> None:
        @app.agent(raw_topic(*(t.get_topic_name() for t in topics)), name=name)
        async def agent(stream: faust.StreamT) -> None:
            async for _ in stream.events():
                raise RuntimeError(f"{name}: a message bypassed the batch hand-over")

    subscribe("deal-side", raw_topic(names.deals), deal_events)
    subscribe("rep-side", raw_topic(names.activities), rep_events)
    subscribe("rep-ticks", rep_ticks)
    subscribe("validate-quotas", raw_topic(names.quotas))
    subscribe("validate-org", raw_topic(names.org))

    @app.timer(interval=settings.tick_interval_seconds, on_leader=True)
    async def send_ticks() -> None:
        value = json.dumps({"wall": time.time()}).encode()
        for topic, count in ((deal_ticks, layout.deals), (rep_ticks, layout.reps)):
            for partition in range(count):
                await topic.send(value=value, partition=partition)

    snapshot_day = [float("-inf")]  # the day of what the deal snapshots last said

    async def publish_deal_snapshots(eager: bool) -> None:
        """The deal partitions' stage statistics and how far they are processed. Eagerly
        (after a batch) only when the processed day moved on: other workers' deal sides
        wait for it (Processor.stats_cap), a day at a time."""
        processed = processor.deal_processed()
        day = floor_to(processed, DAY) if processed != float("-inf") else processed
        if eager and (day <= snapshot_day[0] or not processor.stalls_on):
            return
        snapshot_day[0] = day
        processed_wire = None if processed in (float("-inf"), float("inf")) else processed
        # every snapshot first, then the sends: a rebalance may revoke a partition while a
        # send awaits, and its statistics are gone then
        wires = {f"p{p}": deals.snapshot(p, processed_wire).to_wire() for p in deals.owned}
        await send_snapshots(wires)

    async def send_snapshots(wires: dict[str, Any]) -> None:
        for key, wire in sorted(wires.items()):
            if published.get(key) != wire:
                await stats_topic.send(key=key.encode(), value=json.dumps(wire).encode())
                published[key] = wire

    @app.timer(interval=settings.stats_publish_interval_seconds)
    async def publish_partition_stats() -> None:
        await publish_deal_snapshots(eager=False)
        await send_snapshots({f"r{p}": reps.snapshot(p).to_wire() for p in reps.owned})
        export_gauges()
        publish_rounds[0] += 1

    @app.task
    async def wake_on_shared_facts() -> None:
        """What other workers publish can let this one go on (their processed days, their
        team sums at a boundary): a tick to one of its own partitions runs the processor."""
        while True:
            await feed.changed.wait()
            feed.changed.clear()
            if processor.rep_parts:
                await rep_ticks.send(value=b"{}", partition=min(processor.rep_parts))

    def rule_time() -> float | None:
        moment = processor.rep_frontier.value
        return None if moment == float("-inf") else moment

    def export_gauges() -> None:
        deals.invalidate_stats()
        now = rule_time()
        if now is not None and reps.owned:
            kpis.export(build_report(deals, reps, now), reps)
            metrics.event_time_watermark.set(now)
        for rule, count in deals.firing().items():
            metrics.open_alerts.labels(rule).set(count)
        for tp, offset in list(offsets.items()):
            highwater = app.consumer.highwater(tp) if app.consumer else None
            if highwater is not None:
                lag = max(0, highwater - offset - 1)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    def side_partitions(tps: set[TP]) -> tuple[set[int], set[int]]:
        deal_topics = {names.deals, deal_events.get_topic_name()}
        rep_topics = {names.activities, rep_events.get_topic_name()}
        return (
            {tp.partition for tp in tps if tp.topic in deal_topics},
            {tp.partition for tp in tps if tp.topic in rep_topics},
        )

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's signal typing
    async def on_assigned(app_: faust.App, assigned: set[TP], **_: Any) -> None:
        # indexed after recovery, all in one scan of the deals table (see DealEngine.expect)
        processor.expect(*side_partitions(assigned))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's signal typing
    async def on_revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        lost_deals, lost_reps = side_partitions(revoked)
        processor.revoke(lost_deals, lost_reps)
        processor.forget_sources(
            f"{roles[tp.topic]}:{tp.partition}" for tp in revoked if tp.topic in roles
        )
        if lost_reps:
            rep_store.forget()
            bucket_store.forget()
        for partition in lost_deals:
            published.pop(f"p{partition}", None)
        for partition in lost_reps:
            published.pop(f"r{partition}", None)
        for tp in revoked:
            offsets.pop(tp, None)
            tick_offsets.pop(tp, None)
            paused.discard(tp)
        consumer = app.consumer
        if isinstance(consumer, FastPathConsumer):
            consumer.forget(revoked)

    @app.task
    async def run_feed() -> None:
        await feed.run()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(
            generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def recovered() -> bool:
        tables: Any = app.tables  # TableManager; its interface type lacks ``recovery``
        return app.rebalancing is False and tables.recovery.completed.is_set()

    def is_ready() -> bool:
        """Recovered, and making progress (docs/operations.md, *Health*)."""
        return recovered() and health_now[0].progressing

    # Read at every scrape, so the gauge is true without anyone polling /ready.
    metrics.ready.set_function(lambda: 1.0 if is_ready() else 0.0)

    watched = set(roles) | set(sides)
    tick_topic = rep_ticks.get_topic_name()
    health_now: list[Health] = [watch.judge(time.time(), (0,), None, None)]
    heartbeat = [time.monotonic()]  # when the event loop last judged health

    def producer_failure() -> str | None:
        """Why the producer can no longer send anything, or None."""
        producer: Any = app.producer
        if producer is None:
            return None
        for service in (producer, producer.buffer):
            if service.crashed:
                return f"producer failed: {service.crash_reason!r}"
        client = getattr(producer, "_producer", None)  # the aiokafka producer, once started
        sender = getattr(getattr(client, "_sender", None), "sender_task", None)
        if sender is not None and sender.done() and not app.should_stop:
            return "producer failed: its sender task ended"
        return None

    def work_waiting() -> tuple[tuple[int, ...], str | None, dict[str, tuple[int, int]]]:
        """What moves when the worker progresses, what there is to do (None: idle), and
        the partitions that must be read now: partition -> (next offset, messages behind)
        of each input and internal partition not held back."""
        tables: Any = app.tables
        recovery = tables.recovery
        generation = int(app.consumer_generation_id or 0)
        restored = recovered_to(recovery.active_offsets, recovery.standby_offsets)
        position = (records_read[0], restored, generation)
        if not recovered():
            return position, "a rebalance or table recovery", {}
        consumer = app.consumer
        assigned = consumer.assignment() if consumer else set()
        if assigned and isinstance(consumer, FastPathConsumer):
            silent = time.monotonic() - consumer.fetched_at
            if silent > FETCH_SILENCE_SECONDS:  # a fetch returns every second, records or not
                return position, f"a consumer that has not fetched for {silent:.0f}s", {}
        lag, ticks_assigned = 0, False
        behind: dict[str, tuple[int, int]] = {}
        for tp in assigned:
            if tp.topic == tick_topic:
                ticks_assigned = True
                read = tick_offsets.get(tp)
                next_read = read + 1 if read is not None else next_offset(tp)
            elif tp.topic in watched:
                next_read = next_offset(tp)
            else:
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None:
                waiting = highwater - next_read
                lag += max(0, waiting)
                if tp.topic != tick_topic and tp not in paused and waiting > TAIL_MARKERS:
                    behind[f"{tp.topic}:{tp.partition}"] = (next_read, waiting)
        if lag:
            return position, f"{lag} messages behind the high watermarks", behind
        unsent = app.producer.buffer.size if app.producer else 0
        if unsent:
            return position, f"{unsent} records in the producer's buffer", behind
        buffered = len(processor.deal_buffer) + len(processor.rep_buffer)
        if buffered and ticks_assigned:  # ticks move time (and read offsets) while they wait
            return position, f"{buffered} records waiting for event time", behind
        return position, None, behind

    def judge_health() -> Health:
        position, work, behind = work_waiting()
        previous = health_now[0]
        health = health_now[0] = watch.judge(
            time.time(), position, work, producer_failure(), behind
        )
        heartbeat[0] = time.monotonic()
        metrics.stalled_seconds.set(health.waiting_seconds)
        metrics.delivery_wait_seconds.set(health.delivery_wait_seconds)
        if (health.progressing, health.live) != (previous.progressing, previous.live):
            event = "worker_progressing" if health.progressing else "worker_stalled"
            if not health.live:
                event = "worker_stuck"
            log.warning(
                event,
                reason=health.reason,
                waiting_seconds=round(health.waiting_seconds, 1),
                live=health.live,
            )
        return health

    metrics.live.set_function(lambda: 1.0 if health_now[0].live else 0.0)

    def exit_stuck(reason: str | None, waiting: float) -> None:
        log.error(
            "worker_exit_stuck",
            reason=reason or "the event loop stopped answering",
            waiting_seconds=round(waiting, 1),
            exit_status=EXIT_STUCK,
        )
        os._exit(EXIT_STUCK)  # no flush, no commit: what is unacknowledged is read again

    @app.timer(interval=1.0)
    async def watch_health() -> None:
        health = judge_health()
        if health.exit:
            exit_stuck(health.reason, health.waiting_seconds)

    def watch_the_loop() -> None:
        """A thread of its own: an event loop blocked in a call (no timer runs) is stuck
        too; exit once it has not judged health for exit_after_seconds."""
        limit = settings.health.exit_after_seconds
        while True:
            time.sleep(1.0)
            silent = time.monotonic() - heartbeat[0]
            if limit and silent >= limit:
                exit_stuck(None, silent)

    @app.task
    async def start_loop_watchdog() -> None:
        heartbeat[0] = time.monotonic()
        threading.Thread(target=watch_the_loop, name="salespulse-watchdog", daemon=True).start()

    @app.page("/progress")
    async def progress_page(web: Any, request: Any) -> Any:
        """What this worker has read: the last offset per input and internal partition,
        the messages behind its own view of the high watermarks, and how far event time
        has come on each side (and which inputs hold it there)."""
        lag = 0
        assigned = app.consumer.assignment() if app.consumer else set()
        for tp in assigned:
            if tp.topic not in watched:
                continue
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - next_offset(tp))
        processed = {f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()}
        return web.json(
            {
                "lag": lag,
                "assigned": len(assigned),
                "ready": is_ready(),
                "health": health_now[0].to_wire(),
                "processed": processed,
                "buffered": len(processor.deal_buffer) + len(processor.rep_buffer),
                "frontier": {
                    "deal": processor.deal_frontier.value,
                    "rep": processor.rep_frontier.value,
                },
                "waiting_for": processor.rep_frontier.lagging()[:20],
                "bounds": {
                    side: {
                        s: (b.at, b.idle) if (b := frontier.bound_of(s)) is not None else None
                        for s in sorted(frontier.sources)
                    }
                    for side, frontier in (
                        ("deal", processor.deal_frontier),
                        ("rep", processor.rep_frontier),
                    )
                },
                "shared_view_loaded": feed.caught_up.is_set(),
                "deal_cap": processor.stats_cap(),
                "deal_processed": processor.deal_processed(),
                "rep_judged": processor.rep_judged,
                "snapshots": {p: s.processed for p, s in view.snapshots.items()},
                "team_sums": len(view.team_sums),
                "unsent": app.producer.buffer.size if app.producer else 0,
                "publish_rounds": publish_rounds[0],
                "shared_view": feed.positions,
                "held_back": sorted(f"{tp.topic}:{tp.partition}" for tp in paused),
                "partitions": (
                    app.consumer.partition_report(
                        {tp for tp in assigned if tp.topic in watched or tp.topic == tick_topic}
                    )
                    if isinstance(app.consumer, FastPathConsumer)
                    else {}
                ),
            }
        )

    @app.page("/kpis")
    async def kpis_page(web: Any, request: Any) -> Any:
        """The KPI report (as ``replay --report`` writes it) of this worker's state, as of
        ``?as_of=<RFC 3339>`` or the rule time of now; only with ``Authorization: Bearer
        <kpis_token>``."""
        token = settings.kpis_token.get_secret_value() if settings.kpis_token else ""
        if not token:
            return web.json({"error": "/kpis is off: set kpis_token to enable it"}, status=403)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json({"error": "a valid bearer token is required"}, status=401)
        raw = request.query.get("as_of")
        if raw:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        else:
            now = rule_time()
            if now is None:
                return web.json({"error": "no events yet"}, status=503)
            moment = now
        return web.json(build_report(deals, reps, moment))

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        """200 once the tables are recovered and while the worker makes progress."""
        ready = is_ready()
        health = health_now[0]
        body = {"ready": ready, "recovered": recovered(), **health.to_wire()}
        return web.json(body, status=200 if ready else 503)

    @app.page("/live")
    async def live_page(web: Any, request: Any) -> Any:
        """200 unless the worker is stuck (health.stuck_seconds without progress while it
        has work, or a failed producer): a liveness probe restarts it."""
        health = health_now[0]
        return web.json(health.to_wire(), status=200 if health.live else 503)

    # alert lifecycle and delivery to people (docs/notifications.md)
    register_notifications(app, settings, metrics, view, org_loaded=feed.caught_up)

    return Worker(app=app, processor=processor, metrics=metrics, layout=layout)
