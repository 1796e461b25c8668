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
        return TopicLayout(*counts)
    finally:
        await admin.close()
