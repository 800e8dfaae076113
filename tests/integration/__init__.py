"""Integration tests: the Python API and the in-process CLI against real stores.

Every ``app``/``db_url`` test runs once on SQLite and once on PostgreSQL.
"""
