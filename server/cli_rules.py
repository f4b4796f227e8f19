"""`jifen rules check | fmt | simulate`: rule files as an operator works on them."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import dsl
from dsl.errors import RulesError
from dsl.formatter import format_source
from server.core.clock import SystemClock


def read(paths: list[Path]) -> list[tuple[str, str]] | None:
    """(name, text) of the files named and of the *.rules files of the directories named;
    None, having said so, if a path does not exist."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(dsl.read_directory(path))
        elif path.is_file():
            files.append((str(path), path.read_text(encoding="utf-8")))
        else:
            print(f"jifen: {path} does not exist", file=sys.stderr)
            return None
    return files


def report_directory(directory: Path, quiet_ok: bool = False) -> bool:
    """Print the directory's diagnostics; True if there is an error."""
    return report(dsl.read_directory(directory), quiet_ok)


def report(files: list[tuple[str, str]], quiet_ok: bool = False) -> bool:
    """Print the diagnostics of these files taken together; True if there is an error."""
    _, diagnostics = dsl.load(files, today=date.today())
    for d in diagnostics:
        print(d.format(), file=sys.stderr)
    errors = sum(d.is_error for d in diagnostics)
    if not quiet_ok or diagnostics:
        print(
            f"{len(files)} file(s): {errors} error(s), {len(diagnostics) - errors} warning(s)",
            file=sys.stderr,
        )
    return errors > 0


def check(args) -> int:
    files = read(args.paths)
    if files is None:
        return 2
    return 1 if report(files) else 0


def fmt(args) -> int:
    paths = []
    for path in args.paths:
        if not path.exists():
            print(f"jifen: {path} does not exist", file=sys.stderr)
            return 2
        paths.extend(sorted(path.glob("*.rules")) if path.is_dir() else [path])
    status = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            formatted = format_source(text, str(path))
        except RulesError as exc:
            for d in exc.diagnostics:
                print(d.format(), file=sys.stderr)
            status = 1
            continue
        if formatted != text:
            if args.check:
                print(f"{path}: not in canonical form", file=sys.stderr)
                status = 1
            else:
                path.write_text(formatted, encoding="utf-8")
                print(f"formatted {path}")
    return status


def simulate(args) -> int:
    from server.cli import _in_program_zone, _open  # the command's module imports this one
    from server.core import simulate as simulation
    from server.core.errors import DomainError

    files = read([args.path])
    if files is None:
        return 2
    _open()
    since, until = _in_program_zone(args.since), _in_program_zone(args.until)

    def progress(done: int, total: int) -> None:
        share = f" ({100 * done // total}%)" if total else ""
        print(f"replayed {done:,} of {total:,} events{share}", file=sys.stderr, flush=True)

    try:
        result = simulation.simulate(
            files, since, until, now=SystemClock().now(), progress=progress
        )
    except RulesError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"jifen: {exc.message}", file=sys.stderr)
        return 2
    _print_simulation(result, files, since, until)
    return 0


def _print_simulation(report, files, since: datetime, until: datetime) -> None:
    now = SystemClock().now()
    compiled, _ = dsl.load(files, today=now.date())  # simulate() found no error in them
    where = {key: c.file or key for key, c in compiled.campaigns.items()}
    print(
        f"{report.events_in_range:,} events from {since:%Y-%m-%d %H:%M} to "
        f"{until:%Y-%m-%d %H:%M}; {len(report.members):,} members reached; "
        f"{sum(c.points for c in report.campaigns.values()):,} points in all\n"
        "Points are net of clawbacks: an award taken back in the range (its invitee left) "
        "is not counted.\n"
    )
    print(f"{'campaign':<24} {'points':>10} {'awards':>8} {'members':>8}  budget")
    for c in report.campaigns.values():
        budget = (
            ""
            if c.budget is None
            else f"{c.budget:,}"
            + (f", runs out {c.budget_hit_at:%Y-%m-%d %H:%M}" if c.budget_hit_at else "")
        )
        print(f"{c.campaign:<24} {c.points:>10,} {c.awards:>8,} {len(c.members):>8,}  {budget}")
    rows = [(f"{where[r.campaign]}:{r.line}", r) for r in report.rules.values()]
    width = max([len("rule"), *(len(label) for label, _ in rows)])
    print(f"\n{'rule':<{width}} {'points':>10} {'awards':>8}  text")
    for label, r in rows:
        print(f"{label:<{width}} {r.points:>10,} {r.awards:>8,}  {r.text}")
    if report.badges:
        print(f"\n{'badge':<24} {'members':>8}")
        for key, held in sorted(report.badges.items()):
            print(f"{key:<24} {len(held):>8,}")
    p = report.protection
    if p is not None and (p.freezes or p.make_ups or p.refused):
        print(
            f"\nStreak protection (points members spend): {p.freezes:,} freezes "
            f"{p.freeze_points:,} points, {p.make_ups:,} make-up check-ins "
            f"{p.make_up_points:,} points"
            + (f"; {p.refused:,} the draft would refuse" if p.refused else "")
        )
    closes = report.closes
    if not closes:
        return
    print(
        "\nBoard closes in the range: a period over by now is priced from its board as the "
        "replay counted it, one still to come at its whole prize table (the most it can "
        "cost); budgets not applied."
    )
    by_rule: dict[tuple[str, int], list] = {}
    for close in closes:
        by_rule.setdefault((close.campaign, close.line), []).append(close)
    labels = {key: f"{where[key[0]]}:{key[1]}" for key in by_rule}
    width = max([len("rule"), *(len(label) for label in labels.values())])
    print(f"{'rule':<{width}} {'points':>18} {'periods':>16}  text")
    for key, group in by_rule.items():
        points = sum(c.points for c in group)
        to_come = sum(1 for c in group if not c.ended)
        shown = f"at most {points:,}" if to_come else f"{points:,}"
        periods = f"{len(group)} ({to_come} to come)" if to_come else str(len(group))
        print(f"{labels[key]:<{width}} {shown:>18} {periods:>16}  {group[0].text}")
