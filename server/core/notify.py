"""Real-time notices: published inside a transaction, delivered only after it commits.

On PostgreSQL a notice is `pg_notify` in the transaction itself, which the server
delivers at commit to every process listening (LISTEN), this one included; on SQLite,
one process serves everything and an after-commit hook hands it to the local broker.
Each subscriber has a bounded queue: a slow or dead subscriber loses its oldest notices,
it never slows down a mutation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from contextlib import asynccontextmanager
from typing import Any

from server.core import webhooks
from server.observe import metrics
from server.store.db import (
    after_commit,
    before_commit,
    database,
    in_write_transaction,
    is_postgres,
    transaction_memo,
)

CHANNEL = "jifen"
QUEUE_SIZE = 256
log = logging.getLogger("jifen.notify")


class Broker:
    """This process's subscribers, by topic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @asynccontextmanager
    async def subscription(self, topic: str):
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._loop = asyncio.get_running_loop()
        with self._lock:
            self._subscribers[topic].add(queue)
        metrics.subscribed(topic, 1)
        try:
            yield queue
        finally:
            metrics.subscribed(topic, -1)
            with self._lock:
                self._subscribers[topic].discard(queue)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]

    def subscribers(self, topic: str) -> int:
        with self._lock:
            return len(self._subscribers.get(topic, ()))

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        """Hand a notice to this process's subscribers; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            queues = list(self._subscribers.get(topic, ()))
        for queue in queues:
            loop.call_soon_threadsafe(_offer, queue, payload)


def _offer(queue: asyncio.Queue, payload: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: a slow reader must not hold anyone up
    queue.put_nowait(payload)


broker = Broker()


def anyone_listening(topic: str) -> bool:
    """Whether a notice could reach anyone: always on PostgreSQL (other processes may
    listen), on SQLite only when this process has a subscriber."""
    return is_postgres() or broker.subscribers(topic) > 0


def publish(topic: str, payload: dict[str, Any]) -> None:
    """Send a notice to every subscriber of `topic` once the current transaction commits.

    On PostgreSQL the transaction's notices go out together, in as few `pg_notify` calls as
    their size allows, in one statement just before it commits.
    """
    if not is_postgres():
        after_commit(lambda: broker.deliver(topic, payload))
        return
    notice = {"topic": topic, "payload": payload}
    if not in_write_transaction():
        _send((notice,))
        return
    memo = transaction_memo()
    if "notices" not in memo:
        before_commit(lambda: _send(transaction_memo().pop("notices", ())))
    # A tuple, not a list: a savepoint that rolls back restores the memo as it was.
    memo["notices"] = (*memo.get("notices", ()), notice)


MAX_NOTICE = 7_900  # bytes; PostgreSQL refuses a notification payload of 8,000 or more


def _send(notices) -> None:
    messages, current, size = [], [], 2
    for notice in notices:
        text = json.dumps(notice, default=str)
        if current and size + len(text.encode()) + 1 > MAX_NOTICE:
            messages.append(current)
            current, size = [], 2
        current.append(text)
        size += len(text.encode()) + 1
    if current:
        messages.append(current)
    if messages:
        calls = ", ".join(["pg_notify(%s, %s)"] * len(messages))
        params = [p for group in messages for p in (CHANNEL, "[" + ",".join(group) + "]")]
        database.execute_sql(f"SELECT {calls}", params)


def dispatch(message: str) -> None:
    """Deliver the notices of one message received from PostgreSQL (a list of them)."""
    try:
        data = json.loads(message)
        for notice in data if isinstance(data, list) else [data]:
            broker.deliver(notice["topic"], notice["payload"])
    except (ValueError, KeyError, TypeError):
        log.warning("ignored a malformed notice: %.200s", message)


def points_payload(
    transaction_id: int,
    kind: str,
    member_id: int,
    moved: dict[str, tuple[int, int]],
    reason: str,
    campaign: str | None,
    at,
) -> dict[str, Any]:
    """A `pointsChanged` notice: each wallet the transaction moved (kind -> (delta, balance
    after)); the balances of wallets it did not move are left out (None) and read by the
    process that delivers the notice, only when someone is listening."""
    return {
        "memberId": member_id,
        "transactionId": transaction_id,
        "kind": kind,
        "delta": moved.get("available", (0, None))[0],
        "pendingDelta": moved.get("pending", (0, None))[0],
        "available": moved.get("available", (0, None))[1],
        "pending": moved.get("pending", (0, None))[1],
        "held": moved.get("held", (0, None))[1],
        "reason": reason,
        "campaign": campaign,
        "at": at.isoformat(),
    }


def points_changed(
    transaction_id: int,
    kind: str,
    member_id: int,
    moved: dict[str, tuple[int, int]],
    reason: str,
    campaign: str | None,
    at,
) -> None:
    """What every change of a member's wallets goes through (inside its transaction): the
    `pointsChanged` notice for subscribers, and the webhooks' outbox (server/core/webhooks.py)."""
    topic = points_topic(member_id)
    if anyone_listening(topic):
        publish(topic, points_payload(transaction_id, kind, member_id, moved, reason, campaign, at))
    webhooks.points_changed(transaction_id, kind, member_id, moved, reason, campaign, at)


def points_topic(member_id: int) -> str:
    return f"points:{member_id}"


def activity_topic(community: str | None) -> str:
    return f"activity:{community or ''}"


ANONYMOUS = "a member"  # how the public feed names a member without a display name


def announce(community: str | None, kind: str, member, text: str, at) -> None:
    """Tell the community's activity feed (and the program-wide one) what just happened.

    The feed is public: it names a member by display name only. Callers write the name as
    `display_name or external_id`, and the platform's user id is the member's private data.
    """
    name = member.display_name or ANONYMOUS
    if not member.display_name:
        text = text.replace(member.external_id, name)
    payload = {
        "kind": kind,
        "community": community,
        "memberId": member.id,
        "memberName": name,
        "text": text,
        "at": at.isoformat(),
    }
    publish(activity_topic(None), payload)
    if community:
        publish(activity_topic(community), payload)
