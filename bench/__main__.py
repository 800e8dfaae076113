"""``python -m bench --size N [--only NAME] [--json out.json]``: leadflow's figures, each
next to a baseline measured in the same run, as a ratio."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.table import Table

from bench import commands, imports, scan, stream, sweep

BENCHMARKS: dict[str, Callable[[int, Path], list[dict[str, Any]]]] = {
    "commands": commands.run,
    "import": imports.run,
    "scan": scan.run,
    "stream": stream.run,
    "sweep": sweep.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", type=int, default=2000, help="leads per benchmark")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    console = Console()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(BENCHMARKS):
            workdir = Path(tmp) / name
            workdir.mkdir()
            with console.status(f"running {name} at size {args.size}"):
                for row in BENCHMARKS[name](args.size, workdir):
                    results.append({"benchmark": name, "size": args.size, **row})
    table = Table(title=f"leadflow benchmarks, {args.size} leads, {platform.machine()} "
                  f"{platform.python_implementation()} {platform.python_version()}")  # fmt: skip
    for column in ("figure", "value", "baseline", "ratio", "target", "met"):
        table.add_column(column)
    for row in results:
        table.add_row(
            row["figure"],
            f"{row['value']:,.0f}",
            f"{row['baseline']:,.0f}" if "baseline" in row else "",
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
