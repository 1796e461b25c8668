"""The partitioner hash kept in the domain (``streamer.core.routing.murmur2``) gives the
Kafka client's numbers, so replay and the worker put a key where a producer does."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as client_murmur2

from streamer.core.routing import murmur2, partition_for


def _keys() -> list[bytes]:
    rng = random.Random(20240607)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde", "d\u00e9al-\u4e00".encode()]
    for _ in range(400):
        size = rng.randrange(0, 40)
        keys.append(bytes(rng.randrange(256) for _ in range(size)))
    for _ in range(100):
        keys.append(f"deal-{rng.randrange(10**9)}".encode())
    return keys


def test_murmur2_matches_the_kafka_clients() -> None:
    for key in _keys():
        assert murmur2(key) == client_murmur2(key), key


def test_partition_for_matches_the_clients_default_partitioner() -> None:
    for key in _keys()[-100:]:
        for partitions in (1, 3, 8, 12):
            expected = (client_murmur2(key) & 0x7FFFFFFF) % partitions
            assert partition_for(key.decode(), partitions) == expected
