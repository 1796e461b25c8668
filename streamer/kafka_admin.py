"""Topic set-up against the brokers, before the Faust app is built."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from .logs import get_logger
from .settings import Settings

__all__ = ["TopicLayout", "TopicSetupError", "client_options", "ensure_topics"]

log = get_logger(__name__)

_COMPACTED = {"quotas", "org"}


class TopicSetupError(RuntimeError):
    """The brokers cannot be reached, or existing topics do not fit together."""


def client_options(settings: Settings) -> dict[str, object]:
    """aiokafka keyword arguments for the configured security settings."""
    kafka = settings.kafka
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
    return options


class TopicLayout(NamedTuple):
    """Partition counts of the two keyed sides: the deal topic and the activity topic."""

    deals: int
    reps: int


async def ensure_topics(settings: Settings, *, timeout: float = 30.0) -> TopicLayout:
    """Create the contract's topics that are missing; return the partition counts of the
    deal and activity topics, which each side's internal topics and tables must share."""
    admin = AIOKafkaAdminClient(request_timeout_ms=int(timeout * 1000), **client_options(settings))
    try:
        await admin.start()
    except Exception as error:  # noqa: BLE001 - any connection failure means the same
        raise TopicSetupError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({error}); "
            "start a local broker with `salespulse kafka up` or set SALESPULSE_KAFKA_BOOTSTRAP"
        ) from None
    try:
        names = settings.topics.model_dump()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if role in _COMPACTED else {},
            )
            for role, name in names.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            log.info("topics_created", topics=[t.name for t in missing])
        deadline = asyncio.get_running_loop().time() + timeout
        counts = []
        for topic in (names["deals"], names["activities"]):
            while True:
                # a topic just created may not be described with its partitions yet
                described = await admin.describe_topics([topic])
                partitions = described[0].get("partitions") or []
                if partitions and all(p.get("leader", -1) >= 0 for p in partitions):
                    counts.append(len(partitions))
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise TopicSetupError(f"topic {topic} has no partition leaders yet")
                await asyncio.sleep(0.2)
        layout = TopicLayout(*counts)
        await _ensure_internal(admin, settings, layout, set(await admin.list_topics()))
        return layout
    finally:
        await admin.close()


def internal_topics(
    settings: Settings, layout: TopicLayout
) -> dict[str, tuple[int, dict[str, str]]]:
    """The worker's own topics: name -> (partitions, configs). Each side's internal topics
    share its input topic's partition count, so partition n of both is assigned together."""
    app = settings.app_id
    hour_ms = str(3600 * 1000)
    return {
        f"{app}-deal-events": (layout.deals, {}),
        f"{app}-rep-events": (layout.reps, {}),
        f"{app}-ticks": (layout.deals, {"retention.ms": hour_ms}),
        f"{app}-rep-ticks": (layout.reps, {"retention.ms": hour_ms}),
        f"{app}-partition-stats": (1, {"cleanup.policy": "compact"}),
    }


async def _ensure_internal(
    admin: AIOKafkaAdminClient, settings: Settings, layout: TopicLayout, existing: set[str]
) -> None:
    wanted = internal_topics(settings, layout)
    missing = [
        NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=settings.replication_factor,
            topic_configs=configs,
        )
        for name, (partitions, configs) in wanted.items()
        if name not in existing
    ]
    if missing:
        await admin.create_topics(missing)
        log.info("internal_topics_created", topics=[t.name for t in missing])
    if {t.name for t in missing} != set(wanted):
        described = await admin.describe_topics([n for n in wanted if n in existing])
        for topic in described:
            have = len(topic.get("partitions") or [])
            want = wanted[topic["topic"]][0]
            if have != want:
                raise TopicSetupError(
                    f"internal topic {topic['topic']} has {have} partitions but its side has "
                    f"{want}: the input topics were re-partitioned; give the worker a new "
                    "app_id (SALESPULSE_APP_ID) so its internal topics and tables start anew"
                )
