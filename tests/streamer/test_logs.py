"""The Kafka client's repeated complaints are held to one line per kind and interval."""

from __future__ import annotations

import logging

from streamer.logs import KAFKA_CLIENT_LOGGERS, RepeatLimit, limit_kafka_client_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_each_kind_passes_once_per_interval_then_says_how_many_were_held():
    clock = Clock()
    limit = RepeatLimit(every=10.0, clock=clock)
    unable = "Unable connect to node with id %s: %s"
    passed = []
    for tick in range(250):  # 25 s of a reconnect loop logging every 0.1 s
        clock.now = tick / 10
        line = record(unable, 1, "[Errno 111] Connect call failed")
        if limit.filter(line):
            passed.append((clock.now, line.getMessage()))
    assert [t for t, _ in passed] == [0.0, 10.0, 20.0]
    assert passed[0][1] == "Unable connect to node with id 1: [Errno 111] Connect call failed"
    assert passed[1][1].endswith("[99 more like it held back over 10s]")
    # another kind (or logger) is never held back by the first
    assert limit.filter(record("Unable to update metadata from %r", [1]))
    assert limit.filter(record(unable, 1, "x", name="aiokafka.conn"))


def test_the_kafka_client_loggers_get_the_limit():
    limit = limit_kafka_client_repeats(every=10.0)
    try:
        for name in KAFKA_CLIENT_LOGGERS:
            assert limit in logging.getLogger(name).filters, name
    finally:
        for name in KAFKA_CLIENT_LOGGERS:
            logging.getLogger(name).removeFilter(limit)
