"""What the consumer fast path (``streamer.faust_app.fastpath``) reaches into in Faust and
mode: private attributes and functions no release promises to keep.

The fast path is written against the faust-streaming version the project pins; each test
here names one thing it relies on, so an upgrade that renames or reshapes it fails here,
by name, rather than in a live run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.consumer import Consumer as BaseConsumer
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from streamer.faust_app import fastpath


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[faust.App]:
    # a consumer is built without connecting: nothing here reaches a broker
    yield faust.App(
        "fastpath-contract", broker="kafka://localhost:1", store="memory://", datadir=str(tmp_path)
    )


@pytest.fixture
def consumer(app: faust.App) -> Any:
    return app.consumer


def test_the_fast_path_consumer_extends_faust_aiokafka_consumer() -> None:
    assert issubclass(fastpath.FastPathConsumer, AIOKafkaConsumer)


def test_drain_messages_is_a_coroutine_method_taking_the_fetcher() -> None:
    assert inspect.iscoroutinefunction(AIOKafkaConsumer._drain_messages)
    assert _parameters(AIOKafkaConsumer._drain_messages) == ["self", "fetcher"]


def test_add_gap_is_a_coroutine_method_taking_a_partition_and_offsets() -> None:
    assert inspect.iscoroutinefunction(BaseConsumer._add_gap)
    assert _parameters(BaseConsumer._add_gap) == ["self", "tp", "offset_from", "offset_to"]


def test_the_fetch_helpers_keep_their_shapes() -> None:
    assert inspect.iscoroutinefunction(BaseConsumer._wait_next_records)
    assert _parameters(BaseConsumer._wait_next_records) == ["self", "timeout"]
    assert _parameters(BaseConsumer._to_message) == ["self", "tp", "record"]
    assert _parameters(BaseConsumer.highwater) == ["self", "tp"]
    assert inspect.iscoroutinefunction(BaseConsumer.commit)
    assert callable(BaseConsumer.wait_first)
    from faust.transport.consumer import CONSUMER_FETCHING

    assert isinstance(CONSUMER_FETCHING, str)


def test_read_offsets_are_a_mapping_by_partition(consumer: Any) -> None:
    read_offset = consumer._read_offset
    assert callable(read_offset.__getitem__) and callable(read_offset.__setitem__)
    assert read_offset[("topic", 0)] is None  # a partition not read yet: no offset


def test_ack_bookkeeping_is_per_partition(consumer: Any) -> None:
    tp = ("topic", 0)
    assert consumer._committed_offset[tp] is None
    assert isinstance(consumer._acked[tp], list)
    assert isinstance(consumer._acked_index[tp], set)
    assert isinstance(consumer._n_acked, int)
    assert consumer._commit_every is None or isinstance(consumer._commit_every, int)


def test_unacked_messages_is_a_set(consumer: Any) -> None:
    unacked = consumer._unacked_messages
    assert callable(unacked.add) and callable(unacked.discard)


def test_waiting_for_ack_and_the_flow_attributes_exist(consumer: Any) -> None:
    assert hasattr(consumer, "_waiting_for_ack")
    assert isinstance(consumer._buffered_partitions, set)
    assert isinstance(consumer.suspend_flow, asyncio.Event)
    assert isinstance(consumer.flow_active, bool)
    assert callable(consumer._stopped.is_set)
    assert callable(consumer.diag.set_flag) and callable(consumer.diag.unset_flag)
    assert callable(consumer.scheduler.iterate)
    assert isinstance(consumer.consumer_stopped_errors, tuple)


def test_the_app_exposes_generation_flow_control_and_the_producer_buffer(app: Any) -> None:
    assert isinstance(app.consumer_generation_id, int)
    assert callable(app.flow_control._suspend.is_set)
    buffer = app.producer.buffer
    assert isinstance(buffer.size, int) and isinstance(buffer.max_messages, int)
    assert callable(buffer.wait_until_ebb)
    assert callable(app.topics.acks_enabled_for)
    assert _parameters(app.create_event) == ["key", "value", "headers", "message"]
    assert hasattr(app.monitor, "stream_inbound_time")
    assert callable(app.monitor.track_tp_end_offset)


def test_the_transport_consumer_class_can_be_replaced(app: Any) -> None:
    assert isinstance(app.transport.Consumer, type)
    assert issubclass(app.transport.Consumer, AIOKafkaConsumer)


def test_current_event_is_a_context_variable() -> None:
    from contextvars import ContextVar

    from faust.streams import _current_event

    assert isinstance(_current_event, ContextVar)
    token = _current_event.set(None)
    _current_event.reset(token)


def test_ack_lock_is_a_lock() -> None:
    from faust.types.tuples import ack_lock

    assert callable(ack_lock.__enter__) and callable(ack_lock.__exit__)
    with ack_lock:
        pass


def test_notify_sets_a_future_once() -> None:
    from mode.utils.futures import notify

    assert _parameters(notify) == ["fut", "result"]
    notify(None)  # no one waiting: nothing to do

    async def wake() -> object:
        future = asyncio.get_running_loop().create_future()
        notify(future, "done")
        notify(future, "again")  # already set: ignored
        return await future

    assert asyncio.run(wake()) == "done"


def test_the_seek_after_a_stopped_flow_keeps_its_shape(consumer: Any, app: Any) -> None:
    # perform_seek: Faust's seek to committed offsets, which FastPathConsumer extends with
    # a rewind of the stream partitions that have none (tests/integration/
    # test_fastpath_rewind_live.py runs it against the broker)
    from aiokafka import TopicPartition
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert inspect.iscoroutinefunction(BaseConsumer.perform_seek)
    assert _parameters(BaseConsumer.perform_seek) == ["self"]
    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread.seek_to_beginning)
    assert isinstance(consumer._new_topicpartition("topic", 0), TopicPartition)
    assert isinstance(app.tables.changelog_topics, set)
    assert isinstance(app.conf.consumer_auto_offset_reset, str)


async def test_the_partition_report_reads_the_clients_partition_state() -> None:
    # FastPathConsumer.partition_report (what /progress shows of each partition)
    from aiokafka.consumer.fetcher import Fetcher
    from aiokafka.consumer.subscription_state import Assignment, TopicPartitionState
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert "_consumer" in AIOKafkaConsumerThread.__annotations__
    assert callable(Assignment.state_value)
    state = TopicPartitionState(assignment=None)
    assert (state._position, state.paused, state.awaiting_reset, state.highwater) == (
        None,
        False,
        False,
        None,
    )
    assert hasattr(state, "_status")
    assert "_records" in inspect.getsource(Fetcher.__init__)
