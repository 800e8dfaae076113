"""Topic names and topic creation shared by the relay and the consumers."""

from __future__ import annotations

__all__ = ["DEFAULT_PARTITIONS", "DEFAULT_TOPIC", "dead_letter_topic", "ensure_topic"]

DEFAULT_TOPIC = "leadflow.lead-events"
DEFAULT_PARTITIONS = 6


def dead_letter_topic(topic: str) -> str:
    """Where consumers of ``topic`` park messages they cannot read."""
    return f"{topic}.dlq"


def ensure_topic(
    bootstrap: str, topic: str, partitions: int = DEFAULT_PARTITIONS, timeout_s: float = 10.0
) -> bool:
    """Create ``topic`` if it does not exist; True if this call created it.

    Lead events are keyed by lead id, so the partition count bounds how many consumers
    of one group share the work; it cannot be lowered later without reordering.
    """
    # Imported here: the constants above are read when the CLI declares its options.
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from leadflow.service.logs import get_logger

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="leadflow-admin",
        request_timeout_ms=int(timeout_s * 1000),
        bootstrap_timeout_ms=int(timeout_s * 1000),
    )
    try:
        if topic in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=int(timeout_s * 1000))
        except TopicAlreadyExistsError:
            return False
        get_logger("leadflow.kafka").info("topic_created", topic=topic, partitions=partitions)
        return True
    finally:
        admin.close()
