"""Work measured in a fresh process, so that its peak RSS is its own.

``python -m bench.child rebuild URL [handlers]``: rebuild every read model of the store at
URL (inside the database; ``handlers``: through the per-event handlers).
``python -m bench.child catchup URL [handlers]``: build the read models up to 80% of the
log, then catch them up with the rest (timed) as a live store does: inside the database,
rebuilding the leads with new events (``handlers``: through the per-event handlers).
``python -m bench.child import CSV URL``: import the CSV into the (new) store at URL.
``python -m bench.child dedupe URL EMAILS``: look up the contact keys of the emails in the
file (held) and as many free keys, each once, timing each lookup.
``python -m bench.child queries URL EMAILS N``: the HTTP app of ``leadflow serve`` on the
store at URL, in this process, under N requests of each read query (``bench.queries``).

Prints one JSON line: what was done, the seconds it took and ``peak_rss_mb`` (the
process's RSS high-water mark, ``VmHWM``: interpreter and imports included; for an import
with worker processes, plus each worker at the largest worker's peak).
"""

from __future__ import annotations

import itertools
import json
import logging
import resource
import sys
import time
from pathlib import Path

import structlog


def _peak_mb() -> float:
    """This process's RSS high-water mark. ``VmHWM`` belongs to the process image, so it
    starts afresh at exec; ``ru_maxrss`` would carry the parent's peak across the fork."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from leadflow.adapters.cli_projections import log_source, projection_runner
    from leadflow.adapters.store import open_store

    if argv[0] == "rebuild":
        url = argv[1]
        app = open_store(url, actor="user:bench")
        runner = projection_runner(url, app)
        runner.ensure_tables()
        log = None if argv[2:] == ["handlers"] else log_source(app)
        started = time.perf_counter()
        events = runner.rebuild(
            lambda after: app.read_events(after=after, batch_size=10_000),
            head=app.max_position,
            log=log,
        )
        seconds = time.perf_counter() - started
        result = {"events": events, "seconds": seconds, "peak_rss_mb": _peak_mb()}
    elif argv[0] == "catchup":
        url = argv[1]
        app = open_store(url, actor="user:bench")
        runner = projection_runner(url, app)
        runner.ensure_tables()
        cut = int(app.max_position() * 0.8)
        runner.rebuild(
            lambda after: itertools.takewhile(
                lambda r: r.position <= cut, app.read_events(after=after, batch_size=10_000)
            ),
            head=lambda: cut,
            log=log_source(app),
        )
        log = None if argv[2:] == ["handlers"] else log_source(app)
        started = time.perf_counter()
        events = runner.catch_up(
            lambda after: app.read_events(after=after), head=app.max_position, log=log
        )
        seconds = time.perf_counter() - started
        result = {"events": events, "seconds": seconds, "peak_rss_mb": _peak_mb()}
    elif argv[0] == "import":
        from leadflow.adapters.importer import import_file, pool_size

        source, url = Path(argv[1]), argv[2]
        app = open_store(url, actor="user:bench")
        workers = pool_size(None, source.stat().st_size)
        started = time.perf_counter()
        summary = import_file(app, source, batch_size=500)
        seconds = time.perf_counter() - started
        # The worker processes that validated the rows, each counted at the largest's peak.
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = {
            "rows": summary.created,
            "seconds": seconds,
            "workers": workers,
            "peak_rss_mb": _peak_mb() + workers * children,
        }
    elif argv[0] == "dedupe":
        url = argv[1]
        app = open_store(url, actor="user:bench")
        key_id = app.contact_key_id
        held = [key_id("email", e) for e in Path(argv[2]).read_text().split()]
        free = [key_id("email", f"nobody{i}@example.org") for i in range(len(held))]
        app.pipeline  # noqa: B018 - read once, as any capture does before its lookups
        samples: list[float] = []
        cpu: list[float] = []
        found = 0
        # Interleaved, each key once: nothing is served from the aggregate cache.
        for h, f in zip(held, free, strict=True):
            for kid in (h, f):
                started, on_cpu = time.perf_counter(), time.thread_time()
                key = app.key(kid)
                samples.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - on_cpu) * 1000)
                found += key is not None
        if found != len(held):
            raise SystemExit(f"{found} of {len(held)} held keys found")
        result = {"samples_ms": samples, "cpu_ms": cpu, "peak_rss_mb": _peak_mb()}
    elif argv[0] == "queries":
        from bench.queries import serve_load

        emails = Path(argv[2]).read_text().split()
        result = {**serve_load(argv[1], emails, int(argv[3])), "peak_rss_mb": _peak_mb()}
        print(json.dumps(result))
        return 0
    else:
        raise SystemExit(f"unknown work {argv[0]!r}")
    app.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
