"""Unit tests: the domain and the policy functions, no store, no process, no network.

The whole folder runs in seconds: ``python -m pytest tests/unit``.
"""
