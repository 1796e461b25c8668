"""Faults between a worker and Kafka, made real: a broker of the test's own that it stops
and starts, and a TCP proxy in front of it that can stop forwarding a client's bytes
without closing anything (a producer whose requests are never answered)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from streamer.devtools.devkafka import kafka_down, kafka_up
from streamer.settings import Settings, load_settings

from .kafka_helpers import free_port

__all__ = ["FreezingProxy", "broker_settings", "own_broker"]

PRODUCE_API_KEY = 0  # Kafka protocol: the Produce request


def broker_settings(data_dir: Path, port: int) -> Settings:
    """What ``kafka up`` / ``kafka down`` need to run a broker of a test's own."""
    return load_settings(kafka_bootstrap=f"127.0.0.1:{port}", data_dir=data_dir)


@contextlib.contextmanager
def own_broker(
    data_dir: Path, port: int | None = None, advertised_port: int | None = None
) -> Iterator[Settings]:
    """A broker of the test's own on ``port`` (a free one by default) and its own data
    directory (never the shared broker), stopped and removed afterwards; yields the
    settings ``kafka up`` took. With ``advertised_port`` clients are sent there (a
    proxy, which must already listen: ``kafka up`` asks the broker through it)."""
    settings = broker_settings(data_dir, port or free_port())
    kafka_up(settings, timeout=120, advertised_port=advertised_port)
    try:
        yield settings
    finally:
        kafka_down(settings, purge=True)


class FreezingProxy:
    """Forwards TCP connections from ``port`` to ``target_port``, in a thread of its own.

    After :meth:`freeze_produce`, a connection on which a Produce request arrives from a
    client whose client id starts with the given prefix is frozen: from that request
    on, nothing more is forwarded in either direction, and both sockets stay open. To
    the client the broker has simply stopped answering, which no timeout below the
    producer's request timeout (Faust's default: 20 minutes) notices. Other clients, and
    the same client's other connections (a consumer's), go on as before."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self.frozen_connections = 0
        self._prefix: bytes | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freezing-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._closing: asyncio.Event | None = None  # set when the proxy shuts down
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> FreezingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            # frozen connections stop waiting, the others see their sockets closed: every
            # handler ends by itself
            assert self._closing is not None and self._server is not None
            self._closing.set()
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=5)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def freeze_produce(self, client_id_prefix: str) -> None:
        self._prefix = client_id_prefix.encode()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._closing = asyncio.Event()
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        try:
            broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, broker_w}
        frozen = asyncio.Event()

        async def requests() -> None:
            while True:
                head = await client_r.readexactly(4)
                (size,) = struct.unpack(">i", head)
                body = await client_r.readexactly(size)
                if self._prefix is not None and self._is_frozen_produce(body):
                    self.frozen_connections += 1
                    frozen.set()
                    return  # hold it and everything after it; close nothing
                broker_w.write(head + body)
                await broker_w.drain()

        async def answers() -> None:
            while not frozen.is_set():
                data = await broker_r.read(65536)
                if not data:
                    return
                if frozen.is_set():
                    return
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(requests()), asyncio.ensure_future(answers())]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if frozen.is_set():
            assert self._closing is not None
            await self._closing.wait()  # frozen until the proxy stops: the sockets stay open
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (client_w, broker_w):
            writer.close()
            self._writers.discard(writer)

    def _is_frozen_produce(self, body: bytes) -> bool:
        """A request header: api_key int16, api_version int16, correlation_id int32,
        client_id as an int16 length and bytes."""
        if len(body) < 10:
            return False
        api_key, _, _, length = struct.unpack(">hhih", body[:10])
        client_id = body[10 : 10 + length] if length > 0 else b""
        assert self._prefix is not None
        return api_key == PRODUCE_API_KEY and client_id.startswith(self._prefix)
