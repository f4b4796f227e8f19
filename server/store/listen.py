"""LISTEN on PostgreSQL and pass every notice on, reconnecting when the server goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

log = logging.getLogger("jifen.listen")


def dsn_of(db) -> str:
    """A psycopg connection string for a peewee PostgreSQL database."""
    params = dict(db.connect_params)
    params["dbname"] = db.database
    return psycopg.conninfo.make_conninfo(
        **{
            k: v
            for k, v in params.items()
            if k in ("dbname", "host", "port", "user", "password", "options")
        }
    )


async def listen(
    dsn: str, channel: str, deliver: Callable[[str], None], ready: asyncio.Event | None = None
) -> None:
    """Forever: LISTEN on `channel` and call `deliver(payload)` for each notice."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f'LISTEN "{channel}"')
                delay = 0.5
                if ready is not None:
                    ready.set()
                async for notice in conn.notifies():
                    deliver(notice.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: wait, reconnect
            log.warning("listening on %s failed (%s); retrying in %.1fs", channel, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
