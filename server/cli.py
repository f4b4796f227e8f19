"""The `jifen` command: serve, db, keys, ledger, export, schema."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

from server.core.clock import SystemClock
from server.store.db import bind, database, database_url, open_database, write_transaction

DEFAULT_RULES = Path("rules")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jifen",
        description="jifen, a points backend for brand communities. "
        "DATABASE_URL picks the database (default: sqlite:///jifen.db).",
    )
    sub = p.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the GraphQL server",
        description="Run the server: GraphQL (and GraphiQL) at /graphql.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
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

    keys = sub.add_parser(
        "keys", help="API keys and member tokens", description="Create, list and revoke API keys."
    ).add_subparsers(title="commands", metavar="COMMAND")
    create = keys.add_parser(
        "create",
        help="create a key and print it once",
        description="Create an API key. It is printed once; only its hash is stored.",
    )
    create.add_argument(
        "--role", required=True, choices=["admin", "operator", "reviewer", "analyst", "service"]
    )
    create.add_argument("--name", required=True, help="who or what will use it")
    create.set_defaults(func=_keys_create)
    lst = keys.add_parser("list", help="list keys", description="List keys (never secrets).")
    lst.set_defaults(func=_keys_list)
    revoke = keys.add_parser(
        "revoke", help="revoke a key", description="Revoke a key by its prefix (see `keys list`)."
    )
    revoke.add_argument("prefix")
    revoke.set_defaults(func=_keys_revoke)
    token = keys.add_parser(
        "member-token",
        help="print a signed token for one member",
        description="Print a signed member token, for trying the API as a member.",
    )
    token.add_argument("external_id", metavar="EXTERNAL_ID")
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default %(default)s)")
    token.set_defaults(func=_keys_member_token)

    ledger = sub.add_parser(
        "ledger", help="ledger checks", description="Ledger maintenance."
    ).add_subparsers(title="commands", metavar="COMMAND")
    verify = ledger.add_parser(
        "verify",
        help="check every ledger invariant",
        description="Check that postings balance, balances equal their "
        "postings and lots are within bounds. Exits 1 on a problem.",
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
        help="ISO date-time with offset (or a date, taken as UTC midnight)",
    )
    led.add_argument("--to", dest="until", required=True, type=_instant, help="exclusive end")
    led.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    led.set_defaults(func=_export_ledger)

    rules = sub.add_parser(
        "rules", help="check and format rule files", description="Work with rule files."
    ).add_subparsers(title="commands", metavar="COMMAND")
    check = rules.add_parser(
        "check",
        help="check every *.rules file of a directory",
        description="Print every problem as file:line:column: error|warning: message, "
        "with the line and a caret. Exits 1 on any error.",
    )
    check.add_argument("directory", type=Path, nargs="?", default=DEFAULT_RULES)
    check.set_defaults(func=_rules_check)
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
    fmt.set_defaults(func=_rules_fmt)
    sim = rules.add_parser(
        "simulate",
        help="price draft rules against stored events",
        description="Replay stored events in [from, to) against draft rules and print what "
        "they would issue per campaign and rule, the members reached and when budgets would "
        "run out. Writes nothing.",
    )
    sim.add_argument("path", type=Path, help="a .rules file or a directory of them")
    sim.add_argument("--from", dest="since", required=True, type=_instant)
    sim.add_argument("--to", dest="until", required=True, type=_instant)
    sim.set_defaults(func=_rules_simulate)

    backup = sub.add_parser(
        "backup",
        help="write a consistent copy of the database",
        description="SQLite: an online backup to a new file, taken while the server runs. "
        "PostgreSQL: pg_dump's custom format (restore with pg_restore). "
        "See docs/operations.md.",
    )
    backup.add_argument("target", type=Path, help="the new file to write")
    backup.set_defaults(func=_backup)

    tick = sub.add_parser(
        "tick",
        help="run the periodic jobs once (for cron)",
        description="Expire points past their date and checkout holds past their time. "
        "Safe to run while servers run the same jobs.",
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
    db = bind(open_database())
    from server.store import migrate

    migrate.upgrade(db)
    return db


def _serve(args) -> int:
    import uvicorn

    from server.app import create_app, prepare_database

    url = database_url()
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
    if _report_rules(args.rules, quiet_ok=True):
        print("jifen: the rules have errors; fix them before starting", file=sys.stderr)
        return 1
    # httptools parses HTTP and uvloop runs the event loop where they are installed (they
    # are dependencies; uvloop is not built for Windows): uvicorn's "auto" picks them.
    options = {"host": args.host, "port": args.port, "log_level": "info"}
    if args.workers == 1:
        uvicorn.run(create_app(database_url=url, rules_dir=args.rules), **options)
        return 0
    # Migrations, the rules and the first key once, here; then the workers, which share
    # the port. Each runs the periodic jobs too: every job is idempotent across
    # processes (keyed by what it closes), so a second runner finds nothing left to do.
    prepare_database(url, args.rules, clock=SystemClock())
    database.obj.close_all()
    uvicorn.run("server.app:worker_app", factory=True, workers=args.workers, **options)
    return 0


def _db_upgrade(args) -> int:
    from server.store import migrate

    applied = migrate.upgrade(bind(open_database()))
    print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
    return 0


def _db_status(args) -> int:
    from server.store import migrate

    rows = migrate.runner(bind(open_database())).status()
    for m in rows:
        print(f"[{'x' if m.applied else ' '}] {m.name}")
    return 1 if any(not m.applied for m in rows) else 0


def _keys_create(args) -> int:
    from server.core import auth

    _open()
    with write_transaction():
        key, plain = auth.create_key(auth.Role(args.role), args.name, now=SystemClock().now())
    print(f"created {key.role} key {key.prefix!r} for {key.name!r}. It is shown only once:\n")
    print(plain)
    return 0


def _keys_list(args) -> int:
    from server.store.models import ApiKey

    _open()
    for k in ApiKey.select().order_by(ApiKey.id):
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        print(f"{k.prefix}  {k.role:<9} {state:<18} {k.name}")
    return 0


def _keys_revoke(args) -> int:
    from server.core import auth

    _open()
    with write_transaction():
        done = auth.revoke_key(args.prefix, now=SystemClock().now())
    print("revoked" if done else f"no active key with prefix {args.prefix!r}")
    return 0 if done else 1


def _keys_member_token(args) -> int:
    from server.core import auth
    from server.store.models import Member

    _open()
    member = Member.get_or_none(Member.external_id == args.external_id)
    if member is None:
        print(f"jifen: no member with externalId {args.external_id!r}", file=sys.stderr)
        return 1
    print(auth.member_token(member.id, now=SystemClock().now(), ttl=timedelta(seconds=args.ttl)))
    return 0


def _ledger_verify(args) -> int:
    from server.core.verify import verify

    _open()
    report = verify()
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
    if args.until <= args.since:
        print("jifen: --to must be after --from", file=sys.stderr)
        return 2
    out = args.output.open("w", newline="") if args.output else sys.stdout
    try:
        for chunk in export_csv(args.since, args.until):
            out.write(chunk)
    finally:
        if args.output:
            out.close()
    return 0


def _report_rules(directory: Path, quiet_ok: bool = False) -> bool:
    """Print the directory's diagnostics; True if there is an error."""
    from datetime import date

    import dsl

    files = dsl.read_directory(directory)
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


