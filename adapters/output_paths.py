"""Where a command may write a file: never over the store, never onto a directory.

``leadflow report --out`` once overwrote the store's own SQLite file with HTML. Every
command that writes a file it is given checks the path here first: a path that
resolves (through symlinks) to the store's database or one of its side files
(``-wal``, ``-shm``, ``-journal``, the read-model lock) is refused, as is an existing
directory; a missing directory is a clear error, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from leadflow.adapters.store import persistence_env
from leadflow.errors import InvalidInput

__all__ = ["STORE_SUFFIXES", "checked_output", "store_files"]

STORE_SUFFIXES = ("", "-wal", "-shm", "-journal", "-projections.lock")
"""The SQLite database file and the files SQLite (and leadflow) keep beside it."""


def store_files(url: str) -> set[Path]:
    """The files of the SQLite store at ``url`` (none for PostgreSQL or ``:memory:``)."""
    env = persistence_env(url, create=False)
    name = env.get("SQLITE_DBNAME")
    if not name or name == ":memory:":
        return set()
    base = Path(name).expanduser().resolve()
    return {base.with_name(base.name + suffix) for suffix in STORE_SUFFIXES}


def checked_output(path: Path, url: str, field: str = "out") -> Path:
    """``path`` if a command may write it; else :class:`InvalidInput` naming ``field``."""
    if path.is_dir():
        raise InvalidInput(field, f"{path} is a directory; name a file to write")
    parent = path.expanduser().parent
    if not parent.is_dir():
        raise InvalidInput(field, f"directory {parent} does not exist")
    if path.expanduser().resolve() in store_files(url):
        raise InvalidInput(field, f"{path} is a file of the store itself; name another file")
    return path
