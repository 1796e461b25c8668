"""The size limits hang together: whatever an input topic accepts can be dead-lettered whole."""

from __future__ import annotations

from pathlib import Path

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streamer.core.dead_letter import MIN_MAX_BYTES, dead_letter_record, record_size
from streamer.devtools import devkafka
from streamer.kafka_admin import (
    DEAD_LETTER_MAX_BYTES,
    INPUT_MAX_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    TopicLayout,
    contract_topic_configs,
    internal_topics,
    producer_size_options,
    topic_limits,
)
from streamer.settings import load_settings

# A v2 record batch of one record: 61 bytes of batch header, at least 7 of record framing.
_SMALLEST_BATCH_OVERHEAD = 61 + 7


def test_the_largest_input_record_fits_the_dead_letter_topic_whole_with_the_widest_headers() -> (
    None
):
    # The largest key + value a broker can accept on an input topic, split any way.
    payload = INPUT_MAX_MESSAGE_BYTES - _SMALLEST_BATCH_OVERHEAD
    for key_size in (0, 36, payload // 2):
        key, value = b"k" * key_size, b"v" * (payload - key_size)
        record = dead_letter_record(
            value, key, "e" * 10_000, "t" * 249, 2**31 - 1, 2**63 - 1, DEAD_LETTER_MAX_BYTES
        )

        assert not record.truncated, key_size
        assert (record.key, record.value) == (key, value)
        assert record_size(record.key, record.value, record.headers) <= DEAD_LETTER_MAX_BYTES
        estimate = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            record.key, record.value, list(record.headers)
        )
        assert estimate <= producer_size_options()["producer_max_request_size"]


def test_the_headroom_is_more_than_a_dead_letter_adds() -> None:
    assert DEAD_LETTER_MAX_BYTES - INPUT_MAX_MESSAGE_BYTES >= MIN_MAX_BYTES
    assert INPUT_MAX_MESSAGE_BYTES == 1_048_588  # Kafka's default message.max.bytes


def test_the_worker_producer_may_send_what_the_forwarding_topics_take() -> None:
    # Faust's default (1,000,000) is below an input topic's limit: issue 11's poison pill.
    assert producer_size_options() == {"producer_max_request_size": DEAD_LETTER_MAX_BYTES}


def test_topics_the_worker_creates_carry_their_limits() -> None:
    settings = load_settings()
    roles = settings.topics.model_dump()

    configs = {role: contract_topic_configs(role) for role in roles}

    for role in ("activities", "deals", "quotas", "org", "commands"):
        assert configs[role][MAX_MESSAGE_BYTES] == str(INPUT_MAX_MESSAGE_BYTES), role
    for role in ("dlq", "late"):
        assert configs[role][MAX_MESSAGE_BYTES] == str(DEAD_LETTER_MAX_BYTES), role
    assert MAX_MESSAGE_BYTES not in configs["alerts"]
    assert configs["quotas"]["cleanup.policy"] == configs["org"]["cleanup.policy"] == "compact"
    assert "cleanup.policy" not in configs["deals"]


def test_internal_topics_that_carry_forwarded_input_take_as_much_as_the_dead_letter_topic() -> None:
    wanted = internal_topics(load_settings(app_id="sp"), TopicLayout(deals=4, reps=2))

    for name in ("sp-deal-events", "sp-rep-events"):
        assert wanted[name][1][MAX_MESSAGE_BYTES] == str(DEAD_LETTER_MAX_BYTES), name
    assert wanted["sp-deal-events"][0] == 4 and wanted["sp-rep-events"][0] == 2


def test_topic_limits_are_read_from_describe_configs_answers() -> None:
    answer = {
        "throttle_time_ms": 0,
        "resources": [
            {
                "error_code": 0,
                "resource_name": "crm.dlq",
                "config_entries": [{"config_names": MAX_MESSAGE_BYTES, "config_value": "1114124"}],
            },
            {"error_code": 3, "resource_name": "crm.late-events", "config_entries": []},
            {
                "error_code": 0,
                "resource_name": "odd",
                "config_entries": [{"config_names": MAX_MESSAGE_BYTES, "config_value": None}],
            },
        ],
    }

    assert topic_limits([answer]) == {"crm.dlq": 1_114_124}
    assert topic_limits([]) == {}


def test_the_development_broker_takes_input_up_to_the_input_limit(tmp_path: Path) -> None:
    layout = devkafka._Layout(home=tmp_path, host="127.0.0.1", port=19092)

    lines = devkafka._server_properties(layout, 19093).splitlines()

    assert f"message.max.bytes={INPUT_MAX_MESSAGE_BYTES}" in lines
