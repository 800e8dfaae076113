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
``source``, ``campaign``, ``stage`` (an entry stage), ``occurred_at`` (ISO 8601, UTC if no
offset), ``external_id``; ``attributes.<name>`` or any other column becomes a profile
attribute.

Migrations (``migrate=True``, ``leadflow import --migrate``): a lead from another CRM also
takes ``owner`` (a rep on the roster), ``stage`` (any stage), ``status`` (one its stage
permits), ``score`` and ``captured_at`` (when the other CRM captured it; or
``occurred_at``). Its events say it was imported with that state, and by whom
(:meth:`leadflow.domain.lead.Lead.migrate`). Without ``migrate`` those columns are refused:
a CSV header naming one refuses the whole file before anything is written; a JSON line
holding one is a row error. Neither is ever kept as an attribute.

Encodings: UTF-8 with or without a BOM (the default), GBK and GB18030 (how Chinese Excel
exports arrive). A line that does not decode, or is longer than :data:`LINE_MAX` bytes, or
a CSV field past the field limit, is a row error (line number, raw line, external id if it
can be read) and the rest of the file imports. A file that is not a table (binary, no
known column, duplicate columns, JSON lines that are not objects) is refused before
anything is written.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import orjson

from leadflow.domain.commands import CaptureLead, validate_capture, validate_migration
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.errors import InvalidInput
from leadflow.service.logs import get_logger

if TYPE_CHECKING:
    from leadflow.service.application import Leadflow

__all__ = [
    "ENCODINGS",
    "LINE_MAX",
    "MIGRATION",
    "ImportSummary",
    "RowError",
    "Rules",
    "check_rows",
    "errors_path",
    "import_file",
    "pool_size",
    "read_rows",
    "to_capture",
]

log = get_logger("leadflow.import")

Format = Literal["csv", "jsonl"]
FIELDS = ("email", "phone", "wechat", "name", "company", "source", "campaign", "stage")
MIGRATION = ("owner", "status", "score", "captured_at")
"""Columns only ``--migrate`` takes (with ``stage`` beyond the entry stages): the state a
lead had in another CRM. Without ``--migrate`` they are refused, never kept as attributes."""
RESERVED = (*FIELDS, *MIGRATION, "occurred_at", "external_id", "attributes")


ENCODINGS = ("utf-8", "gbk", "gb18030")
"""The encodings ``--encoding`` takes (``utf-8`` also reads a file that starts with a BOM)."""
LINE_MAX = 1_000_000
"""The longest line (in bytes) read as a row; a longer one is a row error."""
_FIELD_MAX = 131_072
"""Python's csv field limit: a longer field is a row error, not an aborted import."""
_SNIFF = 65_536


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    reason: str
    line: int | None = None
    """The physical line the row starts on (CSV: the header is line 1)."""
    raw: str = ""
    """The raw line as read (undecodable bytes as ``\\xNN``), at most 1,000 characters."""
    external_id: str = ""


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


def _raw(line: bytes) -> str:
    return line[:1000].decode("utf-8", errors="backslashreplace").rstrip("\r\n")


class _Counting:
    """Lines of a binary file, decoded, counting bytes read (for the progress bar).

    A line that does not decode or is too long is not given to the parser: it is kept in
    :attr:`bad` (line number, raw bytes, reason) for the reader to report as a row error.
    """

    def __init__(self, handle: BinaryIO, encoding: str = "utf-8") -> None:
        self.handle = handle
        self.encoding = encoding
        self.bytes_read = 0
        self.line = 0
        self.bad: list[tuple[int, bytes, str]] = []

    def lines(self) -> Iterator[str]:
        for raw in self.handle:
            first = self.bytes_read == 0
            self.bytes_read += len(raw)
            self.line += 1
            if len(raw) > LINE_MAX:
                self.bad.append((self.line, raw, f"line longer than {LINE_MAX} bytes"))
                continue
            codec = "utf-8-sig" if first and self.encoding == "utf-8" else self.encoding
            try:
                yield raw.decode(codec)
            except UnicodeDecodeError as exc:
                where = f"byte {exc.start + 1}"
                self.bad.append((self.line, raw, f"not {self.encoding} text ({where})"))


def _bad_rows(reader: _Counting) -> Iterator[tuple[int, RowError]]:
    while reader.bad:
        line, raw, reason = reader.bad.pop(0)
        yield line, RowError(line, "(row)", reason, line=line, raw=_raw(raw))


