"""`jifen import FILE`: a community's history, brought in once (docs/operations.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.core.clock import SystemClock


def add(sub) -> None:
    """The `import` command, on the command line's parser."""
    parser = sub.add_parser(
        "import",
        help="bring in a community's history: members, joins, leaves, events, balances",
        description="Import members with their join times and inviters, leaves, past events "
        "and opening balances from JSON lines or CSV, in time order, each as if recorded "
        "live when it happened. Running the same file again imports nothing twice. See "
        "docs/operations.md, Importing history.",
    )
    parser.add_argument("file", type=Path, help="the records: .jsonl (or .json) or .csv")
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: from the file's extension"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="do it all, report what would be awarded, then undo it",
    )
    parser.add_argument(
        "--rules-of-today",
        action="store_true",
        help="judge every event by the rules in force now (a go-live backfill) instead of "
        "the rules in force when it happened",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.cli import _open  # the command's module imports this one
    from server.core import imports

    if not args.file.is_file():
        print(f"jifen: {args.file} does not exist", file=sys.stderr)
        return 2
    fmt = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "jsonl")
    try:
        records = imports.parse(args.file.read_text(encoding="utf-8-sig"), fmt)
    except UnicodeDecodeError:
        print(f"jifen: {args.file} is not UTF-8 text", file=sys.stderr)
        return 2
    except imports.ImportRefused as refused:
        for problem in refused.problems[:50]:
            print(f"{args.file}:{problem}", file=sys.stderr)
        more = len(refused.problems) - 50
        if more > 0:
            print(f"... and {more} more", file=sys.stderr)
        print("jifen: nothing was imported; fix the file and run again", file=sys.stderr)
        return 1
    _open()

    def progress(done: int, total: int) -> None:
        share = 100 * done // total if total else 100
        bar = "#" * (share // 4)
        print(f"\r[{bar:<25}] {done:,}/{total:,} records", end="", file=sys.stderr, flush=True)

    try:
        report = imports.run(
            records,
            now=SystemClock().now(),
            dry_run=args.dry_run,
            rules_of_today=args.rules_of_today,
            progress=progress,
        )
    except imports.ImportRefused as refused:
        print(file=sys.stderr)
        for problem in refused.problems[:50]:
            print(f"{args.file}:{problem}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    _print(report, args.file)
    return 1 if report.failed else 0


def _print(report, file: Path) -> None:
    verb = "would import" if report.dry_run else "imported"
    print(
        f"{report.records:,} records: {verb} {report.imported:,}, {report.replayed:,} "
        f"already imported, {len(report.failed):,} refused; "
        f"{report.members_created:,} new members"
    )
    if report.campaigns:
        given = "would award" if report.dry_run else "awarded"
        print(f"\n{'campaign':<24} {given:>12} {'taken back':>12}")
        for campaign, (points, back) in sorted(report.campaigns.items()):
            print(f"{campaign:<24} {points:>12,} {back:>12,}")
    for problem in report.failed[:50]:
        print(f"{file}:{problem}", file=sys.stderr)
    for problem in report.warnings[:20]:
        print(f"{file}:{problem} (warning)", file=sys.stderr)
