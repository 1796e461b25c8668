"""structlog set-up: JSON lines (or console) with snake_case event names and ids as fields;
the Kafka client's repeated complaints held to one line per kind and interval."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO, cast

import structlog

__all__ = [
    "KAFKA_CLIENT_LOGGERS",
    "RepeatLimit",
    "configure_logging",
    "get_logger",
    "limit_kafka_client_repeats",
]

#: aiokafka's loggers that repeat themselves while a broker is away (each reconnect
#: attempt of each client logs: about 200 lines a second in a test outage).
KAFKA_CLIENT_LOGGERS = (
    "aiokafka",  # the client's
    "aiokafka.conn",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.sender",
)


class RepeatLimit(logging.Filter):
    """Lets each kind of message (its logger and format string) through at most once per
    ``every`` seconds; the next one let through says how many were held back since. The
    first of a kind always passes, so nothing new is ever hidden."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self._passed: dict[tuple[str, str], float] = {}
        self._held: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = self.clock()
        passed = self._passed.get(kind)
        if passed is not None and now - passed < self.every:
            self._held[kind] += 1
            return False
        self._passed[kind] = now
        held = self._held.pop(kind, 0)
        if held:  # no % in the text added: the record's own args format as before
            record.msg = f"{record.msg} [{held} more like it held back over {self.every:.0f}s]"
        return True


def limit_kafka_client_repeats(every: float = 10.0) -> RepeatLimit:
    """Hold the Kafka client's repeated log lines (a broker away: every reconnect of every
    client logs) to one per kind per ``every`` seconds; returns the filter."""
    limit = RepeatLimit(every)
    for name in KAFKA_CLIENT_LOGGERS:  # the same logger objects aiokafka's modules get
        logging.getLogger(name).addFilter(limit)
    return limit


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # PrintLogger only writes and flushes: the stand-in need not be a whole TextIO
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
    limit_kafka_client_repeats()


class _CurrentStderr:
    """``sys.stderr`` as it is when a line is written, not as it was at configuration
    (whoever swaps it, a test harness capturing output or a daemonizing supervisor,
    would otherwise leave the loggers writing to a closed stream)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