def _rules_check(args) -> int:
    if not args.directory.is_dir():
        print(f"jifen: {args.directory} is not a directory", file=sys.stderr)
        return 2
    return 1 if _report_rules(args.directory) else 0


def _rules_fmt(args) -> int:
    from dsl.errors import RulesError
    from dsl.formatter import format_source

    paths = []
    for path in args.paths:
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


def _rules_simulate(args) -> int:
    import dsl
    from server.core.errors import DomainError
    from server.core.simulate import simulate

    if args.path.is_dir():
        files = dsl.read_directory(args.path)
    elif args.path.is_file():
        files = [(str(args.path), args.path.read_text(encoding="utf-8"))]
    else:
        print(f"jifen: {args.path} does not exist", file=sys.stderr)
        return 2
    _open()

    def progress(done: int, total: int) -> None:
        share = f" ({100 * done // total}%)" if total else ""
        print(f"replayed {done:,} of {total:,} events{share}", file=sys.stderr, flush=True)

    try:
        report = simulate(files, args.since, args.until, now=SystemClock().now(), progress=progress)
    except dsl.RulesError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"jifen: {exc.message}", file=sys.stderr)
        return 2
    print(
        f"{report.events_in_range:,} events from {args.since:%Y-%m-%d %H:%M} to "
        f"{args.until:%Y-%m-%d %H:%M}; {len(report.members):,} members reached; "
        f"{sum(c.points for c in report.campaigns.values()):,} points in all\n"
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
    print(f"\n{'rule':<60} {'points':>10} {'awards':>8}")
    for r in report.rules.values():
        label = f"{r.campaign}:{r.line} {r.text}"
        print(f"{label[:60]:<60} {r.points:>10,} {r.awards:>8,}")
    return 0


def _backup(args) -> int:
    from server.store.backup import BackupError, backup

    db = bind(open_database())
    try:
        path = backup(db, args.target)
    except BackupError as exc:
        print(f"jifen: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {path}")
    return 0


def _tick(args) -> int:
    from server.core.tick import tick

    _open()
    print(tick(SystemClock().now()))
    return 0


def _schema(args) -> int:
    from server.api.schema import sdl

    sys.stdout.write(sdl())
    return 0


def _instant(text: str) -> datetime:
    from datetime import UTC

    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {text!r}") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


if __name__ == "__main__":
    sys.exit(main())
