"""Webhook deliveries: claimed, signed, sent, and retried with backoff for a day.

Each delivery is one event for one endpoint. A worker claims deliveries that are due in a
short write transaction (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so workers of several
processes take different rows; on SQLite the one writer does the same), and the claim
counts the attempt and moves the delivery's next attempt a lease ahead. The POST happens
after the claim has committed, outside any transaction; its outcome is written only if
the delivery is still at that attempt of that stream. So each attempt is made by exactly
one worker, and a worker that dies mid-POST leaves the delivery to be tried again once
the lease has run out (receivers dedupe by `Jifen-Event-Id`; docs/operations.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from server.config import settings
from server.core.errors import DomainError, ErrorCode
from server.core.webhooks import private_address
from server.store import sql
from server.store.db import is_postgres, write_transaction
from server.store.models import WebhookDelivery
from server.store.sql import Sql

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
STATUSES = (PENDING, DELIVERED, FAILED, CANCELLED)
RETRY_FOR = timedelta(hours=24)  # a stream gives up once its next attempt would be later
FIRST_RETRY = timedelta(seconds=30)  # then doubled each attempt...
LONGEST_WAIT = timedelta(hours=1)  # ...up to this
JITTER = 0.25  # each wait is up to this much longer, at random, so retries spread out
LEASE = timedelta(minutes=2)  # a claimed attempt not finished by then is tried again
BATCH = 20  # deliveries claimed at once by one worker
MAX_ERROR = 500  # characters of an error (or response) kept
USER_AGENT = "jifen-webhooks/1"

_DUE = Sql(
    "SELECT 1 FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1"
)
_CLAIMABLE = (
    "SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND e.enabled "
    "AND e.deleted_at IS NULL ORDER BY d.next_attempt_at, d.id LIMIT ?"
)
_CLAIM = Sql(
    "UPDATE webhook_delivery SET attempts = attempts + 1, next_attempt_at = ?, "
    f"last_attempt_at = ? WHERE id IN ({_CLAIMABLE}) RETURNING id, attempts, stream"
)
# Rows another worker holds are passed over, not waited for; a row it claimed and
# committed meanwhile is read again as it is now, and is no longer due.
_CLAIM_PG = Sql(
    f"WITH due AS ({_CLAIMABLE} FOR UPDATE OF d SKIP LOCKED) "
    "UPDATE webhook_delivery w SET attempts = w.attempts + 1, next_attempt_at = ?, "
    "last_attempt_at = ? FROM due WHERE w.id = due.id RETURNING w.id, w.attempts, w.stream"
)
_DETAILS = (
    "SELECT d.id, e.url, e.secret, v.id, v.kind, v.payload, v.created_at, d.stream_started_at "
    "FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id "
    "JOIN webhook_event v ON v.id = d.event_id WHERE d.id IN "
)
_DELIVERED = Sql(
    "UPDATE webhook_delivery SET status = 'delivered', delivered_at = ?, next_attempt_at = NULL, "
    "last_status_code = ?, last_error = NULL "
    "WHERE id = ? AND status = 'pending' AND attempts = ? AND stream = ?"
)
_RETRY = Sql(
    "UPDATE webhook_delivery SET status = ?, next_attempt_at = ?, last_status_code = ?, "
    "last_error = ? WHERE id = ? AND status = 'pending' AND attempts = ? AND stream = ?"
)
_REDELIVER = Sql(
    "UPDATE webhook_delivery SET status = 'pending', attempts = 0, stream = stream + 1, "
    "stream_started_at = ?, next_attempt_at = ? "
    "WHERE id = ? AND status IN ('delivered', 'failed')"
)
_CANCEL = Sql(
    "UPDATE webhook_delivery SET status = 'cancelled', next_attempt_at = NULL "
    "WHERE endpoint_id = ? AND status = 'pending'"
)


@dataclass(frozen=True)
class Claimed:
    """One attempt this worker owns: where to send what, signed with which secret."""

    delivery_id: int
    attempt: int
    stream: int
    url: str
    secret: str
    event_id: int
    kind: str
    data: dict
    created_at: datetime
    stream_started_at: datetime


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: the HTTP status (None if no answer) and what went wrong."""

    status_code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def anything_due(now: datetime) -> bool:
    """One cheap read, so an idle worker claims (writes) nothing."""
    return _DUE.one(sql.instant(now)) is not None


