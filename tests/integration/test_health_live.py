"""Recover or exit, never hang (issue 11 item 3): a worker whose producer stops getting
answers turns unready, then not live, then exits non-zero by itself.

The hang is real: the worker talks to a broker of the test's own through a TCP proxy
(the broker advertises the proxy's port, so every connection goes through it) and the
proxy stops forwarding the worker's produce connection without closing it, as a
half-dead network path or a wedged broker would. The worker's consumer goes on
fetching; only its deliveries never complete.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from streamer.faust_app.health import EXIT_STUCK
from streamer.kafka_admin import ensure_topics
from tests.factories import created

from .kafka_faults import FreezingProxy, own_broker
from .kafka_helpers import event_bytes, free_port, isolated_settings, produce

pytestmark = pytest.mark.kafka


def page(worker, path: str) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{worker.settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_producer_that_gets_no_answers_makes_the_worker_unready_then_exit(
    make_worker, tmp_path
):
    broker_port = free_port()
    proxy = FreezingProxy(broker_port)  # the broker sends every client through it
    with proxy, own_broker(tmp_path / "broker", broker_port, advertised_port=proxy.port) as broker:
        settings = isolated_settings(
            tmp_path,
            kafka_bootstrap=broker.kafka_bootstrap,
            health={"stall_seconds": 4, "stuck_seconds": 8, "exit_after_seconds": 16},
        )
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        assert page(worker, "/live")[0] == 200
        deals = [created(f"d{i}", 0, "proposal") for i in range(5)]
        await produce(
            settings,
            [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in deals],
        )
        status, ready = page(worker, "/ready")
        assert status == 200, ready

        proxy.freeze_produce("faust")  # the worker's client id; the test's is aiokafka's
        frozen_at = time.monotonic()
        # something to deliver: a message that must go to the dead-letter topic
        await produce(settings, [(settings.topics.deals, b"bad", b"not json")])

        seen: dict[str, float] = {}
        last: dict[str, tuple[int, dict]] = {}
        assert worker.proc is not None
        while worker.proc.poll() is None:
            elapsed = time.monotonic() - frozen_at
            assert elapsed < 90, f"still running {elapsed:.0f}s after the freeze:\n{worker.tail()}"
            for path in ("/ready", "/live"):
                try:
                    status, body = page(worker, path)
                except OSError:
                    continue  # exiting
                last[path] = (status, body)
                if status == 503:
                    seen.setdefault(path, elapsed)
            time.sleep(0.2)
        exited_after = time.monotonic() - frozen_at

    print(
        f"\nproduce connections frozen: {proxy.frozen_connections}; after the freeze: "
        f"unready {seen.get('/ready', float('nan')):.1f}s, not live "
        f"{seen.get('/live', float('nan')):.1f}s, exited {exited_after:.1f}s "
        f"with status {worker.proc.returncode}"
    )
    assert proxy.frozen_connections >= 1, "the worker's producer never sent through the proxy"
    assert worker.proc.returncode == EXIT_STUCK, worker.tail()
    assert "/ready" in seen and "/live" in seen, (last, worker.tail())
    assert seen["/ready"] <= seen["/live"] <= exited_after
    assert "unacknowledged" in str(last["/ready"][1].get("reason")), last
    log = worker.log_path.read_text()
    assert "worker_exit_stuck" in log and "unacknowledged" in log
    worker.proc = None  # exited by design; nothing for the fixture to stop
