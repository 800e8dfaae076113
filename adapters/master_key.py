"""Where the master key comes from: ``$LEADFLOW_MASTER_KEY``, else a key file.

The key file is ``$LEADFLOW_MASTER_KEY_FILE``, else the default: beside an embedded store
(``leadflow.master.key`` for ``leadflow.db``), or ``$LEADFLOW_KEY_DIR`` (default
``~/.config/leadflow/keys``) for PostgreSQL. A new store needs no set-up: the first
write makes a random key file, readable by its owner only (``0600``), and says where.
A store whose keystore exists but whose key is nowhere is a clear error, never a new key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from leadflow.errors import KeyUnavailable
from leadflow.service.data_keys import MasterKey, generate_master_key
from leadflow.service.logs import get_logger

__all__ = [
    "ENV_FILE",
    "ENV_KEY",
    "default_key_file",
    "key_file",
    "keystore_url",
    "master_key_loader",
    "write_key_file",
]

ENV_KEY = "LEADFLOW_MASTER_KEY"
ENV_FILE = "LEADFLOW_MASTER_KEY_FILE"
ENV_DIR = "LEADFLOW_KEY_DIR"


def default_key_file(store_url: str) -> Path:
    parts = urlsplit(store_url)
    if parts.scheme.startswith("sqlite"):
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if path == ":memory:":
            return Path(os.environ.get(ENV_DIR) or "~/.config/leadflow/keys").expanduser() / (
                "memory.master.key"
            )
        db = Path(path).expanduser()
        name = db.stem if db.suffix == ".db" else db.name
        return db.with_name(f"{name}.master.key")
    schema = (parse_qs(parts.query).get("schema") or ["public"])[0]
    label = re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"{parts.hostname}_{parts.port or 5432}{parts.path}_{schema}"
    )
    directory = Path(os.environ.get(ENV_DIR) or "~/.config/leadflow/keys").expanduser()
    return directory / f"{label}.master.key"


def keystore_url(store_url: str, override: str | None = None) -> str:
    """Where the keystore of the store at ``store_url`` lives (``override`` wins)."""
    if override:
        return override
    parts = urlsplit(store_url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if path == ":memory:":
            return "sqlite:///:memory:"
        db = Path(path).expanduser()
        name = db.stem if db.suffix == ".db" else db.name
        return "sqlite:///" + str(db.with_name(f"{name}.keys.db"))
    schemas = parse_qs(parts.query).get("schema")
    schema = schemas[0] if schemas else None
    base = store_url.split("?", 1)[0]
    return f"{base}?schema={(schema + '_keys') if schema else 'leadflow_keys'}"


def key_file(store_url: str) -> Path:
    """The key file used for this store (when ``$LEADFLOW_MASTER_KEY`` is not set)."""
    named = os.environ.get(ENV_FILE)
    return Path(named).expanduser() if named else default_key_file(store_url)


def write_key_file(path: Path, key: MasterKey) -> None:
    """Write a key file that only its owner can read; never overwrites one
    (:class:`FileExistsError`). Written aside, then linked into place: a reader never sees
    a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{id(key)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.encode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(aside, path)
    finally:
        aside.unlink(missing_ok=True)


def read_key_file(path: Path) -> MasterKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyUnavailable(f"no master key file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyUnavailable(f"the master key file {path} cannot be read: {exc}") from None
    return MasterKey.decode(text, str(path))


def master_key_loader(
    store_url: str, keystore_exists: Callable[[], bool]
) -> Callable[[], MasterKey]:
    """A loader for :class:`~leadflow.service.data_keys.DataKeys` (called on first need)."""

    def load() -> MasterKey:
        given = os.environ.get(ENV_KEY)
        if given:
            return MasterKey.decode(given, f"${ENV_KEY}")
        path = key_file(store_url)
        if path.exists():
            return read_key_file(path)
        if keystore_exists():
            if path.exists():  # another writer of this new store made both just now
                return read_key_file(path)
            raise KeyUnavailable(
                f"no master key: set ${ENV_KEY} or ${ENV_FILE} (this store's keystore "
                f"exists, and its key file {path} is missing); personal data cannot be "
                "read or written without it"
            )
        key = MasterKey(generate_master_key(), str(path))
        try:
            write_key_file(path, key)
        except FileExistsError:  # another writer of this new store made it first
            return read_key_file(path)
        get_logger("leadflow").warning("master_key_created", path=str(path))
        return key

    return load
