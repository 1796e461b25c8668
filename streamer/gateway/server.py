"""``salespulse gateway``: start the producer, load the knowledge, serve, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

from aiohttp import web

from ..kafka_admin import TopicSetupError, ensure_topics
from ..logs import get_logger
from ..metrics import GatewayMetrics
from .app import Gateway, build_app
from .publisher import Publisher
from .salesforce_feed import SalesforceFeed
from .store import KnowledgeStore

__all__ = ["RunningGateway", "run_gateway", "start_gateway"]

log = get_logger(__name__)


class RunningGateway:
    """A started gateway: its web site, producer, knowledge and Salesforce reader."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.publisher = Publisher(settings)
        self.store = KnowledgeStore(settings, settings.gateway.knowledge_topic)
        self.gateway = Gateway(settings, self.publisher, self.store, self.metrics)
        self.runner: web.AppRunner | None = None
        self.feed: SalesforceFeed | None = None

    async def start(self) -> None:
        await ensure_topics(self.settings)
        await self.publisher.start()
        await self.store.start()
        self.runner = web.AppRunner(build_app(self.gateway), access_log=None)
        await self.runner.setup()
        g = self.settings.gateway
        await web.TCPSite(self.runner, g.host, g.port).start()
        log.info("gateway_listening", host=g.host, port=g.port, sources=self.sources())
        if g.salesforce.topic:
            await self.store.loaded.wait()
            self.feed = SalesforceFeed(self.settings, self.gateway.pipeline)
            await self.feed.start()

    def sources(self) -> list[str]:
        g = self.settings.gateway
        on = {
            "hubspot": g.hubspot.client_secret is not None,
            "pipedrive": g.pipedrive.password is not None,
            "salesforce": g.salesforce.topic is not None,
            "slack": g.slack.signing_secret is not None,
        }
        return [name for name, enabled in on.items() if enabled]

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.store.stop()
        await self.publisher.stop()


async def start_gateway(settings: Any) -> RunningGateway:
    running = RunningGateway(settings)
    await running.start()
    return running


async def _serve(settings: Any) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        running = await start_gateway(settings)
    except TopicSetupError as error:
        print(f"salespulse gateway: {error}", file=sys.stderr)
        return 2
    if not running.sources():
        log.warning("gateway_no_sources", hint="set a secret under [gateway.*] to open a route")
    try:
        await stop.wait()
    finally:
        log.info("gateway_stopping")
        await running.stop()
    return 0


def run_gateway(settings: Any) -> int:
    """Run until SIGINT or SIGTERM; the exit code."""
    return asyncio.run(_serve(settings))