def read_rows(reader: _Counting, fmt: Format) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """``(row number, fields or the reason the row is unreadable)``; row 1 is the first record.

    A row that cannot be read is numbered by its line (see :class:`RowError`)."""
    if fmt == "csv":
        yield from _csv_rows(reader)
        return
    number = 0
    for line in reader.lines():
        yield from _bad_rows(reader)
        if not line.strip():
            continue
        number += 1
        at = reader.line
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, RowError(number, "(row)", f"not JSON: {exc}", at, line[:1000].rstrip())
            continue
        if not isinstance(value, dict):
            reason = "each line must be a JSON object"
            yield number, RowError(number, "(row)", reason, at, line[:1000].rstrip())
            continue
        yield number, value
    yield from _bad_rows(reader)


def _csv_rows(reader: _Counting) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    lines = reader.lines()
    parsed = csv.reader(lines)
    header: list[str] | None = None
    number = 0
    while True:
        start = reader.line + 1
        try:
            values = next(parsed)
        except StopIteration:
            break
        except csv.Error as exc:
            yield from _bad_rows(reader)
            number += 1
            yield number, RowError(number, "(row)", f"not CSV: {exc}", line=start)
            continue
        if header is None:
            header = [name.strip() for name in values]
            yield from _bad_rows(reader)
            continue
        yield from _bad_rows(reader)
        if not values:
            continue
        number += 1
        row = dict(zip(header, values, strict=False))
        if len(values) > len(header):
            raw = ",".join(values)[:1000]
            yield (
                number,
                RowError(
                    number,
                    "(row)",
                    "more values than header columns",
                    line=start,
                    raw=raw,
                    external_id=str(row.get("external_id") or ""),
                ),
            )
            continue
        yield number, row
    yield from _bad_rows(reader)


def _needs_migrate(column: str) -> InvalidInput:
    return InvalidInput(
        column,
        f"{column!r} is the state a lead had in another CRM: pass --migrate to import it "
        f"(or name the column attributes.{column} to keep it as an attribute)",
    )


