"""Webhook endpoints and the outbox: what operators register, and what every change writes
for them in its own transaction.

A change calls `emit(kind, data)` inside its write transaction. When no endpoint subscribes
to the kind (the usual case) that costs a dictionary look-up: the endpoints are cached per
process and dropped with the other caches whenever an endpoint changes (the generation,
server/core/generation.py). Otherwise one event row and one delivery row per subscribed
endpoint are written beside the change, so both commit or neither does; the delivery
worker (server/core/deliveries.py) sends them after.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from server.config import settings
from server.core import audit
from server.core.errors import DomainError, ErrorCode
from server.core.generation import Cached, generation
from server.store import sql
from server.store.db import locked
from server.store.models import WebhookEndpoint
from server.store.sql import Sql


class Kind(StrEnum):
    """Every kind of change an endpoint can subscribe to; a new kind is one line here
    (and one in KIND_DESCRIPTIONS)."""

    POINTS_CHANGED = "points.changed"
    AWARD_PENDING_REVIEW = "award.pending_review"
    REDEMPTION_CREATED = "redemption.created"
    CHECKOUT_CAPTURED = "checkout.captured"
    CHECKOUT_REFUNDED = "checkout.refunded"
    BUDGET_NEARLY_SPENT = "budget.nearly_spent"
    LEVEL_CHANGED = "level.changed"
    BADGE_EARNED = "badge.earned"


KIND_DESCRIPTIONS: dict[Kind, str] = {
    Kind.POINTS_CHANGED: "A member's balance changed (any ledger transaction touching a wallet).",
    Kind.AWARD_PENDING_REVIEW: "An award waits for review in the member's pending wallet.",
    Kind.REDEMPTION_CREATED: "A member redeemed a catalog item.",
    Kind.CHECKOUT_CAPTURED: "Points held at checkout were spent on the order.",
    Kind.CHECKOUT_REFUNDED: "An order was (partly) refunded and points returned.",
    Kind.BUDGET_NEARLY_SPENT: "A campaign's budget has 10% or less left (once per budget).",
    Kind.LEVEL_CHANGED: "A member's level changed (reached, kept after grace, lost, or set).",
    Kind.BADGE_EARNED: "A member earned a badge (each badge once per member).",
}

MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_ENDPOINTS = 50  # each change writes a row per subscribed endpoint
SECRET_PREFIX = "whsec_"

NEARLY_SPENT = 10  # percent of a budget left at or under which it is "nearly spent"
_BUDGET = Sql(
    "SELECT SUM(budget), SUM(spent) FROM campaign_budget_share WHERE campaign = ? GROUP BY campaign"
)
_EVENT = Sql(
    "INSERT INTO webhook_event (kind, payload, created_at, once_key) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


# -- endpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointInput:
    """What an operator registers or changes; None leaves a field as it is (update)."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


def create_endpoint(data: EndpointInput, *, now: datetime, actor: str) -> WebhookEndpoint:
    """Register an endpoint with a fresh signing secret (inside the caller's transaction)."""
    live = WebhookEndpoint.select().where(WebhookEndpoint.deleted_at.is_null()).count()
    if live >= MAX_ENDPOINTS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"at most {MAX_ENDPOINTS} webhook endpoints; delete one first",
            "url",
        )
    row = WebhookEndpoint.create(
        url=check_url(data.url or ""),
        events=list(check_events(data.events or ())),
        description=_description(data.description),
        secret=SECRET_PREFIX + secrets.token_urlsafe(32),
        enabled=True if data.enabled is None else data.enabled,
        created_at=now,
        updated_at=now,
    )
    generation.bump()
    audit.record(
        actor,
        "webhookEndpoint.create",
        f"whk_{row.id}",
        {"url": row.url, "events": row.events},
        now=now,
    )
    return row


def update_endpoint(
    endpoint_id: int, data: EndpointInput, *, now: datetime, actor: str
) -> WebhookEndpoint:
    """Change an endpoint's URL, kinds, description or whether it is enabled."""
    row = get_endpoint(endpoint_id, lock=True)
    changes: dict = {}
    if data.url is not None:
        changes["url"] = check_url(data.url)
    if data.events is not None:
        changes["events"] = list(check_events(data.events))
    if data.description is not None:
        changes["description"] = _description(data.description)
    if data.enabled is not None:
        changes["enabled"] = data.enabled
    if changes:
        WebhookEndpoint.update(updated_at=now, **changes).where(
            WebhookEndpoint.id == row.id
        ).execute()
        generation.bump()
        audit.record(actor, "webhookEndpoint.update", f"whk_{row.id}", changes, now=now)
    return get_endpoint(row.id)


