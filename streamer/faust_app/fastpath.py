"""A faster hand-over of fetched messages in Faust's consumer (faust-streaming 0.15.3).

Two changes to Faust's drain loop (``Consumer._drain_messages``), both opt-in through
:func:`install`:

**Per-message fast path.** Faust hands every fetched message to the conductor through
``wait_first(callback(message), suspend_flow.wait())``, so that a rebalance (which
suspends the flow) can abandon a hand-over that is blocked. That costs four tasks, an
``asyncio.wait`` and their cancellation for *every* message. The hand-over can only block
in two places: flow control (suspended during a rebalance) and the producer buffer (over
its limit while a stream's side effects are sent). When neither is the case at the moment
the message is handed over, the callback runs to its end without waiting for anything,
and ``await callback(message)`` is exactly what the ``wait_first`` would have done, minus
the tasks. Otherwise the original path is taken.

**Batch hand-over.** For topics registered with :func:`install` (``batch_handlers``), the
whole fetched batch of one topic-partition is handed to a coroutine
``handler(tp, messages)`` instead of going message by message through the conductor, a
stream queue, an :class:`~faust.Event` and the agent's stream iterator (most of a bare
agent's time per message, see ``bench/README.md``). The guarantees of Faust's path are
kept, each in the same way Faust keeps it:

* *Offsets*: a message is acked (``Consumer.ack``'s bookkeeping: ``_acked``,
  ``_acked_index``, ``_n_acked``) only when a handler returns it as processed, i.e. after
  its side effects are delivered and its state written; Faust commits the highest
  offset below which every message is acked, so a message the handler holds on to
  (waiting for event time) keeps the committed offset before it. Gaps in the offsets (compaction,
  transaction markers) are recorded with ``_add_gap`` exactly as the drain loop does for
  single messages, read offsets advance the same way, and a commit is started every
  ``broker_commit_every`` acks as in Faust's loop. A handler that raises acks nothing: the
  drain loop fails as it does in Faust, and the batch is read again (at least once).
* *Rebalance*: a batch is only started while the consumer's flow is active
  (``suspend_flow`` not set, app flow control not suspended) and the consumer generation
  is the one the batch was fetched in; otherwise it is dropped unacked, as Faust's
  ``getmany`` and streams drop what they hold when the flow stops, and read again after
  the seek to the committed offsets (:meth:`FastPathConsumer.perform_seek`, which also
  rewinds a partition with no committed offset: the client's seek skips those). While
  a handler runs, its messages are in the
  consumer's ``_unacked_messages``, so ``on_partitions_revoked`` (``wait_empty``) waits for
  the batch to finish, like for a stream's event in flight, before the revocation
  signal is sent and the partition handed away.
* *Producer back-pressure*: before a batch, the loop waits while the producer buffer is
  over its limit (``wait_until_ebb``, abandoned if the flow is suspended), as the
  conductor does before each message; a batch is at most ``max_batch`` messages long, so
  what one batch adds to the buffer is bounded.
* *Table context*: Faust's tables take the partition of a changelog message, and the
  RocksDB store its partition database, from the current event
  (``faust.streams.current_event``). Around the handler that context variable holds an
  :class:`~faust.Event` of the batch's last message, so table reads and writes inside the
  handler go to the batch's partition, as inside an agent.

Only the messages of registered topics take this path; every other topic goes through the
conductor as before. A registered topic must still be subscribed (``app.topics.add``),
and no agent should read it (it would see nothing).

:func:`install` makes an app's transport create :class:`FastPathConsumer`; the loop below
is Faust's, changed only where marked, so it can go upstream as it is.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from time import monotonic
from typing import Any, cast

from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode import Service
from mode.utils.futures import notify

__all__ = ["THROUGHPUT_SETTINGS", "BatchHandler", "FastPathConsumer", "RunHandler", "install"]

THROUGHPUT_SETTINGS: dict[str, Any] = {
    # Fetch more per partition and round trip (Faust's default is 1 MiB) and let a stream
    # buffer more before fetching pauses (default 4,096), so the agents are not left
    # waiting on the consumer thread between batches (bench/README.md).
    "consumer_max_fetch_size": 4 * 1024 * 1024,
    "stream_buffer_maxsize": 65_536,
}

#: ``handler(tp, messages)``: takes the messages (of the one partition ``tp``, in offset
#: order) and returns the messages, of this batch or earlier ones and of any partition,
#: that are now fully processed (every side effect delivered, the state written): only
#: those are acknowledged. A message it holds on to is acknowledged when a later call
#: returns it, or never (it is read again after a restart or by the next owner).
BatchHandler = Callable[[TP, list[Message]], Awaitable[list[Message]]]

#: ``run()``: called once the batches of a fetch have been handed over (and after every
#: ``RUN_EVERY`` messages of a large one); returns, like a batch handler, the messages now
#: fully processed. A handler may then only read, leaving the processing, the delivery of
#: effects and the state writes to one run per fetch: one broker round trip for the
#: batches of every partition fetched, not one per partition.
RunHandler = Callable[[], Awaitable[list[Message]]]

#: Upper bound on the messages of one hand-over (a fetch of 4 MiB may hold ten thousand).
MAX_BATCH = 2_000

#: Messages handed over after which the run is called even within a fetch.
RUN_EVERY = 20_000


class FastPathConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with the hand-over fast path and the batch hand-over."""

    #: topic name -> batch handler, and the run after a fetch (set by :func:`install`).
    batch_handlers: Mapping[str, BatchHandler] = {}
    run_handler: RunHandler | None = None
    max_batch: int = MAX_BATCH
    run_every: int = RUN_EVERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[TP, set[int]] = {}  # offsets handed to a handler, not done yet
        self._waiting: dict[TP, list[Message]] = {}  # done, behind a held one
        #: when a fetch last returned (at least every second while the drain loop runs,
        #: records or not): the worker's health watch sees a consumer that stopped fetching
        self.fetched_at = monotonic()
        self._since_run = 0  # messages handed over since the last run
        self._held_back: set[TP] = set()  # paused by hold_back, not by Faust

    async def _run(self) -> None:
        """The run after handed-over batches (see :data:`RunHandler`)."""
        self._since_run = 0
        run = self.run_handler
        if run is not None:
            self._release(await run())

    async def _fetch(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany``, but the records of a batch topic's partition come as one
        list of messages (first, in chunks of ``max_batch``), the others one by one."""
        records, active_partitions = await self._wait_next_records(timeout)
        self.fetched_at = monotonic()
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as ex:
                self.log.warning(f"exception performing seek when flow not active {ex}")
            return
        to_message = self._to_message
        handlers = self.batch_handlers
        single = {}
        for tp, tp_records in records.items():
            if tp.topic not in handlers:
                single[tp] = tp_records
                continue
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                return
            if self._deliverable(tp, active_partitions):
                step = self.max_batch
                for start in range(0, len(tp_records), step):
                    yield tp, [to_message(tp, r) for r in tp_records[start : start + step]]
        for tp, record in self.scheduler.iterate(single):  # Faust's getmany from here
            if not self.flow_active:
                break
            if self.app.consumer_generation_id != generation_id:
                break
            if self._deliverable(tp, active_partitions):
                yield tp, to_message(tp, record)

    async def perform_seek(self) -> None:
        """Faust's seek of every assigned partition to its committed offset, and of each
        stream partition with none (or 0) to its start under the reset policy.

        Faust drops what a fetch returned while the flow is stopped (a rebalance under
        way) and counts on this seek to read it again; but the client's
        ``seek_to_committed`` leaves a partition with no committed offset (or 0) where it
        is, after the dropped records, and they were never read: a fresh group's backlog
        lost whole partitions to a rebalance in the fetch's moment (two workers starting
        together). Changelog partitions keep Faust's handling (recovery seeks them)."""
        await super().perform_seek()
        if self.app.conf.consumer_auto_offset_reset != "earliest":
            return
        changelogs = self.app.tables.changelog_topics
        unstarted = [
            self._new_topicpartition(tp.topic, tp.partition)  # the client's own type
            for tp in self.assignment()
            if tp.topic not in changelogs and not self._read_offset.get(tp)
        ]
        if unstarted:
            await self._thread.seek_to_beginning(*unstarted)

    def hold_back(self, tps: list[TP]) -> None:
        """Pause ``tps`` for the worker (one that runs ahead of event time). Unlike Faust's
        pauses (a rebalance, a recovery: what a fetch returned is dropped and read again
        after the seek), what a fetch already returned of them is still delivered: the
        client has moved past it and no seek follows."""
        self._held_back.update(tps)
        self.pause_partitions(tps)

    def let_go(self, tps: list[TP]) -> None:
        """Resume what :meth:`hold_back` paused."""
        self._held_back.difference_update(tps)
        self.resume_partitions(tps)

    def _deliverable(self, tp: TP, active_partitions: set[TP] | None) -> bool:
        """Faust's ``getmany`` test of a fetched partition (and its end-offset tracking),
        and a partition the worker holds back (:meth:`hold_back`)."""
        if (
            active_partitions is None
            or tp in active_partitions
            or tp in self._buffered_partitions
            or tp in self._held_back
        ):
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            return True
        return False

    def _may_hand_over(self, generation_id: int | None) -> bool:
        return (
            not self.suspend_flow.is_set()
            and not self.app.flow_control._suspend.is_set()
            and self.app.consumer_generation_id == generation_id
        )

    async def _hand_over_batch(self, tp: TP, messages: list[Message]) -> bool:
        """Run the batch handler of ``tp``'s topic on ``messages``; False if the flow
        stopped before it could start (the batch is then dropped unacked)."""
        r_offset = self._read_offset[tp]
        if r_offset is not None:
            messages = [m for m in messages if m.offset >= r_offset]
        if not messages:
            return True
        if self.app.topics.acks_enabled_for(tp.topic):
            # as the drain loop does message by message (including its ``r_offset`` test)
            previous = r_offset
            for message in messages:
                if previous and message.offset - previous > 1:
                    await self._add_gap(tp, previous + 1, message.offset)
                previous = message.offset
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()
        generation_id = messages[0].generation_id
        buffer = self.app.producer.buffer
        while True:  # the conductor's acquire_flow_control + wait_until_producer_ebb
            if not self._may_hand_over(generation_id):
                return False
            if buffer.size <= buffer.max_messages:
                break
            await self.wait_first(buffer.wait_until_ebb(), self.suspend_flow.wait())

        unacked = self._unacked_messages
        for message in messages:  # in flight: a rebalance's wait_empty waits for them
            message.tracked = True
            unacked.add(message)
        last = messages[-1]
        event = self.app.create_event(last.key, last.value, last.headers, last)
        token = _current_event.set(weakref.ref(event))
        try:
            done = await self.batch_handlers[tp.topic](tp, messages)
        except BaseException:
            for message in messages:  # not acked: read again after the seek/restart
                unacked.discard(message)
            raise
        finally:
            _current_event.reset(token)
        held = self._held.setdefault(tp, set())
        for message in messages:
            # held by the handler until processed: acked then, through ``done``; a
            # rebalance must not wait for them (they are read again by the next owner)
            unacked.discard(message)
            held.add(message.offset)
        self._release(done)
        self._since_run += len(messages)
        self._read_offset[tp] = last.offset
        self.app.monitor.stream_inbound_time[tp] = monotonic()
        return True

    def _release(self, done: list[Message]) -> None:
        """Ack the done messages that no held message precedes in their partition.

        Faust commits the end of the first run of consecutive acked offsets, whatever
        precedes it: acking a message while an earlier one is still held by a handler
        would commit past the held one, and a crash would lose it. So a done message
        waits until every earlier message of its partition is done too."""
        touched: set[TP] = set()
        for message in done:
            tp = message.tp
            held = self._held.get(tp)
            if held is None or message.offset not in held:
                continue  # from before a rebalance: read again by whoever owns it now
            held.discard(message.offset)
            self._waiting.setdefault(tp, []).append(message)
            touched.add(tp)
        for tp in touched:
            waiting = self._waiting[tp]
            held = self._held[tp]
            first_held = min(held) if held else None
            ready = [m for m in waiting if first_held is None or m.offset < first_held]
            if ready:
                self._waiting[tp] = [m for m in waiting if m not in ready]
                self._ack_batch(tp, ready)

    def partition_report(self, tps: set[TP]) -> dict[str, dict[str, Any]]:
        """How each of ``tps`` stands in the fetch (a diagnosis for ``/progress``): the
        fetch position, whether Faust or the client has it paused, whether it is among
        the partitions the next fetch returns, what a handler holds of it, and the last
        offset handed over."""
        client = getattr(getattr(self, "_thread", None), "_consumer", None)
        subscription = getattr(getattr(client, "_subscription", None), "subscription", None)
        assignment = getattr(subscription, "assignment", None)
        records = getattr(getattr(client, "_fetcher", None), "_records", {})
        active = self._active_partitions
        report: dict[str, dict[str, Any]] = {}
        for tp in sorted(tps):
            # None for a partition not (or no longer) in the client's assignment
            state = assignment.state_value(tp) if assignment is not None else None
            report[f"{tp.topic}:{tp.partition}"] = {
                "position": getattr(state, "_position", None),
                "client_paused": getattr(state, "paused", None),
                "status": str(getattr(state, "_status", None)),
                "awaiting_reset": getattr(state, "awaiting_reset", None),
                "client_highwater": getattr(state, "highwater", None),
                "fetched": type(records[tp]).__name__ if tp in records else None,
                "paused": tp in self._paused_partitions,
                "active": active is None or tp in active,
                "buffered": tp in self._buffered_partitions,
                "held": len(self._held.get(tp, ())),
                "read_offset": self._read_offset.get(tp),
                "highwater": self.highwater(tp),
            }
        return report

    def held_count(self, tp: TP) -> int:
        """Messages of ``tp`` handed to a handler and not done yet."""
        return len(self._held.get(tp, ()))

    def forget(self, tps: set[TP]) -> None:
        """Partitions given away: what was held or waiting of them is read again by the
        next owner, never acked here."""
        for tp in tps:
            self._held.pop(tp, None)
            self._waiting.pop(tp, None)
            self._held_back.discard(tp)

    def _ack_batch(self, tp: TP, messages: list[Message]) -> None:
        """``Consumer.ack`` for every message of one partition's batch, in one step."""
        with ack_lock:
            unacked = self._unacked_messages
            if not self.app.topics.acks_enabled_for(tp.topic):
                for message in messages:
                    message.acked = True
                    unacked.discard(message)
                return
            committed = self._committed_offset[tp]
            acked_index = self._acked_index[tp]
            acked_for_tp = self._acked[tp]
            try:
                for message in messages:
                    if message.acked:
                        continue
                    message.acked = True
                    offset = message.offset
                    if (committed is None or offset >= committed) and offset not in acked_index:
                        unacked.discard(message)
                        acked_index.add(offset)
                        acked_for_tp.append(offset)
                        self._n_acked += 1
            finally:
                notify(self._waiting_for_ack)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        # fast path: what the hand-over could wait for
        flow_suspended = self.suspend_flow.is_set
        app_flow_suspended = self.app.flow_control._suspend.is_set
        producer_buffer = self.app.producer.buffer

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(Any, self._fetch(timeout=1.0))  # batch hand-over: was getmany
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        # --- batch hand-over ---
                        if type(message) is list:
                            if not await self._hand_over_batch(tp, message):
                                break  # the flow stopped: drop the rest of this fetch
                            if self._since_run >= self.run_every:
                                await self._run()
                            num_since_yield = 0
                            await sleep(0)
                            continue
                        # --- end of the batch hand-over ---
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102 - Faust's loop as it is
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # --- fast path ---
                            if (
                                not flow_suspended()
                                and not app_flow_suspended()
                                and producer_buffer.size <= producer_buffer.max_messages
                            ):
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            # --- end of the fast path ---
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    await ait.aclose()
                    if self._since_run:
                        # what was handed over is run, even if the flow stopped midway
                        # (as each batch was run before; a revoke has dropped what the
                        # partitions given away had buffered)
                        await self._run()
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


def install(
    app: Any,
    batch_handlers: Mapping[str, BatchHandler] | None = None,
    max_batch: int = MAX_BATCH,
    run_handler: RunHandler | None = None,
    run_every: int = RUN_EVERY,
) -> None:
    """Make ``app`` consume through :class:`FastPathConsumer` (before it starts); the
    messages of the topics in ``batch_handlers`` (topic name -> handler) are handed over
    a partition's batch at a time, and ``run_handler`` is called after each fetch."""
    app.transport.Consumer = type(
        "FastPathConsumer",
        (FastPathConsumer,),
        {
            "batch_handlers": dict(batch_handlers or {}),
            "max_batch": max_batch,
            "run_handler": staticmethod(run_handler) if run_handler is not None else None,
            "run_every": run_every,
        },
    )
