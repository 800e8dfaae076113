"""Kafka tests (a package: a bare ``tests/kafka`` would shadow kafka-python, and a second
top-level ``conftest`` module would shadow the root one)."""