def claim(now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Take up to `limit` due deliveries for this worker, each at its next attempt."""
    with write_transaction():
        lease, at = sql.instant(now + LEASE), sql.instant(now)
        if is_postgres():
            rows = _CLAIM_PG.run(at, limit, lease, at)
        else:
            rows = _CLAIM.run(lease, at, at, limit)
        claims = {r[0]: (r[1], r[2]) for r in rows.fetchall()}
        if not claims:
            return []
        marks = ", ".join("?" * len(claims))
        details = Sql(_DETAILS + f"({marks}) ORDER BY d.id").run(*claims).fetchall()
    field = WebhookDelivery.created_at
    out = []
    for d_id, url, secret, event_id, kind, payload, created_at, started in details:
        attempt, stream = claims[d_id]
        out.append(
            Claimed(
                d_id,
                attempt,
                stream,
                url,
                secret,
                event_id,
                kind,
                json.loads(payload),
                field.python_value(created_at),
                field.python_value(started),
            )
        )
    return out


def body_of(c: Claimed) -> bytes:
    """What is POSTed: the event, the same bytes at every attempt."""
    envelope = {
        "id": f"wev_{c.event_id}",
        "type": c.kind,
        "createdAt": c.created_at.isoformat(),
        "data": c.data,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe signs its webhooks."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def request_of(c: Claimed, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt, signed at `now`."""
    body = body_of(c)
    return body, {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "jifen-signature": sign(c.secret, int(now.timestamp()), body),
        "jifen-event-id": f"wev_{c.event_id}",
        "jifen-event-type": c.kind,
        "jifen-delivery-id": f"dlv_{c.delivery_id}",
        "jifen-attempt": str(c.attempt),
    }


def refused_address(url: str) -> str | None:
    """Why the endpoint's host may not be sent to (JIFEN_WEBHOOK_PRIVATE_ADDRESSES off),
    judged on the addresses its name resolves to now; None when it may."""
    if settings().webhook_private_addresses:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    problem = private_address(host)
    if problem:
        return problem
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"an unresolvable host ({exc})"
    for info in infos:
        problem = private_address(str(info[4][0]))
        if problem:
            return problem
    return None


def record(c: Claimed, outcome: Outcome, now: datetime, rng: random.Random | None = None) -> str:
    """Write how the attempt went; the delivery's status after it. A delivery that moved
    on meanwhile (redelivered, cancelled) is left as it is."""
    error = (outcome.error or "")[:MAX_ERROR] or None
    with write_transaction():
        if outcome.ok:
            done = _DELIVERED.count(
                sql.instant(now), outcome.status_code, c.delivery_id, c.attempt, c.stream
            )
            return DELIVERED if done else "moved on"
        wait = retry_wait(c.attempt, rng)
        give_up = now + wait > c.stream_started_at + RETRY_FOR
        status, next_at = (FAILED, None) if give_up else (PENDING, now + wait)
        done = _RETRY.count(
            status,
            sql.instant(next_at),
            outcome.status_code,
            error,
            c.delivery_id,
            c.attempt,
            c.stream,
        )
        return status if done else "moved on"


def retry_wait(attempt: int, rng: random.Random | None = None) -> timedelta:
    """How long after failed attempt number `attempt` (1, 2, ...) the next one is made."""
    base = min(FIRST_RETRY * (2 ** min(attempt - 1, 20)), LONGEST_WAIT)
    return base * (1 + JITTER * (rng or random).random())


def schedule() -> list[timedelta]:
    """The waits of a stream that keeps failing, without jitter (docs/operations.md)."""
    waits, total, attempt = [], timedelta(0), 1
    while total + (wait := min(FIRST_RETRY * 2 ** (attempt - 1), LONGEST_WAIT)) <= RETRY_FOR:
        waits.append(wait)
        total += wait
        attempt += 1
    return waits


def deliver_due(
    now: Callable[[], datetime],
    post: Callable[[str, bytes, dict[str, str]], Outcome],
    limit: int = BATCH,
) -> dict[str, int]:
    """Claim what is due and send it, one after the other (`jifen webhooks deliver`, tests);
    counts by outcome. The server's worker does the same concurrently (server/app.py)."""
    counts: dict[str, int] = {}
    if not anything_due(now()):
        return counts
    for c in claim(now(), limit):
        status = record(c, send(c, now(), post), now())
        counts[status] = counts.get(status, 0) + 1
    return counts


def send(c: Claimed, at: datetime, post: Callable[[str, bytes, dict[str, str]], Outcome]):
    """One attempt: refused before sending if the address is not allowed."""
    refused = refused_address(c.url)
    if refused:
        return Outcome(None, f"not sent: the endpoint resolves to {refused}")
    body, headers = request_of(c, at)
    return post(c.url, body, headers)


def http_post(client) -> Callable[[str, bytes, dict[str, str]], Outcome]:
    """A `post` over an httpx client (redirects not followed: a 3xx is a failure)."""

    def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            response = client.post(url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - any transport failure is a failed attempt
            return Outcome(None, f"{type(exc).__name__}: {exc}")
        return outcome_of(response.status_code, response.text)

    return post


def outcome_of(status_code: int, text: str) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome(status_code)
    return Outcome(status_code, f"HTTP {status_code}: {text[:200]}")


def redeliver(delivery_id: int, *, now: datetime) -> tuple[WebhookDelivery, bool]:
    """Send a delivered or failed delivery again, as a new attempt stream; True when it
    was already pending (nothing new: the stream under way will send it)."""
    with write_transaction():
        row = get(delivery_id)
        if row.status == CANCELLED:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "this delivery's endpoint was deleted: it is not sent again",
                "deliveryId",
            )
        moved = _REDELIVER.count(sql.instant(now), sql.instant(now), delivery_id)
        return get(delivery_id), not moved


def get(delivery_id: int) -> WebhookDelivery:
    row = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
    if row is None:
        raise DomainError(
            ErrorCode.WEBHOOK_DELIVERY_NOT_FOUND, "no webhook delivery with this id", "deliveryId"
        )
    return row


def cancel_for_endpoint(endpoint_id: int, *, now: datetime) -> int:
    """Cancel what an endpoint still had to receive (it is being deleted)."""
    return _CANCEL.count(endpoint_id)


def page(
    *, endpoint_id: int | None, status: str | None, before: int | None, limit: int
) -> list[WebhookDelivery]:
    """Deliveries newest first, of one endpoint and in one status if given."""
    d = WebhookDelivery
    query = d.select()
    if endpoint_id is not None:
        query = query.where(d.endpoint == endpoint_id)
    if status is not None:
        query = query.where(d.status == status)
    if before is not None:
        query = query.where(d.id < before)
    return list(query.order_by(d.id.desc()).limit(limit))


async def work_forever(clock, every: float, timeout: float) -> None:
    """The server's delivery worker: every `every` seconds, claim what is due and send it
    concurrently; each outcome is written as soon as it is known."""
    import asyncio
    import functools
    import logging

    import httpx2 as httpx

    from server.store.db import database

    log = logging.getLogger("jifen.webhooks")

    def in_connection(work):
        with database.connection_context():
            return work()

    async def attempt(client, c: Claimed) -> tuple[Claimed, Outcome]:
        refused = await asyncio.to_thread(refused_address, c.url)
        if refused:
            return c, Outcome(None, f"not sent: the endpoint resolves to {refused}")
        body, headers = request_of(c, clock.now())
        try:
            response = await client.post(c.url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - any transport failure is a failed attempt
            return c, Outcome(None, f"{type(exc).__name__}: {exc}")
        return c, outcome_of(response.status_code, response.text)

    def record_all(outcomes) -> None:
        # One commit for the round: on SQLite each commit is a sync to disk.
        with write_transaction():
            for c, outcome in outcomes:
                record(c, outcome, clock.now())

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        while True:
            try:
                due = await asyncio.to_thread(in_connection, lambda: anything_due(clock.now()))
                claimed = (
                    await asyncio.to_thread(in_connection, lambda: claim(clock.now()))
                    if due
                    else []
                )
                outcomes = await asyncio.gather(*(attempt(client, c) for c in claimed))
                if outcomes:
                    await asyncio.to_thread(in_connection, functools.partial(record_all, outcomes))
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("webhook delivery round failed")
                claimed = []
            if len(claimed) < BATCH:
                await asyncio.sleep(every)


def problems():
    """What `jifen ledger verify` checks of the webhook tables: (check, subject, message)."""
    from server.store.db import database

    def rows(text: str) -> list[tuple]:
        return database.execute_sql(" ".join(text.split())).fetchall()

    check = "webhook deliveries are consistent"
    for d_id, endpoint, _event in rows(
        "SELECT d.id, e.id, v.id FROM webhook_delivery d "
        "LEFT JOIN webhook_endpoint e ON e.id = d.endpoint_id "
        "LEFT JOIN webhook_event v ON v.id = d.event_id WHERE e.id IS NULL OR v.id IS NULL"
    ):
        missing = "endpoint" if endpoint is None else "event"
        yield check, f"delivery dlv_{d_id}", f"its {missing} does not exist"
    known = ", ".join(f"'{s}'" for s in STATUSES)
    for d_id, status, why in rows(
        "SELECT d.id, d.status, CASE "
        f"WHEN d.status NOT IN ({known}) THEN 'is not a known status' "
        "WHEN d.attempts < 0 OR d.stream < 1 THEN 'has a negative attempt or stream count' "
        "WHEN d.status = 'pending' AND d.next_attempt_at IS NULL THEN 'has no next attempt' "
        "WHEN d.status = 'pending' AND e.deleted_at IS NOT NULL "
        "  THEN 'waits for a deleted endpoint' "
        "WHEN d.status <> 'pending' AND d.next_attempt_at IS NOT NULL "
        "  THEN 'has a next attempt' "
        "WHEN d.status = 'delivered' AND (d.delivered_at IS NULL OR d.last_status_code IS NULL "
        "  OR d.last_status_code < 200 OR d.last_status_code > 299) "
        "  THEN 'has no 2xx answer on record' "
        "WHEN d.status = 'failed' AND d.attempts < 1 THEN 'failed without an attempt' "
        "WHEN d.status = 'cancelled' AND e.deleted_at IS NULL "
        "  THEN 'was cancelled but its endpoint is live' "
        "END FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id "
        f"WHERE d.status NOT IN ({known}) OR d.attempts < 0 OR d.stream < 1 "
        "OR (d.status = 'pending' AND (d.next_attempt_at IS NULL OR e.deleted_at IS NOT NULL)) "
        "OR (d.status <> 'pending' AND d.next_attempt_at IS NOT NULL) "
        "OR (d.status = 'delivered' AND (d.delivered_at IS NULL OR d.last_status_code IS NULL "
        "  OR d.last_status_code < 200 OR d.last_status_code > 299)) "
        "OR (d.status = 'failed' AND d.attempts < 1) "
        "OR (d.status = 'cancelled' AND e.deleted_at IS NULL)"
    ):
        yield check, f"delivery dlv_{d_id}", f"is {status} but {why}"
