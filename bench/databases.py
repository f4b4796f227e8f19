"""Scratch databases for a benchmark: a SQLite file, or a PostgreSQL database dropped after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import postgres_admin_url, temporary_postgres


@contextmanager
def scratch(kind: str, directory: Path, name: str) -> Iterator[str]:
    """The URL of an empty database of `kind` (sqlite or postgres)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'{name}.db'}"
    else:
        with temporary_postgres(postgres_admin_url()) as url:
            yield url


def prepare(url: str, members: int, *, now, community: str = "fans") -> str:
    """Migrate, publish the demo rules, add members m0..m{n-1}; returns a service key."""
    import dsl
    from bench.servers import ROOT
    from server.core import auth, rules
    from server.core import members as core_members
    from server.store import migrate
    from server.store.db import bind, open_database, write_transaction

    db = bind(open_database(url))
    migrate.upgrade(db)
    with write_transaction():
        rules.publish(dsl.read_directory(ROOT / "rules"), now=now, actor="bench")
        _, key = auth.create_key(auth.Role.SERVICE, "bench", now=now)
    for start in range(0, members, 1000):
        with write_transaction():
            for i in range(start, min(members, start + 1000)):
                core_members.upsert(f"m{i}", now=now, community=community)
    db.close_all()
    return key
