"""The gateway's throughput with signature checks on: ``python -m bench.gateway``.

Starts a real ``salespulse gateway`` process against the local broker (``salespulse
kafka up``), sends signed HubSpot batches (a deal creation of 4 notifications and a
stage move per deal) and Pipedrive deal webhooks (basic auth) over HTTP from
``--concurrency`` clients, and prints requests/s and events/s as the gateway
answered them (each answer comes after Kafka acknowledged its events). Bounded in
count; only loopback traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.kafka_helpers import free_port, isolated_settings, worker_env

SECRET = "bench-hubspot-secret"
PD_USER, PD_PASSWORD = "bench", "bench-pipedrive-password"
T_MS = 1_795_000_000_000


def _hs_batch(deal: int) -> list[dict[str, Any]]:
    def item(prop: str | None, value: Any, at: int, sub: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "eventId": deal, "subscriptionId": 1, "portalId": 1, "appId": 1,
            "occurredAt": at, "subscriptionType": sub, "attemptNumber": 0, "objectId": deal,
        }  # fmt: skip
        if prop:
            out.update(propertyName=prop, propertyValue=value)
        return out

    return [
        item(None, None, T_MS, "deal.creation"),
        item("dealstage", "appointmentscheduled", T_MS, "deal.propertyChange"),
        item("hubspot_owner_id", str(deal % 50), T_MS, "deal.propertyChange"),
        item("amount", "1000", T_MS, "deal.propertyChange"),
        item("dealstage", "presentationscheduled", T_MS + 86_400_000, "deal.propertyChange"),
    ]


def _settings(tmp: Path) -> Any:
    gateway = {
        "port": free_port(),
        "max_body_bytes": 1_048_576,
        "knowledge_topic": f"bench-{free_port()}-{time.time_ns()}.knowledge",
        "hubspot": {
            "client_secret": SECRET,
            "rate_limit": {"per_second": 1e6, "burst": 1_000_000},
            "mapping": {
                "stages": {
                    "appointmentscheduled": {"stage": "qualification"},
                    "presentationscheduled": {"stage": "proposal"},
                },
                "rep_id_template": "rep-{owner_id}",
            },
        },
        "pipedrive": {
            "username": PD_USER,
            "password": PD_PASSWORD,
            "rate_limit": {"per_second": 1e6, "burst": 1_000_000},
            "mapping": {
                "stages": {"1": {"stage": "qualification"}},
                "rep_id_template": "{owner_id}",
            },
        },
    }
    return isolated_settings(tmp, gateway=gateway, log_level="WARNING")


def _env(settings: Any) -> dict[str, str]:
    env = worker_env(settings)
    section = settings.gateway.model_dump(mode="json")
    section["hubspot"]["client_secret"] = SECRET
    section["pipedrive"]["password"] = PD_PASSWORD
    section["slack"]["signing_secret"] = None
    env["SALESPULSE_GATEWAY"] = json.dumps(section)
    return env


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:  # noqa: S310
                if json.loads(r.read()).get("ready"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gateway not ready")


async def _load(port: int, requests: int, concurrency: int, kind: str) -> tuple[float, int, int]:
    url = f"http://127.0.0.1:{port}/{kind}"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    events = 0
    failures = 0
    auth = base64.b64encode(f"{PD_USER}:{PD_PASSWORD}".encode()).decode()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal events, failures
        while not queue.empty():
            n = queue.get_nowait()
            if kind == "hubspot":
                body = json.dumps(_hs_batch(n + 1)).encode()
                ts = str(int(time.time() * 1000))
                message = b"POST" + url.encode() + body + ts.encode()
                sig = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest())
                headers = {
                    "X-HubSpot-Signature-v3": sig.decode(),
                    "X-HubSpot-Request-Timestamp": ts,
                }
            else:
                data = {
                    "id": n + 1,
                    "stage_id": 1,
                    "owner_id": n % 50,
                    "status": "open",
                    "value": 10,
                }
                meta = {"action": "create", "entity": "deal", "version": "2.0",
                        "entity_id": str(n + 1), "timestamp": "2026-11-18T09:00:00Z"}  # fmt: skip
                body = json.dumps({"meta": meta, "data": data, "previous": None}).encode()
                headers = {"Authorization": f"Basic {auth}"}
            headers["Content-Type"] = "application/json"
            async with session.post(url, data=body, headers=headers) as response:
                if response.status == 200:
                    events += (await response.json())["events"]
                else:
                    failures += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return time.perf_counter() - started, events, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=5000, help="requests per source")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp))
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "gateway"], env=_env(settings)
        )
        try:
            _wait_ready(settings.gateway.port, proc)
            print("source     requests  seconds  requests/s  events/s  failed")
            for kind in ("hubspot", "pipedrive"):
                seconds, events, failed = asyncio.run(
                    _load(settings.gateway.port, args.requests, args.concurrency, kind)
                )
                rate = args.requests / seconds
                print(
                    f"{kind:<10} {args.requests:>8} {seconds:>8.2f} {rate:>11.0f}"
                    f" {events / seconds:>9.0f} {failed:>7}"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