def delete_endpoint(endpoint_id: int, *, now: datetime, actor: str) -> WebhookEndpoint:
    """Stop sending to an endpoint for good: what it had waiting is cancelled. Its past
    deliveries stay readable by id; the endpoint leaves the lists."""
    from server.core.deliveries import cancel_for_endpoint

    row = get_endpoint(endpoint_id, lock=True)
    WebhookEndpoint.update(deleted_at=now, enabled=False, updated_at=now).where(
        WebhookEndpoint.id == row.id
    ).execute()
    cancel_for_endpoint(row.id, now=now)
    generation.bump()
    audit.record(actor, "webhookEndpoint.delete", f"whk_{row.id}", {"url": row.url}, now=now)
    return WebhookEndpoint.get_by_id(row.id)


def get_endpoint(endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """A live (not deleted) endpoint, or WEBHOOK_ENDPOINT_NOT_FOUND."""
    query = WebhookEndpoint.select().where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_null()
    )
    row = (locked(query) if lock else query).first()
    if row is None:
        raise DomainError(
            ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND, "no webhook endpoint with this id", "id"
        )
    return row


def endpoints() -> list[WebhookEndpoint]:
    """Every live endpoint, oldest first (a handful: not paged)."""
    query = WebhookEndpoint.select().where(WebhookEndpoint.deleted_at.is_null())
    return list(query.order_by(WebhookEndpoint.id))


def check_url(url: str) -> str:
    """The URL as stored, or INVALID_INPUT naming what is wrong with it."""
    url = (url or "").strip()

    def refuse(why: str) -> DomainError:
        return DomainError(ErrorCode.INVALID_INPUT, f"url {why}", "url")

    if not url:
        raise refuse("is required, e.g. https://example.com/hooks/jifen")
    if len(url) > MAX_URL:
        raise refuse(f"is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise refuse(f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise refuse(f"must start with https:// or http://, not {parts.scheme or 'nothing'}")
    if not parts.hostname:
        raise refuse("has no host, e.g. https://example.com/hooks/jifen")
    if parts.username is not None or parts.password is not None:
        raise refuse(
            "must not carry a user name or password (lists show the URL): receivers "
            "authenticate jifen by the Jifen-Signature header"
        )
    if parts.fragment:
        raise refuse("must not have a #fragment")
    if any(c.isspace() for c in url):
        raise refuse("must not contain spaces")
    if port == 0:
        raise refuse("has port 0")
    if not settings().webhook_private_addresses:
        problem = private_address(parts.hostname)
        if problem:
            raise refuse(
                f"points at {problem}, which this server does not send to "
                "(JIFEN_WEBHOOK_PRIVATE_ADDRESSES is off)"
            )
    return url


def private_address(host: str) -> str | None:
    """What makes `host` internal (a loopback, private, link-local... address), or None.
    A host name is judged only when it is `localhost`; its addresses are judged when
    delivering (server/core/deliveries.py)."""
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return "localhost"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        return f"the internal address {address}"
    return None


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The kinds, known and without repeats, in the enum's order."""
    wanted = set(events)
    unknown = wanted - {k.value for k in Kind}
    if unknown:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"unknown event kinds {sorted(unknown)}; known: {', '.join(k.value for k in Kind)}",
            "events",
        )
    if not wanted:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "events must name at least one event kind", "events"
        )
    return tuple(k.value for k in Kind if k.value in wanted)


def _description(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"description is longer than {MAX_DESCRIPTION} characters",
            "description",
        )
    return text


# -- the outbox ---------------------------------------------------------------------------


def _subscriptions() -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for row in WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.events).where(
        WebhookEndpoint.deleted_at.is_null(), WebhookEndpoint.enabled
    ):
        for kind in row.events:
            out.setdefault(kind, []).append(row.id)
    return {kind: tuple(ids) for kind, ids in out.items()}


_cache: Cached[dict[str, tuple[int, ...]]] = Cached(_subscriptions)


def subscribers(kind: Kind) -> tuple[int, ...]:
    """The enabled endpoints subscribed to `kind` (cached; usually none)."""
    return _cache.get().get(kind.value, ())


