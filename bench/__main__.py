"""Every benchmark, one table: figure, ratio to the baseline measured in the same run, target.

.venv/bin/python -m bench                 # the full runs (about 25 minutes)
.venv/bin/python -m bench --tiny          # a smoke run on tiny datasets (a minute or two)
.venv/bin/python -m bench --only batch,history

Each benchmark also runs alone: `python -m bench.<name> --help`. PostgreSQL benchmarks
use the server of JIFEN_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test)
to create and drop scratch databases.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout

from bench import (
    batch,
    checkin_http,
    contention,
    history,
    import_history,
    leaderboard,
    memory,
    realtime,
    report,
    rule_cost,
)
from tests.support import PostgresUnavailable, postgres_admin_url

Row = report.Row
PG_URL = postgres_admin_url()


def _rule_cost(args: list[str]) -> list[Row]:
    captured = io.StringIO()
    with redirect_stdout(captured):
        rule_cost.main(args)
    rows = []
    for line in captured.getvalue().splitlines()[1:]:
        if line.startswith("("):
            continue
        name, rest = line[:44].rstrip(), line[44:].split()
        rows.append((name, f"{rest[0]} {rest[1]}", rest[2], " ".join(rest[3:])))
    return rows


# name -> (full run, tiny run)
BENCHMARKS: dict[str, tuple[Callable[[], list[Row]], Callable[[], list[Row]]]] = {
    "checkin_http": (lambda: checkin_http.measure(10, 3), lambda: checkin_http.measure(1, 1)),
    "batch": (
        lambda: batch.measure(10_000, 3, ["sqlite", "postgres", "postgres:2"]),
        lambda: batch.measure(999, 1, ["sqlite", "postgres", "postgres:2"]),
    ),
    "rule_cost": (
        lambda: _rule_cost([]),
        lambda: _rule_cost(["--campaigns", "20", "--events", "30", "--runs", "1"]),
    ),
    "history": (
        lambda: history.measure(1_000_000, 400, 10),
        lambda: history.measure(20_000, 20, 1),
    ),
    "leaderboard": (
        lambda: leaderboard.measure(1_000_000, 50_000, 400, 10),
        lambda: leaderboard.measure(5_000, 500, 20, 1),
    ),
    "realtime": (lambda: realtime.measure(1000), lambda: realtime.measure(20)),
    "memory": (
        lambda: memory.measure(1_000_000, 10_000),
        lambda: memory.measure(3_000, 100),
    ),
    "contention": (lambda: contention.measure(2000, 3), lambda: contention.measure(160, 1)),
    "import_history": (
        lambda: import_history.measure(100_000, 2_000),
        lambda: import_history.measure(2_000, 50),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a smoke run on tiny datasets")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    print(report.header(), flush=True)
    for name in names:
        began = time.monotonic()
        print(f"[{name}] running...", file=sys.stderr, flush=True)
        full, tiny = BENCHMARKS[name]
        try:
            report.show((tiny if args.tiny else full)())
        except PostgresUnavailable as exc:
            report.show([(name, "skipped", "", "PostgreSQL")])
            print(f"[{name}] needs PostgreSQL at {PG_URL}: {exc}", file=sys.stderr)
        print(f"[{name}] {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