def check_table(
    path: Path,
    fmt: Format,
    encoding: str,
    contact_fields: tuple[str, ...],
    *,
    migrate: bool = False,
) -> None:
    """Refuse, before anything is written, a file that is not a table of leads (or, without
    ``migrate``, a CSV whose header names a migration column)."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF)
    if b"\x00" in head:
        raise InvalidInput("file", f"{path.name} is not a text table (it holds NUL bytes)")
    if not head.strip():
        raise InvalidInput("file", f"{path.name} is empty")
    first = head.splitlines()[0] if head.splitlines() else b""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        text = first.decode(codec)
    except UnicodeDecodeError:
        raise InvalidInput(
            "encoding", f"the first line of {path.name} is not {encoding} text; pass --encoding"
        ) from None
    if fmt == "jsonl":
        for line in head.splitlines():
            if line.strip():
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    value = None
                if not isinstance(value, dict):
                    raise InvalidInput(
                        "file", f"{path.name} is not JSON Lines: its first line is not an object"
                    )
                return
        return
    header = [name.strip() for name in next(csv.reader([text]), [])]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InvalidInput("file", f"column {name!r} appears twice in the header")
        seen.add(name)
    if not migrate:
        for name in MIGRATION:
            if name in seen:
                raise _needs_migrate(name)
    if not seen.intersection(contact_fields) and "external_id" not in seen:
        raise InvalidInput(
            "file",
            f"{path.name} is not a table of leads: its header names none of "
            + ", ".join(contact_fields),
        )


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(name, f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Rules:
    """What each row of one file is validated under, read once for the file (and sent once
    to each worker process): the pipeline in force and, with ``migrate``, the roster (the
    save checks both again)."""

    pipeline: Pipeline
    migrate: bool = False
    roster: Roster | None = None

    @classmethod
    def of(cls, app: Leadflow, *, migrate: bool = False) -> Rules:
        return cls(app.pipeline, migrate, app.roster() if migrate else None)


def to_capture(
    row: dict[str, Any], rules: Rules, now: datetime | None = None
) -> tuple[CaptureLead, str]:
    """Validate one row as a capture under ``rules.pipeline``, or with ``rules.migrate`` as
    a lead from another CRM (its owner checked against ``rules.roster``); ``now`` (default:
    the system clock) bounds its times. Returns it with its import key."""
    now = now or datetime.now(UTC)
    migrate = rules.migrate
    data: dict[str, Any] = {name: _text(row.get(name), name) for name in FIELDS}
    for name in MIGRATION:
        value = _text(row.get(name), name)
        if value is not None and not migrate:
            raise _needs_migrate(name)
        data[name] = value
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
    captured = data.pop("captured_at")
    when = "occurred_at"
    if captured is not None:
        if occurred is not None:
            raise InvalidInput("captured_at", "give captured_at or occurred_at, not both")
        occurred, when = captured, "captured_at"
    if occurred is not None:
        try:
            parsed = datetime.fromisoformat(occurred)
        except ValueError:
            raise InvalidInput(when, f"{occurred!r} is not an ISO 8601 time") from None
        data["occurred_at"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    command: CaptureLead
    if migrate:
        assert rules.roster is not None, "a migration is validated against the roster"
        try:
            command = validate_migration(data, rules.pipeline, rules.roster, now)
        except InvalidInput as exc:
            if exc.field == "occurred_at" and when != "occurred_at":
                raise InvalidInput(when, exc.reason) from None
            raise
    else:
        for name in MIGRATION:
            data.pop(name, None)
        try:
            command = validate_capture(data, rules.pipeline, now)
        except InvalidInput as exc:
            if exc.field != "stage":
                raise
            raise InvalidInput("stage", f"{exc.reason} (--migrate imports any stage)") from None
    external = _text(row.get("external_id"), "external_id")
    if external is not None:
        import_key = f"external:{external}"
    else:
        canonical = orjson.dumps(
            {k: v for k, v in row.items() if v not in (None, "")}, option=orjson.OPT_SORT_KEYS
        )
        import_key = "row:" + hashlib.sha256(canonical).hexdigest()
    return command, import_key


Read = tuple[int, "dict[str, Any] | RowError"]
"""A row as read: its number and its fields, or why it cannot be read."""
Checked = tuple[CaptureLead, str] | RowError
"""A row as validated: the capture and its import key, or why it is refused."""


def check_rows(rows: list[Read], rules: Rules, now: datetime) -> list[Checked]:
    """Validate a chunk of rows (in a worker process, or in this one), in order."""
    checked: list[Checked] = []
    for number, row in rows:
        if isinstance(row, RowError):
            checked.append(row)
            continue
        try:
            checked.append(to_capture(row, rules, now))
        except InvalidInput as exc:
            external = row.get("external_id")
            checked.append(
                RowError(
                    number,
                    exc.field,
                    exc.reason,
                    external_id=str(external)[:200] if external is not None else "",
                )
            )
    return checked


_worker_rules: Rules | None = None


def _start_worker(rules: Rules) -> None:
    global _worker_rules
    _worker_rules = rules


def _check_in_worker(rows: list[Read], now: datetime) -> list[Checked]:
    assert _worker_rules is not None, "the pool's initializer gives each worker the rules"
    return check_rows(rows, _worker_rules, now)


CHUNK = 250
"""Rows sent to a worker process at a time."""
POOL_MIN_BYTES = 512 * 1024
"""With ``workers`` unset, a smaller file is validated in-process: starting the worker
processes (each imports the validators) costs more than it saves."""


def pool_size(workers: int | None, file_bytes: int) -> int:
    """Worker processes for a file of ``file_bytes``: ``workers`` if given (0: none, rows
    validated in-process), else ``$LEADFLOW_IMPORT_WORKERS``, else one per core for a
    file of :data:`POOL_MIN_BYTES` or more and none for a smaller one."""
    if workers is None:
        setting = os.environ.get("LEADFLOW_IMPORT_WORKERS", "").strip()
        if setting:
            try:
                workers = int(setting)
            except ValueError:
                raise InvalidInput(
                    "LEADFLOW_IMPORT_WORKERS", f"{setting!r} is not a number of processes"
                ) from None
    if workers is None:
        cores = os.cpu_count() or 1
        return cores if cores > 1 and file_bytes >= POOL_MIN_BYTES else 0
    if not 0 <= workers <= WORKERS_MAX:
        raise InvalidInput("workers", f"must be from 0 to {WORKERS_MAX}")
    return workers


WORKERS_MAX = 64


def _checked(
    rows: Iterator[Read],
    rules: Rules,
    clock: Callable[[], datetime],
    workers: int,
    position: Callable[[], int],
) -> Iterator[tuple[int, Checked, int]]:
    """Each row validated, in file order, with its number and the bytes read up to its
    chunk. With ``workers`` the chunks are validated by that many processes, a few chunks
    ahead of the rows being saved; else here, as they are read."""

    def chunks() -> Iterator[tuple[list[Read], int]]:
        chunk: list[Read] = []
        for item in rows:
            chunk.append(item)
            if len(chunk) >= CHUNK:
                yield chunk, position()
                chunk = []
        if chunk:
            yield chunk, position()

    if workers == 0:
        for chunk, read in chunks():
            for (number, _), result in zip(chunk, check_rows(chunk, rules, clock()), strict=True):
                yield number, result, read
        return
    # Spawned, not forked: a fork would copy this process's open database connections.
    context = multiprocessing.get_context("spawn")
    ahead: deque[tuple[list[Read], int, Future[list[Checked]]]] = deque()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(rules,)
    ) as pool:
        try:
            source = chunks()
            for chunk, read in source:
                ahead.append((chunk, read, pool.submit(_check_in_worker, chunk, clock())))
                if len(ahead) < 2 * workers + 1:
                    continue
                yield from _results(ahead.popleft())
            while ahead:
                yield from _results(ahead.popleft())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _results(
    done: tuple[list[Read], int, Future[list[Checked]]],
) -> Iterator[tuple[int, Checked, int]]:
    chunk, read, future = done
    for (number, _), result in zip(chunk, future.result(), strict=True):
        yield number, result, read


def import_file(
    app: Leadflow,
    path: Path,
    *,
    fmt: Format | None = None,
    batch_size: int = 500,
    actor: str | None = None,
    progress: Callable[[int], None] | None = None,
    encoding: str = "utf-8",
    migrate: bool = False,
    workers: int | None = None,
) -> ImportSummary:
    """Import ``path``; ``progress(bytes_read)`` is called after each batch. With
    ``migrate`` the rows are leads from another CRM, with their owner, stage, status,
    score and capture time (:data:`MIGRATION`). ``workers``: processes that validate the
    rows (:func:`pool_size`; 0: in this process)."""
    if batch_size < 1:
        raise InvalidInput("batch_size", "must be at least 1")
    if not path.is_file():
        raise InvalidInput("file", f"{path} is not a file")
    wanted = encoding.lower().replace("_", "-")
    if wanted in ("utf8", "utf-8-sig"):
        wanted = "utf-8"
    if wanted not in ENCODINGS:
        raise InvalidInput("encoding", f"{encoding!r} is not one of: {', '.join(ENCODINGS)}")
    codecs.lookup(wanted)
    fmt = fmt or detect_format(path)
    processes = pool_size(workers, path.stat().st_size)
    rules = Rules.of(app, migrate=migrate)  # one file, one pipeline (and roster)
    pipeline = rules.pipeline
    check_table(path, fmt, wanted, tuple(pipeline.capture.contact_fields), migrate=migrate)
    summary = ImportSummary(file=str(path), format=fmt)
    report = errors_path(path)
    report.unlink(missing_ok=True)  # a stale report would describe another run
    started = time.perf_counter()
    error_handle = None
    error_writer: Any = None
    batch: list[tuple[CaptureLead, str | None]] = []
    saved_up_to = 0

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
            progress(saved_up_to)

    try:
        csv.field_size_limit(_FIELD_MAX)
        with path.open("rb") as handle:
            reader = _Counting(handle, wanted)
            checked = _checked(
                read_rows(reader, fmt), rules, app.clock, processes, lambda: reader.bytes_read
            )
            for _, row, read in checked:
                summary.rows += 1
                saved_up_to = read
                if not isinstance(row, RowError):
                    batch.append(row)
                else:
                    summary.invalid += 1
                    if error_writer is None:
                        error_handle = report.open("w", newline="", encoding="utf-8")
                        error_writer = csv.writer(error_handle)
                        error_writer.writerow(
                            ["row", "field", "reason", "line", "external_id", "raw"]
                        )
                    error_writer.writerow(
                        [
                            row.row,
                            row.field,
                            row.reason,
                            row.line or "",
                            row.external_id,
                            row.raw,
                        ]
                    )
                if len(batch) >= batch_size:
                    flush()
            flush()
    finally:
        if error_handle is not None:
            error_handle.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.errors_file = str(report) if summary.invalid else None
    log.info("import_finished", workers=processes, **summary.to_json_dict())
    return summary
