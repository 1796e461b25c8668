"""Topic set-up against the brokers, before the Faust app is built.

Also the one place where the project's message size limits are set, so that
they fit together (docs/operations.md, "Message size limits"):

* input topics take records up to :data:`INPUT_MAX_MESSAGE_BYTES`, Kafka's own
  default, set explicitly on the topics the worker creates and on the local
  development broker;
* the topics the worker forwards input to byte for byte (dead letters, late
  events, its internal event topics) take :data:`DEAD_LETTER_MAX_BYTES`, the
  input limit plus :data:`HEADER_ROOM_BYTES` for the headers it adds, and so
  does the worker's producer (:func:`producer_size_options`);
* a dead letter is cut to fit whatever the dead-letter topic really takes
  (:func:`dead_letter_max_bytes`, ``streamer.core.dead_letter``), so a message
  larger than these limits, on a topic configured otherwise, still cannot
  stop the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from .logs import get_logger
from .settings import Settings

__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "HEADER_ROOM_BYTES",
    "INPUT_MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_BYTES",
    "TopicLayout",
    "TopicSetupError",
    "client_options",
    "contract_topic_configs",
    "dead_letter_max_bytes",
    "ensure_topics",
    "producer_size_options",
    "topic_limits",
]

log = get_logger(__name__)

_COMPACTED = {"quotas", "org"}

MAX_MESSAGE_BYTES: Final = "max.message.bytes"

INPUT_MAX_MESSAGE_BYTES: Final = 1_048_588
"""Largest record batch an input topic takes: Kafka's default ``message.max.bytes``
(1 MiB + 12 bytes), written out so that every limit below is derived from it."""

HEADER_ROOM_BYTES: Final = 64 * 1024
"""What forwarding may add to an input record: a dead letter's headers come to at most
about 2.5 KiB with their reserve (``streamer.core.dead_letter.MIN_MAX_BYTES``); 64 KiB leaves
room for headers added later."""

DEAD_LETTER_MAX_BYTES: Final = INPUT_MAX_MESSAGE_BYTES + HEADER_ROOM_BYTES
"""``max.message.bytes`` of the topics input is forwarded to byte for byte, and the
worker producer's ``max_request_size``: any record an input topic accepted fits whole."""

# Topics that carry input records forwarded byte for byte, with headers added.
_FORWARDING_ROLES = frozenset({"dlq", "late"})


class TopicSetupError(RuntimeError):
    """The brokers cannot be reached, or existing topics do not fit together."""


def producer_size_options() -> dict[str, Any]:
    """Faust app settings that let the worker's producer send any record the forwarding
    topics take (Faust's own default, 1,000,000 bytes, is below an input topic's limit:
    the poison pill of issue 11)."""
    return {"producer_max_request_size": DEAD_LETTER_MAX_BYTES}


def contract_topic_configs(role: str) -> dict[str, str]:
    """Configs for a contract topic the worker creates, by its role in ``settings.topics``
    (``deals``, ``dlq``, ...): compaction where the contract keeps the latest per key, and
    the size limit of an input topic or of a topic that input is forwarded to."""
    configs = {"cleanup.policy": "compact"} if role in _COMPACTED else {}
    if role in _FORWARDING_ROLES:
        configs[MAX_MESSAGE_BYTES] = str(DEAD_LETTER_MAX_BYTES)
    elif role != "alerts":
        configs[MAX_MESSAGE_BYTES] = str(INPUT_MAX_MESSAGE_BYTES)
    return configs


async def dead_letter_max_bytes(settings: Settings, *, timeout: float = 30.0) -> int:
    """The ``max_bytes`` to cut dead letters (and late events) to: the smallest of the
    producer's limit and the ``max.message.bytes`` the brokers report for the dead-letter
    and late-events topics.

    Below :data:`DEAD_LETTER_MAX_BYTES` (topics created by hand with Kafka's default),
    large dead letters are cut rather than refused by the broker, and a warning says how
    to raise the limit. When the brokers do not say (no DescribeConfigs permission, topic
    missing), Kafka's default is assumed. Never raises for a reachable cluster."""
    names = settings.topics
    topics = [names.dlq, names.late]
    admin = AIOKafkaAdminClient(request_timeout_ms=int(timeout * 1000), **client_options(settings))
    try:
        await admin.start()
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, {MAX_MESSAGE_BYTES: None}) for t in topics]
        )
        reported = topic_limits(response.to_object() for response in responses)
    except Exception as error:  # noqa: BLE001 - any failure means "not known"
        log.warning("topic_limits_unknown", topics=topics, error=str(error))
        reported = {}
    finally:
        await admin.close()
    limit = DEAD_LETTER_MAX_BYTES
    for topic in topics:
        found = reported.get(topic)
        if found is None:
            log.warning("topic_limit_assumed", topic=topic, assumed=INPUT_MAX_MESSAGE_BYTES)
            found = INPUT_MAX_MESSAGE_BYTES
        elif found < DEAD_LETTER_MAX_BYTES:
            log.warning(
                "topic_limit_low",
                topic=topic,
                max_message_bytes=found,
                wanted=DEAD_LETTER_MAX_BYTES,
                effect="input records larger than this are forwarded cut (header truncated)",
                fix=f"kafka-configs.sh --alter --entity-type topics --entity-name {topic} "
                f"--add-config {MAX_MESSAGE_BYTES}={DEAD_LETTER_MAX_BYTES}",
            )
        limit = min(limit, found)
    return limit


def topic_limits(responses: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``max.message.bytes`` by topic from DescribeConfigs responses (as ``to_object()``
    gives them); topics the brokers answered with an error are left out."""
    limits: dict[str, int] = {}
    for response in responses:
        for resource in response.get("resources", ()):
            if resource.get("error_code"):
                continue
            for entry in resource.get("config_entries", ()):
                if entry.get("config_names") == MAX_MESSAGE_BYTES:
                    value = str(entry.get("config_value") or "")
                    if value.isdigit():
                        limits[resource["resource_name"]] = int(value)
    return limits


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
    """Partition counts of the two keyed sides (the deal topic and the activity topic)
    and of the quota topic (its partitions are sources of event time too)."""

    deals: int
    reps: int
    quotas: int = 1


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
                topic_configs=contract_topic_configs(role),
            )
            for role, name in names.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            log.info("topics_created", topics=[t.name for t in missing])
        deadline = asyncio.get_running_loop().time() + timeout
        counts = []
        for topic in (names["deals"], names["activities"], names["quotas"]):
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
        # forwarded input, byte for byte: as large as a dead letter may be
        f"{app}-deal-events": (layout.deals, {MAX_MESSAGE_BYTES: str(DEAD_LETTER_MAX_BYTES)}),
        f"{app}-rep-events": (layout.reps, {MAX_MESSAGE_BYTES: str(DEAD_LETTER_MAX_BYTES)}),
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
