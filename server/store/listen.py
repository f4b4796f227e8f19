"""LISTEN on PostgreSQL and pass every notice on, reconnecting when the server goes away.

One connection listens on every channel the server needs: real-time notices, and the
announcements that keys, settings or rules changed (server/core/generation.py).
"""

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
    dsn: str,
    channels: dict[str, Callable[[str], None]],
    ready: asyncio.Event | None = None,
    on_connect: Callable[[], None] | None = None,
) -> None:
    """Forever: LISTEN on each channel and call its `deliver(payload)` for each notice.

    `on_connect` runs each time listening (re)starts: notices sent while no connection
    listened are lost, so whoever depends on them catches up there."""
    delay = 0.5
    names = ", ".join(channels)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for channel in channels:
                    await conn.execute(f'LISTEN "{channel}"')
                delay = 0.5
                if on_connect is not None:
                    on_connect()
                if ready is not None:
                    ready.set()
                async for notice in conn.notifies():
                    channels[notice.channel](notice.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: wait, reconnect
            log.warning("listening on %s failed (%s); retrying in %.1fs", names, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
