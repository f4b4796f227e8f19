"""What `jifen` checks before it starts anything: each problem of setup is one `SetupError`
whose message names the setting at fault and what to do, printed as one line.

Order matters to an operator: the port is checked before the database is touched, and the
database is reached before anything is migrated or published.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from peewee import Database, InterfaceError, OperationalError

from server.config import mask, settings
from server.store.db import DatabaseUnavailable, bind, open_database, write_transaction


class SetupError(Exception):
    """The deployment is set up so that jifen cannot start; the message says how to fix it."""


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, or an address this machine does not have,
    by binding it as the server will (and letting it go again)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise SetupError(
            f"--host {host}: no such address; use an address of this machine, 127.0.0.1 or 0.0.0.0"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SetupError(
                    f"--port {port}: {host}:{port} is already in use; stop what listens "
                    "there or pick another --port"
                ) from None
            if exc.errno == errno.EACCES:
                raise SetupError(
                    f"--port {port}: this user may not listen on ports below 1024; "
                    "pick a port from 1024 to 65535"
                ) from None
            raise SetupError(
                f"--host {host}: cannot listen there ({exc.strerror}); use an address of "
                "this machine, 127.0.0.1 or 0.0.0.0"
            ) from None


def open_checked(url: str | None = None) -> Database:
    """The database DATABASE_URL names, reached once and bound; SetupError if it cannot be."""
    url = url or settings().database_url
    if url.startswith("sqlite:///"):
        _check_sqlite_path(url)
    try:
        db = open_database(url)
        db.connect()
        db.close()
    except ValueError as exc:
        raise SetupError(f"DATABASE_URL={mask(url)!r}: {exc}") from None
    except (OperationalError, InterfaceError) as exc:
        raise SetupError(unreachable(url, exc)) from None
    return bind(db)


def upgrade_checked(db: Database) -> list[str]:
    """Apply pending migrations; a database that refuses them is a SetupError."""
    from server.store import migrate

    try:
        return migrate.upgrade(db)
    except (OperationalError, InterfaceError, DatabaseUnavailable) as exc:
        reason = _first_line(exc)
        if "permission denied" in reason.lower() or "readonly" in reason.lower():
            raise SetupError(
                f"DATABASE_URL={mask(settings().database_url)}: the database refuses to "
                f"create jifen's tables ({reason}); let its user create tables or run "
                "`jifen db upgrade` as the database's owner"
            ) from None
        raise SetupError(unreachable(settings().database_url, exc)) from None


def unreachable(url: str, exc: Exception) -> str:
    """One line saying why the database at `url` cannot be used, and what to do."""
    reason = _first_line(exc)
    low = reason.lower()
    where = f"DATABASE_URL={mask(url)}"
    parts = urlsplit(url)
    if url.startswith("sqlite"):
        return f"{where}: cannot open the database file ({reason}); check the path and its folder"
    if "connection refused" in low:
        return (
            f"{where}: nothing answers at {parts.hostname}:{parts.port or 5432} (connection "
            "refused); start PostgreSQL there or fix the host and port"
        )
    if "resolve host" in low or "name or service not known" in low:
        return f"{where}: unknown host {parts.hostname!r}; fix the host name"
    found = re.search(r'role "([^"]*)" does not exist', reason)
    if found:
        return (
            f"{where}: the server has no role {found.group(1)!r}; create it (createuser) "
            "or use another user name"
        )
    found = re.search(r'database "([^"]*)" does not exist', reason)
    if found:
        return (
            f"{where}: the server has no database {found.group(1)!r}; create it "
            "(createdb) or fix the database name"
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return f"{where}: the server refused the user's password; fix the user or password"
    if "timeout" in low or "timed out" in low:
        return f"{where}: the server did not answer in time; check the host, port and network"
    return f"{where}: cannot use the database ({reason}); check DATABASE_URL"


def _check_sqlite_path(url: str) -> None:
    path = Path(url.removeprefix("sqlite:///") or ":memory:")
    if str(path) == ":memory:":
        return
    folder = path.parent.resolve()
    where = f"DATABASE_URL={url}"
    if not folder.exists():
        raise SetupError(
            f"{where}: the folder {folder} does not exist; create it or point DATABASE_URL "
            "at a file in an existing folder"
        )
    if not folder.is_dir():
        raise SetupError(f"{where}: {folder} is not a folder; fix the path")
    # SQLite writes its journal (-wal, -shm) beside the file: the folder must be writable.
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        raise SetupError(
            f"{where}: this user cannot write in {folder}; make the folder (and the file) "
            "writable for it or point DATABASE_URL elsewhere"
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n")[0].split()).removeprefix("connection failed: ")


def check_key_file(db: Database, path: Path | None = None) -> None:
    """Before a first start migrates anything: the admin key's file can be written."""
    from server.store.models import ApiKey

    if db.table_exists(ApiKey._meta.table_name) and ApiKey.select().exists():
        return  # not a first start: no key will be written
    path = (path or settings().admin_key_file).expanduser().absolute()
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SetupError(
            f"JIFEN_ADMIN_KEY_FILE={path}: cannot write the first admin key there (no "
            "writable folder); set JIFEN_ADMIN_KEY_FILE to a file in a writable folder"
        )


def bootstrap_admin_key(path: Path | None = None) -> Path | None:
    """On a database without keys, create the first admin key and write it to a file only
    its owner can read (JIFEN_ADMIN_KEY_FILE); the key never reaches the logs. The key
    exists only if the file was written. Returns the file, or None when keys existed."""
    from server.core import auth
    from server.core.clock import SystemClock

    path = (path or settings().admin_key_file).expanduser().absolute()
    try:
        with write_transaction():
            key = auth.bootstrap_admin(now=SystemClock().now())
            if key is None:
                return None
            write_secret(path, key + "\n")
    except OSError as exc:
        raise SetupError(
            f"JIFEN_ADMIN_KEY_FILE={path}: cannot write the first admin key there "
            f"({exc.strerror}); set JIFEN_ADMIN_KEY_FILE to a file in a writable folder"
        ) from None
    return path


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the start; a reader sees all or nothing."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
