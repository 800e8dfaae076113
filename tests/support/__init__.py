"""Helpers shared by every scope: ``from support.clock import FakeClock``.

``tests/`` is on ``sys.path`` because ``tests/conftest.py`` sits in a folder without an
``__init__.py`` (pytest's default ``prepend`` import mode).
"""
