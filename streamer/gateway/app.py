"""The gateway's HTTP routes (aiohttp): every CRM and Slack route authenticates first.

=============================  ==========================================================
route                          answers
=============================  ==========================================================
``POST /hubspot``              HubSpot webhooks, ``X-HubSpot-Signature-v3``
``POST /pipedrive``            Pipedrive webhooks v2, HTTP basic auth
``POST /slack/interactions``   Slack button presses, Slack signing secret
``POST /slack/commands``       the ``/salespulse`` slash command, Slack signing secret
``GET /ready``                 200 once the knowledge topic is read, else 503
``GET /metrics``               Prometheus text (counts by source; no ids, no personal data)
=============================  ==========================================================

A source whose secret is not configured answers 404. A bad or missing signature
or password is 401 and a stale signed timestamp 401; a body over
``max_body_bytes`` is 413; a body that is not the vendor's shape 400; over the
source's rate limit 429 with ``Retry-After``; Kafka not acknowledging 503 (the
CRMs retry). Nothing is produced for any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..logs import get_logger
from ..metrics import GatewayMetrics
from . import hubspot, pipedrive
from . import slack as slack_mod
from .changes import Malformed
from .pipeline import Origin, Pipeline
from .publisher import Message, Publisher
from .ratelimit import TokenBucket
from .signatures import basic_auth_valid, hubspot_v3_valid, slack_valid
from .store import KnowledgeStore

__all__ = ["Gateway", "build_app"]

log = get_logger(__name__)

SLACK_ANSWER_SECONDS = 2.5  # Slack wants an answer within 3 s


class Gateway:
    """What the routes share: settings, the producer, the knowledge, metrics, limits."""

    def __init__(
        self,
        settings: Any,
        publisher: Publisher,
        store: KnowledgeStore,
        metrics: GatewayMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.gateway = settings.gateway
        self.publisher = publisher
        self.store = store
        self.metrics = metrics
        self.pipeline = Pipeline(settings, publisher, store, metrics)
        self.clock = clock
        g = self.gateway
        self.buckets = {
            "hubspot": TokenBucket(g.hubspot.rate_limit.per_second, g.hubspot.rate_limit.burst),
            "pipedrive": TokenBucket(
                g.pipedrive.rate_limit.per_second, g.pipedrive.rate_limit.burst
            ),
            "slack": TokenBucket(g.slack.rate_limit.per_second, g.slack.rate_limit.burst),
        }
        self.session: aiohttp.ClientSession | None = None
        self.background: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        return self.store.loaded.is_set()


GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(source: str) -> Callable[[Handler], Handler]:
    """Count and time a route's answers, and turn refusals into their status codes."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            gw: Gateway = request.app[GATEWAY]
            started = time.perf_counter()
            try:
                response = await handler(request)
            except web.HTTPRequestEntityTooLarge:
                gw.metrics.rejected.labels(source, "too_large").inc()
                response = _json(413, {"error": "body too large"})
            gw.metrics.requests.labels(source, str(response.status)).inc()
            gw.metrics.request_duration.labels(source).observe(time.perf_counter() - started)
            return response

        return run

    return wrap


async def _body(request: web.Request, gw: Gateway) -> bytes:
    limit = gw.gateway.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.read()  # aiohttp refuses more than client_max_size with 413


def _refuse(gw: Gateway, source: str, status: int, reason: str, text: str) -> web.Response:
    gw.metrics.rejected.labels(source, reason).inc()
    log.info("gateway_refused", source=source, status=status, reason=reason)
    return _json(status, {"error": text})


def _limited(gw: Gateway, source: str) -> web.Response | None:
    wait = gw.buckets[source].take(time.monotonic())
    if wait <= 0:
        return None
    gw.metrics.rejected.labels(source, "rate_limited").inc()
    return _json(429, {"error": "rate limited"}, {"Retry-After": str(max(1, int(wait + 0.999)))})


def _not_ready(gw: Gateway) -> web.Response | None:
    if gw.ready:
        return None
    return _json(503, {"error": "starting: knowledge not loaded yet"}, {"Retry-After": "5"})


