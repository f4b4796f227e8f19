"""The `jifen` command: serve, config, db, keys, ledger, export, schema.

A problem of setup (a malformed setting, a database that cannot be reached, a port in use)
is one line on stderr naming the setting and what to do, and exit status 2; never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from peewee import InterfaceError, OperationalError

from server import cli_import, cli_keys, cli_webhooks
from server import cli_rules as rule_files
from server.config import SettingsError, settings
from server.core.clock import SystemClock
from server.preflight import SetupError
from server.store.db import DatabaseUnavailable, connection_problem, database, write_transaction

DEFAULT_RULES = Path("rules")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from server.observe import logs

    logs.configure()  # JIFEN_LOG_FORMAT, JIFEN_LOG_LEVEL
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except (SettingsError, SetupError) as exc:
        return _fail(str(exc))
    except (OperationalError, InterfaceError, DatabaseUnavailable) as exc:
        if isinstance(exc, DatabaseUnavailable) or connection_problem(exc):
            from server.preflight import unreachable

            return _fail(unreachable(settings().database_url, exc))
        raise


def _fail(message: str) -> int:
    print(f"jifen: {message}", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the full usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; use 1 to 65535")
    return int(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jifen")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="jifen",
        description="jifen, a points backend for brand communities. "
        "DATABASE_URL picks the database (default: sqlite:///jifen.db); "
        "`jifen config` lists every setting.",
    )
    p.add_argument("--version", action="version", version=f"jifen {_version()}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the GraphQL server",
        description="Run the server: GraphQL (and GraphiQL) at /graphql.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default %(default)s)")
    serve.add_argument(
        "--rules",
        type=Path,
        default=DEFAULT_RULES,
        metavar="DIR",
        help="directory of *.rules files to load (default %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes (PostgreSQL only; default %(default)s)",
    )
    serve.set_defaults(func=_serve)

    config = sub.add_parser(
        "config",
        help="list every setting",
        description="List every setting: its environment variable, the value in force "
        "(secrets masked), where it came from, its default and what it means. "
        "See docs/operations.md.",
    )
    config.set_defaults(func=_config)

    db = sub.add_parser(
        "db", help="database schema", description="Manage the database schema."
    ).add_subparsers(title="commands", metavar="COMMAND")
    up = db.add_parser(
        "upgrade",
        help="apply pending migrations",
        description="Apply every pending schema migration.",
    )
    up.set_defaults(func=_db_upgrade)
    status = db.add_parser(
        "status", help="list migrations", description="List migrations and whether each is applied."
    )
    status.set_defaults(func=_db_status)

    cli_keys.register(sub)

    ledger = sub.add_parser(
        "ledger", help="ledger checks", description="Ledger maintenance."
    ).add_subparsers(title="commands", metavar="COMMAND")
    verify = ledger.add_parser(
        "verify",
        help="check every ledger invariant",
        description="Check that postings balance, balances equal their "
        "postings and lots are within bounds. Exits 1 on a problem.",
    )
    verify.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="also write the outcome as Prometheus metrics to FILE (for node_exporter's "
        "textfile collector; docs/operations.md, Monitoring)",
    )
    verify.set_defaults(func=_ledger_verify)

    export = sub.add_parser(
        "export", help="export data as CSV", description="Export data as CSV."
    ).add_subparsers(title="commands", metavar="COMMAND")
    led = export.add_parser(
        "ledger",
        help="ledger entries in a time range",
        description="Stream ledger entries posted in [from, to) as CSV.",
    )
    led.add_argument(
        "--from",
        dest="since",
        required=True,
        type=_instant,
        help="ISO date-time with offset, or a date: midnight in the program's time zone",
    )
    led.add_argument("--to", dest="until", required=True, type=_instant, help="exclusive end")
    led.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    led.set_defaults(func=_export_ledger)

    rules = sub.add_parser(
        "rules", help="check and format rule files", description="Work with rule files."
    ).add_subparsers(title="commands", metavar="COMMAND")
    check = rules.add_parser(
        "check",
        help="check rule files",
        description="Check rule files, taken together as one program: print every problem "
        "as file:line:column: error|warning: message, with the line and a caret. Exits 1 on "
        "any error.",
    )
    check.add_argument(
        "paths",
        type=Path,
        nargs="*",
        default=[DEFAULT_RULES],
        help="files, or directories of *.rules files (default: rules)",
    )
    check.set_defaults(func=rule_files.check)
    fmt = rules.add_parser(
        "fmt",
        help="rewrite rule files in canonical form",
        description="Rewrite rule files in canonical form; comments are kept.",
    )
    fmt.add_argument(
        "paths",
        type=Path,
        nargs="*",
        default=[DEFAULT_RULES],
        help="files or directories (default: rules)",
    )
    fmt.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a file is not in canonical form",
    )
    fmt.set_defaults(func=rule_files.fmt)
    sim = rules.add_parser(
        "simulate",
        help="price draft rules against stored events",
        description="Replay stored events in [from, to) against draft rules and print what "
        "they would issue per campaign and rule (net of clawbacks), the members reached and "
        "when budgets would run out, and price the leaderboard closes in the range: periods "
        "over by now from their boards, periods to come (--to may be in the future) at their "
        "whole prize tables. Writes nothing.",
    )
    sim.add_argument("path", type=Path, help="a .rules file or a directory of them")
    sim.add_argument("--from", dest="since", required=True, type=_instant)
    sim.add_argument("--to", dest="until", required=True, type=_instant)
    sim.set_defaults(func=rule_files.simulate)

    backup = sub.add_parser(
        "backup",
        help="write a consistent copy of the database",
        description="SQLite: an online backup to a new file, taken while the server runs. "
        "PostgreSQL: pg_dump's custom format (restore with pg_restore). "
        "See docs/security.md, Backups.",
    )
    backup.add_argument("target", type=Path, help="the new file to write")
    backup.set_defaults(func=_backup)

    cli_import.add(sub)
    cli_webhooks.add(sub)

    tick = sub.add_parser(
        "tick",
        help="run the periodic jobs once (for cron)",
        description="Expire points past their date and checkout holds past their time, pay "
        "the leaderboard periods that closed (every one missed since the last close, oldest "
        "first) and record today's birthdays; prints what was paid and what could not be. "
        "Safe to run while servers run the same jobs.",
    )
    tick.add_argument(
        "--at",
        type=_instant,
        metavar="TIME",
        help="rehearsal: run the jobs as if it were TIME (ISO date-time with offset) - only "
        "where JIFEN_ENV=staging or development, and written to the audit log "
        "(docs/rules.md, Rehearsal)",
    )
    tick.set_defaults(func=_tick)

    schema = sub.add_parser(
        "schema",
        help="print the GraphQL schema (SDL)",
        description="Print the GraphQL schema as SDL.",
    )
    schema.set_defaults(func=_schema)
    return p


def _open():
    from server.preflight import open_checked, upgrade_checked

    db = open_checked()
    upgrade_checked(db)
    return db


def _serve(args) -> int:
    import uvicorn

    from server.app import create_app, freeze_start_up, prepare_database
    from server.observe import serving
    from server.preflight import (
        bootstrap_admin_key,
        check_key_file,
        check_port,
        open_checked,
        upgrade_checked,
    )

    url = settings().database_url
    if args.workers < 1:
        print("jifen: --workers must be 1 or more", file=sys.stderr)
        return 2
    if args.workers > 1 and not url.startswith(("postgres://", "postgresql://")):
        print(
            "jifen: --workers needs PostgreSQL (DATABASE_URL=postgresql://...); "
            "SQLite has one writer at a time, so it is served by one process",
            file=sys.stderr,
        )
        return 2
    if not args.rules.is_dir():
        print(f"jifen: rules directory {args.rules} does not exist", file=sys.stderr)
        return 2
    if rule_files.report_directory(args.rules, quiet_ok=True):
        print("jifen: the rules have errors; fix them before starting", file=sys.stderr)
        return 1
    serving.before_serving()  # tracing's setup errors, an open /metrics in production
    # Nothing is migrated or published before the port is known to be free.
    check_port(args.host, args.port)
    db = open_checked()
    check_key_file(db)
    upgrade_checked(db)
    key_file = bootstrap_admin_key()
    if key_file is not None:
        serving.announce_first_key(key_file)  # where it is; the key goes to the file only
    # httptools parses HTTP and uvloop runs the event loop where they are installed (they
    # are dependencies; uvloop is not built for Windows): uvicorn's "auto" picks them.
    # uvicorn's lines go through jifen's logging (JIFEN_LOG_FORMAT), request ids and all.
    options = {"host": args.host, "port": args.port, "log_level": "info", "log_config": None}
    if args.workers == 1:
        app = create_app(database_url=url, rules_dir=args.rules, bootstrap=False)
        freeze_start_up()
        uvicorn.run(app, **options)
        return 0
    # The rules once, here; then the workers, which share the port. Each runs the periodic
    # jobs too: every job is idempotent across processes (keyed by what it closes), so a
    # second runner finds nothing left to do.
    prepare_database(url, args.rules, clock=SystemClock(), bootstrap=False)
    database.obj.close_all()
    with serving.several_workers(args.workers):  # one metrics folder for all of them
        uvicorn.run("server.app:worker_app", factory=True, workers=args.workers, **options)
    return 0


def _config(args) -> int:
    from server.config import describe

    entries = describe()
    rows = [("SETTING", "VALUE", "SOURCE", "DEFAULT", "MEANING")] + [
        (e.name, e.value, e.source, e.default, e.meaning) for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        print("  ".join([*cells, row[4]]))
    return 0


def _db_upgrade(args) -> int:
    from server.preflight import open_checked, upgrade_checked

    applied = upgrade_checked(open_checked())
    print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
    return 0


def _db_status(args) -> int:
    from server.preflight import open_checked
    from server.store import migrate

    rows = migrate.runner(open_checked()).status()
    for m in rows:
        print(f"[{'x' if m.applied else ' '}] {m.name}")
    return 1 if any(not m.applied for m in rows) else 0


def _ledger_verify(args) -> int:
    from server.core.verify import verify

    _open()
    report = verify()
    if args.metrics_file is not None:
        from server.observe.verified import write_outcome

        write_outcome(args.metrics_file, len(report.problems))
    if report.ok:
        print(
            f"ledger ok: {report.transactions} transactions, {report.accounts} accounts, "
            f"{report.lots} lots checked"
        )
        return 0
    print(f"ledger verify FAILED: {len(report.problems)} problem(s)", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _export_ledger(args) -> int:
    from server.core.history import export_csv

    _open()
    since, until = _in_program_zone(args.since), _in_program_zone(args.until)
    if until <= since:
        print("jifen: --to must be after --from", file=sys.stderr)
        return 2
    out = args.output.open("w", newline="") if args.output else sys.stdout
    try:
        for chunk in export_csv(since, until):
            out.write(chunk)
    finally:
        if args.output:
            out.close()
    return 0


def _backup(args) -> int:
    from server.preflight import open_checked
    from server.store.backup import BackupError, backup

    db = open_checked()
    try:
        path = backup(db, args.target)
    except BackupError as exc:
        print(f"jifen: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {path}")
    return 0


def _tick(args) -> int:
    from server.core import audit
    from server.core.clock import RehearsalRefused, environment, rehearsal_clock
    from server.core.tick import tick

    now = SystemClock().now()
    at = now
    if args.at is not None:
        try:
            at = rehearsal_clock(args.at).now()
        except RehearsalRefused as exc:
            print(f"jifen: {exc}", file=sys.stderr)  # before the database is even opened
            return 2
    _open()
    if args.at is not None:
        with write_transaction():
            audit.record(
                f"cli:{_user()}",
                "tick.rehearse",
                None,
                {"at": at.isoformat(), "environment": environment()},
                now=now,
            )
    print(tick(at))
    return 0


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say so
        return "unknown"


def _schema(args) -> int:
    from server.api.schema import sdl

    sys.stdout.write(sdl())
    return 0


def _instant(text: str) -> datetime | date:
    """A date-time (UTC when it has no offset), or a date, placed in the program's time
    zone once the database is open (`_in_program_zone`)."""
    from datetime import UTC

    try:
        if ":" not in text:
            return date.fromisoformat(text)
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or date-time: {text!r}; e.g. 2026-01-01 or "
            "2026-01-01T00:00:00+08:00"
        ) from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _in_program_zone(value: datetime | date) -> datetime:
    from datetime import time

    from server.core import program

    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), program.load().zone)


if __name__ == "__main__":
    sys.exit(main())
