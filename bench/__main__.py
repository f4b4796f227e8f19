"""Every benchmark, one table: figure, ratio to the baseline measured in the same run, target.

.venv/bin/python -m bench            # the full runs (minutes)
.venv/bin/python -m bench --tiny     # a smoke run on a tiny dataset (seconds)
"""

from __future__ import annotations

import argparse
import io
import sys
from contextlib import redirect_stdout

from bench import checkin_http, rule_cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a smoke run on a tiny dataset")
    args = parser.parse_args(argv)
    print(f"{'benchmark':<44} {'figure':>18} {'ratio':>7} {'target':>9}")
    rows = checkin_http.measure(50, 1) if args.tiny else checkin_http.measure(2000, 3)
    for row in rows:
        print(f"{row[0]:<44} {row[1]:>18} {row[2]:>7} {row[3]:>9}")
    cost_args = ["--campaigns", "20", "--events", "30", "--runs", "1"] if args.tiny else []
    captured = io.StringIO()
    with redirect_stdout(captured):
        rule_cost.main(cost_args)
    for line in captured.getvalue().splitlines()[1:]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
