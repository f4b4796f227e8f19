"""Backups: SQLite's online backup API; pg_dump's custom format for PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from peewee import Database

from server.store.db import is_postgres


class BackupError(Exception):
    pass


def backup(db: Database, target: Path) -> Path:
    """Write a consistent copy of the live database to `target`, while it keeps serving."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_postgres(db):
        return _pg_dump(db, target)
    with db.connection_context():
        destination = sqlite3.connect(str(target))
        try:
            db.connection().backup(destination)
        finally:
            destination.close()
    return target


def _pg_dump(db: Database, target: Path) -> Path:
    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not installed; see docs/security.md, Backups")
    params = db.connect_params
    command = [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        f"--file={target}",
        f"--dbname={db.database}",
    ]
    for flag, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if params.get(key):
            command.append(f"{flag}={params[key]}")
    env = {"PGPASSWORD": str(params["password"])} if params.get("password") else None
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return target
