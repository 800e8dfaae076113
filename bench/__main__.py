"""``python -m bench --size N [--only NAME] [--json out.json]``: leadflow's figures, each
next to a baseline measured in the same run, as a ratio."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.table import Table

from bench import (
    commands,
    http,
    imports,
    personal_data,
    queries,
    readside,
    scale,
    scan,
    serve,
    startup,
    stream,
    sweep,
)

BENCHMARKS: dict[str, Callable[[int, Path], list[dict[str, Any]]]] = {
    "commands": commands.run,
    "http": http.run,
    "personal_data": personal_data.run,
    "scan": scan.run,
    "startup": startup.run,
    "stream": stream.run,
}
ON_DB: dict[str, Callable[[int, Path, str | None], list[dict[str, Any]]]] = {
    "import": imports.run,
}
"""Benchmarks with stores of their own that honour ``--db`` (one schema each)."""
READ_SIDE: dict[str, Callable[[int, Path, str | None], list[dict[str, Any]]]] = {
    "rebuild": readside.rebuild,
    "funnel": readside.funnel_figures,
    "dedupe": readside.dedupe,
    "memory": readside.memory,
    "queries": queries.run,
    "first_build": scale.first_build,
    "memory_rebuild": scale.memory_rebuild,
    "memory_import": scale.memory_import,
    "sweep": sweep.run,
    "serve": serve.run,
}
"""Benchmarks on one shared synthetic store (``bench.synth``); these honour ``--db``.
(``sweep`` writes to a copy of it; ``serve`` makes its own stores.)"""
ALL = sorted([*BENCHMARKS, *ON_DB, *READ_SIDE])


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", type=int, default=2000, help="leads per benchmark")
    parser.add_argument("--only", choices=ALL, action="append")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--db",
        help="PostgreSQL URL for the benchmarks on the synthetic store (rebuild, funnel, "
        "dedupe, memory, first_build, memory_rebuild, queries, sweep) and for import, "
        "memory_import and serve, "
        "e.g. postgresql://postgres@127.0.0.1:5432/test?schema=bench_x (schemas "
        "<schema>_* are dropped and created); default: SQLite files in --workdir",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where stores are written (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the stores after the run")
    parser.add_argument(
        "--stores",
        type=Path,
        help="directory for the synthetic SQLite stores, kept and reused by later runs",
    )
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    console = Console(width=max(Console().width, 150))
    results: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="bench-", dir=args.workdir)
    try:
        for name in args.only or ALL:
            workdir = Path(tmp) / name
            workdir.mkdir()
            shared = args.stores or Path(tmp) / "synthetic"
            shared.mkdir(exist_ok=True, parents=True)
            with console.status(f"running {name} at size {args.size}"):
                started = time.perf_counter()
                if name in READ_SIDE:
                    rows = READ_SIDE[name](args.size, shared, args.db)
                elif name in ON_DB:
                    rows = ON_DB[name](args.size, workdir, args.db)
                else:
                    rows = BENCHMARKS[name](args.size, workdir)
                for row in rows:
                    results.append({"benchmark": name, "size": args.size, **row})
            console.print(f"{name}: done in {time.perf_counter() - started:,.1f} s")
    finally:
        if args.keep:
            console.print(f"stores kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    store = "PostgreSQL" if args.db else "SQLite"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    table = Table(
        title=f"leadflow benchmarks, {args.size:,} leads, read side on {store}, "
        f"{platform.machine()} {python}, {os.cpu_count()} CPUs, load average {load}"
    )
    for column in ("figure", "value", "baseline", "ratio", "target", "met"):
        table.add_column(column)
    for row in results:
        table.add_row(
            row["figure"],
            _fmt(row["value"]),
            _fmt(row["baseline"]) if "baseline" in row else "",
            f"{row['ratio']:.2f}x" if "ratio" in row else "",
            row.get("target", ""),
            {True: "yes", False: "NO"}.get(row.get("met"), ""),  # type: ignore[arg-type]
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
