"""What the worker's tables rely on in Faust's table and RocksDB store (faust-streaming
0.15.3): a table of ``value_type=bytes`` keeps its values as they are (in the store and on
its changelog, so recovery copies them without decoding), and a table's ``options`` set
the store's RocksDB budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from streamer.settings import RocksDBSettings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[faust.App]:
    # nothing here reaches a broker
    yield faust.App(
        "table-contract", broker="kafka://localhost:1", store="rocksdb://", datadir=str(tmp_path)
    )


def _table(app: faust.App) -> Any:
    options = RocksDBSettings(write_buffer_mib=3, max_write_buffers=2, block_cache_mib=5)
    return app.Table("deals", partitions=2, default=None, value_type=bytes,
                     options=options.table_options())  # fmt: skip


def test_bytes_values_are_stored_and_sent_as_they_are(app: faust.App) -> None:
    table = _table(app)
    assert (table.key_serializer, table.value_serializer) == ("json", "raw")
    topic = table.changelog_topic
    assert (topic.key_serializer, topic.value_serializer) == ("json", "raw")
    store = table.data
    value = b"\x01[1,2]"
    assert store._encode_value(value) == value
    assert store._decode_value(value) == value
    assert store._encode_key("deal-1") == json.dumps("deal-1").encode()


def test_the_options_reach_rocksdb(app: faust.App) -> None:
    store = _table(app).data
    assert isinstance(store, RocksDBStore)
    options = store.rocksdb_options
    assert options.write_buffer_size == 3 * 2**20
    assert options.max_write_buffer_number == 2
    assert options.block_cache_size == 5 * 2**20


def test_recovery_writes_changelog_values_without_decoding_them(app: faust.App) -> None:
    table = _table(app)
    store = table.data
    topic = table.changelog_topic.get_topic_name()
    value = b"\x01not json at all"

    def event(offset: int) -> Any:
        message = SimpleNamespace(
            tp=TP(topic, 1), offset=offset, key=b'"deal-1"', value=value, partition=1
        )
        return SimpleNamespace(message=message)

    def refuse(_: Any) -> Any:
        raise AssertionError("decoded")

    store.apply_changelog_batch([event(7)], to_key=refuse, to_value=refuse)
    assert store._db_for_partition(1).get(b'"deal-1"') == value
    assert store.persisted_offset(TP(topic, 1)) == 7