def emit(kind: Kind, data: dict, *, at: datetime, once_key: str | None = None) -> int | None:
    """Write `kind` for every subscribed endpoint, inside the caller's write transaction;
    the event's id, or None when nobody subscribes (or `once_key` was written before)."""
    endpoint_ids = subscribers(kind)
    if not endpoint_ids:
        return None
    stamp = sql.instant(at)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    row = _EVENT.one(kind.value, text, stamp, once_key)
    if row is None:
        return None
    event_id = row[0]
    values = ", ".join(["(?, ?, 'pending', 0, 1, ?, ?, ?)"] * len(endpoint_ids))
    params = [p for e in endpoint_ids for p in (event_id, e, stamp, stamp, stamp)]
    Sql(
        "INSERT INTO webhook_delivery (event_id, endpoint_id, status, attempts, stream, "
        f"stream_started_at, next_attempt_at, created_at) VALUES {values}"
    ).run(*params)
    return event_id


def member_ref(member_id: int) -> str:
    """A member as the API names it (server/api/ids.py): receivers call back with it."""
    return f"mbr_{member_id}"


def transaction_ref(txn_id: int | None) -> str | None:
    return None if txn_id is None else f"txn_{txn_id}"


def points_changed(
    txn_id: int,
    kind: str,
    member_id: int,
    moved: dict[str, tuple[int, int]],
    reason: str,
    campaign: str | None,
    at: datetime,
) -> None:
    """`points.changed` for a transaction that moved a member's wallets (kind -> (delta,
    balance after)), and `award.pending_review` when it put an award in the pending wallet."""
    pending_award = kind == "award" and moved.get("pending", (0, 0))[0] > 0
    if not subscribers(Kind.POINTS_CHANGED) and not (
        pending_award and subscribers(Kind.AWARD_PENDING_REVIEW)
    ):
        return
    data = {
        "memberId": member_ref(member_id),
        "transactionId": transaction_ref(txn_id),
        "transactionKind": kind,
        "delta": moved.get("available", (0, None))[0],
        "pendingDelta": moved.get("pending", (0, None))[0],
        "heldDelta": moved.get("held", (0, None))[0],
        # A wallet the transaction did not move is left out (null), not read.
        "available": moved.get("available", (0, None))[1],
        "pending": moved.get("pending", (0, None))[1],
        "held": moved.get("held", (0, None))[1],
        "reason": reason,
        "campaign": campaign,
        "at": at.isoformat(),
    }
    emit(Kind.POINTS_CHANGED, data, at=at)
    if pending_award:
        emit(
            Kind.AWARD_PENDING_REVIEW,
            {
                "memberId": data["memberId"],
                "transactionId": data["transactionId"],
                "points": data["pendingDelta"],
                "campaign": campaign,
                "reason": reason,
                "at": data["at"],
            },
            at=at,
        )


def budgets_taken(campaigns, at: datetime) -> None:
    """`budget.nearly_spent`, once per campaign and budget, for each campaign whose budget
    an award just took from and that has NEARLY_SPENT percent or less left. Two
    transactions that both see it write one event (its `once_key`)."""
    if not campaigns or not subscribers(Kind.BUDGET_NEARLY_SPENT):
        return
    for campaign in sorted(campaigns):
        row = _BUDGET.one(campaign)
        if row is None:
            continue
        budget, spent = int(row[0]), int(row[1])
        left = max(budget - spent, 0)
        if budget <= 0 or left * 100 > budget * NEARLY_SPENT:
            continue
        emit(
            Kind.BUDGET_NEARLY_SPENT,
            {
                "campaign": campaign,
                "budget": budget,
                "spent": spent,
                "left": left,
                "at": at.isoformat(),
            },
            at=at,
            once_key=f"budget.nearly_spent:{campaign}:{budget}",
        )


def levels_changed(changes, at: datetime) -> None:
    """`level.changed` for each member whose level moved (server/core/level_job.Change)."""
    if not changes or not subscribers(Kind.LEVEL_CHANGED):
        return
    for c in changes:
        emit(
            Kind.LEVEL_CHANGED,
            {
                "memberId": member_ref(c.member_id),
                "from": c.from_level,
                "to": c.to_level,
                "cause": c.cause,
                "at": at.isoformat(),
            },
            at=at,
        )


def badges_earned(earned) -> None:
    """`badge.earned` for each (member id, badge key, campaign, when) a batch wrote; the
    batch checked the member did not hold it, with the member locked."""
    if not earned or not subscribers(Kind.BADGE_EARNED):
        return
    for member_id, badge, campaign, at in earned:
        emit(
            Kind.BADGE_EARNED,
            {
                "memberId": member_ref(member_id),
                "badge": badge,
                "campaign": campaign,
                "at": at.isoformat(),
            },
            at=at,
        )
