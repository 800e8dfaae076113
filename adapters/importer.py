"""Bulk import of leads from CSV or JSON Lines, streamed, validated row by row, batched.

* Streaming: the file is read line by line; only one batch of rows is held in memory.
* Each row is validated as a capture (the same rules as ``leadflow capture``). A bad row
  goes to the error report beside the input, ``FILE.errors.csv`` (row, field, reason),
  and is not imported; the valid rows are.
* Each batch (``batch_size`` rows) is saved with one atomic append: the new leads, their
  contact keys, touches on leads that already existed, assignments and the roster.
* Idempotent: each row has an import key, its ``external_id`` column if present, else a
  hash of the row's content; a row whose key is already in the store is skipped, so
  importing the same file twice imports nothing the second time. Two rows (in one batch
  or not) for the same person are one lead and a touch (dedupe).

Columns (CSV header or JSON keys): ``email``, ``phone``, ``wechat``, ``name``, ``company``,
``source``, ``campaign``, ``stage``, ``occurred_at`` (ISO 8601, UTC if no offset),
``external_id``; ``attributes.<name>`` or any other column becomes a profile attribute.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from leadflow.domain.commands import CaptureLead
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow
from leadflow.service.logs import get_logger

__all__ = ["ImportSummary", "RowError", "errors_path", "import_file", "read_rows"]

log = get_logger("leadflow.import")

Format = Literal["csv", "jsonl"]
FIELDS = ("email", "phone", "wechat", "name", "company", "source", "campaign", "stage")
RESERVED = (*FIELDS, "occurred_at", "external_id", "attributes")


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    reason: str


@dataclass
class ImportSummary:
    file: str
    format: str
    rows: int = 0
    created: int = 0
    touched: int = 0
    """Rows that matched an existing lead (a touch on it, no new lead)."""
    already_imported: int = 0
    invalid: int = 0
    assigned: int = 0
    batches: int = 0
    seconds: float = 0.0
    errors_file: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def errors_path(path: Path) -> Path:
    return path.with_name(path.name + ".errors.csv")


def detect_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise InvalidInput("format", f"cannot tell the format of {path.name}; pass --format csv|jsonl")


class _Counting:
    """Lines of a binary file, counting bytes read (for the progress bar)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.bytes_read = 0

    def lines(self) -> Iterator[str]:
        for raw in self.handle:
            self.bytes_read += len(raw)
            yield raw.decode("utf-8-sig" if self.bytes_read == len(raw) else "utf-8")


def read_rows(reader: _Counting, fmt: Format) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """``(row number, fields or the reason the row is unreadable)``; row 1 is the first record."""
    if fmt == "csv":
        rows = csv.DictReader(reader.lines())
        for number, row in enumerate(rows, start=1):
            if None in row:
                yield number, RowError(number, "(row)", "more values than header columns")
                continue
            yield number, {k.strip(): v for k, v in row.items() if k is not None}
        return
    number = 0
    for line in reader.lines():
        if not line.strip():
            continue
        number += 1
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, RowError(number, "(row)", f"not JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield number, RowError(number, "(row)", "each line must be a JSON object")
            continue
        yield number, value


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(name, f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def to_capture(
    app: Leadflow, row: dict[str, Any], pipeline: Pipeline | None = None
) -> tuple[CaptureLead, str]:
    """Validate one row as a capture (under ``pipeline``, default: the one in force);
    returns it with its import key."""
    data: dict[str, Any] = {name: _text(row.get(name), name) for name in FIELDS}
    attributes: dict[str, str] = {}
    nested = row.get("attributes")
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidInput("attributes", "must be an object of name: value")
        for key, value in nested.items():
            if (text := _text(value, f"attributes.{key}")) is not None:
                attributes[str(key)] = text
    for key, value in row.items():
        if key in RESERVED:
            continue
        name = key.removeprefix("attributes.")
        if (text := _text(value, key)) is not None:
            attributes[name] = text
    data["attributes"] = attributes
    occurred = _text(row.get("occurred_at"), "occurred_at")
    if occurred is not None:
        try:
            parsed = datetime.fromisoformat(occurred)
        except ValueError:
            raise InvalidInput("occurred_at", f"{occurred!r} is not an ISO 8601 time") from None
        data["occurred_at"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    command = app.validate_capture(data, pipeline)
    external = _text(row.get("external_id"), "external_id")
    if external is not None:
        import_key = f"external:{external}"
    else:
        canonical = orjson.dumps(
            {k: v for k, v in row.items() if v not in (None, "")}, option=orjson.OPT_SORT_KEYS
        )
        import_key = "row:" + hashlib.sha256(canonical).hexdigest()
    return command, import_key


def import_file(
    app: Leadflow,
    path: Path,
    *,
    fmt: Format | None = None,
    batch_size: int = 500,
    actor: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``path``; ``progress(bytes_read)`` is called after each batch."""
    if batch_size < 1:
        raise InvalidInput("batch_size", "must be at least 1")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    fmt = fmt or detect_format(path)
    summary = ImportSummary(file=str(path), format=fmt)
    pipeline = app.pipeline  # one file, one pipeline: read once, not once per row
    report = errors_path(path)
    report.unlink(missing_ok=True)  # a stale report would describe another run
    started = time.perf_counter()
    error_handle = None
    error_writer: Any = None
    batch: list[tuple[CaptureLead, str | None]] = []

    def flush() -> None:
        if not batch:
            return
        for outcome in app.capture_batch(batch, actor=actor, pipeline=pipeline):
            if outcome.outcome == "created":
                summary.created += 1
                summary.assigned += outcome.assigned_to is not None
            elif outcome.outcome == "touched":
                summary.touched += 1
            else:
                summary.already_imported += 1
        summary.batches += 1
        batch.clear()
        if progress is not None:
            progress(reader.bytes_read)

    try:
        with path.open("rb") as handle:
            reader = _Counting(handle)
            for number, row in read_rows(reader, fmt):
                summary.rows += 1
                if not isinstance(row, RowError):
                    try:
                        batch.append(to_capture(app, row, pipeline))
                    except InvalidInput as exc:
                        row = RowError(number, exc.field, exc.reason)
                if isinstance(row, RowError):
                    summary.invalid += 1
                    if error_writer is None:
                        error_handle = report.open("w", newline="", encoding="utf-8")
                        error_writer = csv.writer(error_handle)
                        error_writer.writerow(["row", "field", "reason"])
                    error_writer.writerow([row.row, row.field, row.reason])
                if len(batch) >= batch_size:
                    flush()
            flush()
    finally:
        if error_handle is not None:
            error_handle.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.errors_file = str(report) if summary.invalid else None
    log.info("import_finished", **summary.to_json_dict())
    return summary
