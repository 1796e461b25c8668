"""The real local Kafka for the gateway's live tests (the integration suite's fixtures)."""

from tests.integration.conftest import kafka_broker, make_worker, own_topics

__all__ = ["kafka_broker", "make_worker", "own_topics"]
