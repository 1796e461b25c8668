"""A real gateway on a free local port against the real local Kafka, and a Slack stand-in
that receives ``response_url`` updates."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from streamer.gateway.server import RunningGateway, start_gateway
from streamer.settings import Settings
from tests.integration.kafka_helpers import free_port, isolated_settings

HUBSPOT_SECRET = "hs-client-secret-0000"
PIPEDRIVE_USER = "pipedrive"
PIPEDRIVE_PASSWORD = "pd-password-0000"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

STAGES_HS = {
    "appointmentscheduled": {"stage": "qualification"},
    "presentationscheduled": {"stage": "proposal"},
    "closedwon": {"stage": "won", "closed": "won"},
}


def gateway_settings(
    tmp_path: Path, slack_url: str = "http://127.0.0.1:9/", **extra: Any
) -> Settings:
    run = uuid.uuid4().hex[:10]
    gateway: dict[str, Any] = {
        "port": free_port(),
        "knowledge_topic": f"t-{run}.gateway-knowledge",
        "max_body_bytes": 4096,
        "hubspot": {
            "client_secret": HUBSPOT_SECRET,
            "mapping": {"stages": STAGES_HS, "owners": {"910": "rep-17"}},
        },
        "pipedrive": {
            "username": PIPEDRIVE_USER,
            "password": PIPEDRIVE_PASSWORD,
            "mapping": {
                "stages": {"1": {"stage": "qualification"}, "2": {"stage": "proposal"}},
                "owners": {"18487521": "rep-17"},
            },
        },
        "slack": {"signing_secret": SLACK_SECRET, "response_url_prefix": slack_url},
    }
    for name, value in extra.pop("gateway", {}).items():
        if isinstance(value, dict) and isinstance(gateway.get(name), dict):
            gateway[name] = {**gateway[name], **value}
        else:
            gateway[name] = value
    return isolated_settings(tmp_path, gateway=gateway, **extra)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[RunningGateway]:
    gateway = await start_gateway(settings)
    try:
        await asyncio.wait_for(gateway.store.loaded.wait(), 30)
        yield gateway
    finally:
        await gateway.stop()


def url(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{settings.gateway.port}{path}"


async def post(
    settings: Settings, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, float]:
    """POST over real HTTP; (status, body, seconds to the answer)."""
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url(settings, path), data=body, headers=headers) as response,
    ):
        return response.status, await response.text(), time.monotonic() - started


async def get(settings: Settings, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url(settings, path)) as response:
        return response.status, await response.text()


class SlackStandIn:
    """Receives what the gateway posts to ``response_url``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> SlackStandIn:
        app = web.Application()
        app.router.add_post("/actions/{rest:.*}", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        self.changed.set()
        return web.Response(text="ok")

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {count} posts; got {self.posts}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