@_route("hubspot")
async def hubspot_webhook(request: web.Request) -> web.StreamResponse:
    gw: Gateway = request.app[GATEWAY]
    config = gw.gateway.hubspot
    if config.client_secret is None:
        raise web.HTTPNotFound()
    body = await _body(request, gw)
    if gw.gateway.public_url:
        uri = gw.gateway.public_url.rstrip("/") + request.raw_path
    else:
        uri = f"{request.scheme}://{request.host}{request.raw_path}"  # path and query as sent
    timestamp = request.headers.get("X-HubSpot-Request-Timestamp")
    if not hubspot_v3_valid(
        config.client_secret.get_secret_value(),
        request.method,
        uri,
        body,
        timestamp,
        request.headers.get("X-HubSpot-Signature-v3"),
        gw.clock(),
        gw.gateway.signature_tolerance_seconds,
    ):
        return _refuse(gw, "hubspot", 401, "signature", "signature v3 missing, wrong or stale")
    return await _accept(gw, request, "hubspot", body)


@_route("pipedrive")
async def pipedrive_webhook(request: web.Request) -> web.StreamResponse:
    gw: Gateway = request.app[GATEWAY]
    config = gw.gateway.pipedrive
    if config.password is None or config.username is None:
        raise web.HTTPNotFound()
    if not basic_auth_valid(
        request.headers.get("Authorization"), config.username, config.password.get_secret_value()
    ):
        return _refuse(gw, "pipedrive", 401, "signature", "basic auth missing or wrong")
    body = await _body(request, gw)
    return await _accept(gw, request, "pipedrive", body)


async def _accept(gw: Gateway, request: web.Request, source: str, body: bytes) -> web.Response:
    limited = _limited(gw, source)
    if limited is not None:
        return limited
    not_ready = _not_ready(gw)
    if not_ready is not None:
        return not_ready
    try:
        if source == "hubspot":
            results = hubspot.parse(body)
            mapping = gw.gateway.hubspot.mapping
        else:
            results = [pipedrive.parse(body)]
            mapping = gw.gateway.pipedrive.mapping
    except Malformed as error:
        return _refuse(gw, source, 400, "malformed", str(error))
    try:
        summary = await gw.pipeline.handle(source, mapping, results, Origin(f"gateway:{source}"))
    except Exception as error:  # noqa: BLE001 - any Kafka failure: the CRM retries
        log.error("gateway_produce_failed", source=source, error=repr(error))
        return _json(503, {"error": "could not write to Kafka; retry"}, {"Retry-After": "5"})
    return _json(200, {"events": summary.events, "results": dict(summary.results)})


def _slack_verified(gw: Gateway, request: web.Request, body: bytes) -> bool:
    secret = gw.gateway.slack.signing_secret
    assert secret is not None
    return slack_valid(
        secret.get_secret_value(),
        body,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
        gw.clock(),
        gw.gateway.signature_tolerance_seconds,
    )


async def _publish_command(gw: Gateway, command: Any) -> None:
    from ..notify.lifecycle import subject_key_of

    message = Message(
        gw.settings.topics.commands,
        subject_key_of(command.alert_key),
        command.model_dump_json(exclude_none=True).encode(),
    )
    await asyncio.wait_for(gw.publisher.send_all([message]), SLACK_ANSWER_SECONDS)
    gw.metrics.commands.labels(command.event_type).inc()
    log.info(
        "gateway_alert_command",
        command=command.event_type,
        alert_key=command.alert_key,
        event_id=command.event_id,
    )


