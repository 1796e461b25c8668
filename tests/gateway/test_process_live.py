"""``salespulse gateway`` as a real process: it starts, reports ready, maps a signed request,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streamer.settings import Settings
from tests.integration.kafka_helpers import Collector, worker_env

from .live import PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, gateway_settings, post
from .payloads import basic, pd_deal, pd_deal_data

pytestmark = pytest.mark.kafka


def gateway_env(settings: Settings) -> dict[str, str]:
    """The settings as a gateway process's environment, secrets included."""
    env = worker_env(settings)
    section = settings.gateway.model_dump(mode="json")
    section["pipedrive"]["password"] = PIPEDRIVE_PASSWORD
    section["hubspot"]["client_secret"] = None
    section["slack"]["signing_secret"] = None
    env["SALESPULSE_GATEWAY"] = json.dumps(section)
    return env


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:  # noqa: S310
                if json.loads(answer.read()).get("ready"):
                    return
        except OSError:
            pass
        time.sleep(0.2)  # a condition wait: the process's own /ready answer
    raise AssertionError(f"gateway not ready after {timeout}s:\n{log.read_text()}")


async def test_the_gateway_command_serves_and_stops_cleanly(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path, gateway={"host": "127.0.0.1"})
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "gateway"],
            env=gateway_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(proc, settings.gateway.port, log)
        async with Collector(settings, settings.topics.deals) as deals:
            body = pd_deal("create", 9, "2026-11-18T09:00:00Z", pd_deal_data(9))
            status, answer, _ = await post(
                settings, "/pipedrive", body, basic(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)
            )
            assert status == 200, answer
            status, _, _ = await post(settings, "/hubspot", b"[]", {})
            assert status == 404  # no HubSpot secret configured: the route is off
            await deals.wait_for(lambda rs: len(rs) >= 1, 30, "the deal event")
        assert deals.values()[0]["event_id"] == "pipedrive:deal:9:created"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    text = log.read_text()
    assert PIPEDRIVE_PASSWORD not in text
    assert "gateway_listening" in text
