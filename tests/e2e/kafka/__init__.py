"""Kafka tests against a real broker (a package: as ``e2e.kafka`` it cannot shadow kafka-python)."""