def _respond_later(gw: Gateway, url: str | None, payload: dict[str, Any]) -> None:
    """Post to Slack's ``response_url`` after answering (it stays valid for 30 minutes)."""
    if not url or not url.startswith(gw.gateway.slack.response_url_prefix):
        if url:
            log.warning("gateway_slack_response_url_refused")
        return

    async def post() -> None:
        assert gw.session is not None
        try:
            async with gw.session.post(
                url, json=payload, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status >= 300:
                    log.warning("gateway_slack_update_failed", status=response.status)
        except (TimeoutError, aiohttp.ClientError) as error:
            log.warning("gateway_slack_update_failed", error=type(error).__name__)

    task = asyncio.create_task(post())
    gw.background.add(task)
    task.add_done_callback(gw.background.discard)


@_route("slack")
async def slack_interactions(request: web.Request) -> web.StreamResponse:
    gw: Gateway = request.app[GATEWAY]
    if gw.gateway.slack.signing_secret is None:
        raise web.HTTPNotFound()
    body = await _body(request, gw)
    if not _slack_verified(gw, request, body):
        return _refuse(gw, "slack", 401, "signature", "Slack signature missing, wrong or stale")
    limited = _limited(gw, "slack")
    if limited is not None:
        return limited
    try:
        wanted = slack_mod.parse_interaction(body)
    except Malformed as error:
        return _refuse(gw, "slack", 400, "malformed", str(error))
    if wanted is None:
        return web.Response(status=200)
    if not slack_mod.authorized(wanted, gw.gateway.slack, from_button=True):
        gw.metrics.rejected.labels("slack", "forbidden").inc()
        _respond_later(
            gw,
            wanted.response_url,
            {**slack_mod.ephemeral("You may not act on this alert."), "replace_original": False},
        )
        return web.Response(status=200)
    now = datetime.fromtimestamp(gw.clock(), UTC)
    command = slack_mod.build_command(wanted, now, gw.gateway.slack.snooze_max_days)
    try:
        await _publish_command(gw, command)
    except Exception as error:  # noqa: BLE001 - tell the person rather than fail silently
        log.error("gateway_produce_failed", source="slack", error=repr(error))
        _respond_later(
            gw,
            wanted.response_url,
            {
                **slack_mod.ephemeral("salespulse could not record that; please try again."),
                "replace_original": False,
            },
        )
        return web.Response(status=200)
    _respond_later(
        gw, wanted.response_url, slack_mod.updated_message(wanted.message, command, wanted.user_id)
    )
    return web.Response(status=200)


@_route("slack")
async def slack_command(request: web.Request) -> web.StreamResponse:
    gw: Gateway = request.app[GATEWAY]
    config = gw.gateway.slack
    if config.signing_secret is None:
        raise web.HTTPNotFound()
    body = await _body(request, gw)
    if not _slack_verified(gw, request, body):
        return _refuse(gw, "slack", 401, "signature", "Slack signature missing, wrong or stale")
    limited = _limited(gw, "slack")
    if limited is not None:
        return limited
    try:
        wanted = slack_mod.parse_command(body, config.command)
        if not slack_mod.authorized(wanted, config, from_button=False):
            gw.metrics.rejected.labels("slack", "forbidden").inc()
            return _json(200, slack_mod.ephemeral("You may not act on alerts from here."))
        now = datetime.fromtimestamp(gw.clock(), UTC)
        command = slack_mod.build_command(wanted, now, config.snooze_max_days)
    except slack_mod.Usage as error:
        return _json(200, slack_mod.ephemeral(str(error)))
    except Malformed as error:
        return _refuse(gw, "slack", 400, "malformed", str(error))
    try:
        await _publish_command(gw, command)
    except Exception as error:  # noqa: BLE001
        log.error("gateway_produce_failed", source="slack", error=repr(error))
        return _json(200, slack_mod.ephemeral("salespulse could not record that; try again."))
    return _json(200, slack_mod.ephemeral(slack_mod.confirmation(command, wanted.user_id)))


async def ready(request: web.Request) -> web.Response:
    gw: Gateway = request.app[GATEWAY]
    return _json(200 if gw.ready else 503, {"ready": gw.ready})


async def metrics(request: web.Request) -> web.Response:
    gw: Gateway = request.app[GATEWAY]
    gw.metrics.ready.set(1 if gw.ready else 0)
    body = generate_latest(gw.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _session(app: web.Application) -> Any:
    gw: Gateway = app[GATEWAY]
    gw.session = aiohttp.ClientSession()
    yield
    if gw.background:
        with contextlib.suppress(Exception):
            await asyncio.wait(list(gw.background), timeout=10)
    await gw.session.close()


def build_app(gateway: Gateway) -> web.Application:
    """The aiohttp application; bodies over ``max_body_bytes`` are refused by aiohttp."""
    app = web.Application(client_max_size=gateway.gateway.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_post("/hubspot", hubspot_webhook)
    app.router.add_post("/pipedrive", pipedrive_webhook)
    app.router.add_post("/slack/interactions", slack_interactions)
    app.router.add_post("/slack/commands", slack_command)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_session)
    return app
