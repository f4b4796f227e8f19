"""The catalog and redemptions: points (and maybe cash) for items with limited stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from peewee import fn

from server.core import accounts, members, notify, webhooks
from server.core.accounts import AccountKind
from server.core.checkout import minor_unit
from server.core.errors import DomainError, ErrorCode
from server.core.event_input import check_community
from server.core.ledger import MAX_POINTS, Cause, Leg, post, reverse
from server.core.periods import period_start
from server.core.program import ProgramSettings
from server.store.db import locked
from server.store.models import CatalogItem, Member, Redemption

LIMIT_PERIODS = ("day", "week", "month", "ever")
MAX_QUANTITY = 100
MAX_TAGS = 20
MAX_CASH_PRICE = 1_000_000_000


@dataclass
class ItemInput:
    """Fields an operator sets; None leaves a field as it is on update."""

    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    points_price: int | None = None
    cash_price: Decimal | None = None
    currency: str | None = None
    stock: int | None = None
    unlimited_stock: bool = False
    limit_per_member: int | None = None
    limit_period: str | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    community: str | None = None
    tags: list[str] | None = None


def get_item(item_id: int, field: str = "itemId", *, lock: bool = False) -> CatalogItem:
    query = CatalogItem.select().where(CatalogItem.id == item_id)
    item = (locked(query) if lock else query).first()
    if item is None:
        raise DomainError(ErrorCode.ITEM_NOT_FOUND, f"no catalog item with id {item_id}", field)
    return item


def create_item(data: ItemInput, *, now: datetime) -> CatalogItem:
    if data.title is None or data.points_price is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "an item needs a title and a pointsPrice",
            "title" if data.title is None else "pointsPrice",
        )
    values = _clean(data, creating=True)
    return CatalogItem.create(
        created_at=now, updated_at=now, stock_added=values.get("stock") or 0, **values
    )


def update_item(item_id: int, data: ItemInput, *, now: datetime) -> CatalogItem:
    item = get_item(item_id, lock=True)
    values = _clean(data, creating=False)
    merged = {**{k: getattr(item, k) for k in values}, **values}
    _check_window(merged.get("available_from"), merged.get("available_until"))
    if values.get("stock") is not None:
        # Stock set outright: the units ever stocked are what is there plus what is out.
        values["stock_added"] = values["stock"] + units_out(item.id)
    if values:
        CatalogItem.update(updated_at=now, **values).where(CatalogItem.id == item.id).execute()
    return CatalogItem.get_by_id(item.id)


def restock(item_id: int, quantity: int, *, now: datetime) -> CatalogItem:
    """Add units to a limited item's stock."""
    item = get_item(item_id)
    if not isinstance(quantity, int) or not 1 <= quantity <= 10**9:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "quantity must be from 1 to 1,000,000,000", "quantity"
        )
    if item.stock is None:
        raise DomainError(ErrorCode.INVALID_STATE, "this item has unlimited stock", "itemId")
    (
        CatalogItem.update(
            stock=CatalogItem.stock + quantity,
            stock_added=CatalogItem.stock_added + quantity,
            updated_at=now,
        )
        .where(CatalogItem.id == item.id)
        .execute()
    )
    return CatalogItem.get_by_id(item.id)


def units_out(item_id: int) -> int:
    """Units of an item redeemed (or won in a lottery) and not cancelled."""
    return int(
        Redemption.select(fn.COALESCE(fn.SUM(Redemption.quantity), 0))
        .where(Redemption.item == item_id, Redemption.status != "cancelled")
        .scalar()
    )


def retire(item_id: int, *, now: datetime) -> CatalogItem:
    item = get_item(item_id)
    CatalogItem.update(retired_at=now, updated_at=now).where(
        CatalogItem.id == item.id, CatalogItem.retired_at.is_null()
    ).execute()
    return CatalogItem.get_by_id(item.id)


def _clean(data: ItemInput, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.title is not None:
        title = data.title.strip()
        if not title or len(title) > 200:
            raise DomainError(ErrorCode.INVALID_INPUT, "title must be 1 to 200 characters", "title")
        out["title"] = title
    if data.description is not None:
        if len(data.description) > 5000:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "description is longer than 5,000 characters",
                "description",
            )
        out["description"] = data.description
    if data.image_url is not None:
        if not data.image_url.startswith(("https://", "http://")) or len(data.image_url) > 1000:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "imageUrl must be an http(s) URL of at most 1,000 characters",
                "imageUrl",
            )
        out["image_url"] = data.image_url
    if data.points_price is not None:
        if not 1 <= data.points_price <= MAX_POINTS:
            raise DomainError(
                ErrorCode.INVALID_POINTS,
                f"pointsPrice must be from 1 to {MAX_POINTS:,}",
                "pointsPrice",
            )
        out["points_price"] = data.points_price
    if data.cash_price is not None:
        minor = minor_unit((data.currency or "").upper())
        if (
            not data.cash_price.is_finite()
            or not 0 <= data.cash_price <= MAX_CASH_PRICE
            or data.cash_price != data.cash_price.quantize(minor)
            or data.currency is None
        ):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"cashPrice must be from 0 to {MAX_CASH_PRICE:,} in whole {minor} units of its "
                "currency, and come with a currency",
                "cashPrice",
            )
        out["cash_price"] = str(data.cash_price.quantize(minor))
    if data.currency is not None:
        if len(data.currency) != 3 or not data.currency.isalpha():
            raise DomainError(
                ErrorCode.INVALID_INPUT, "currency must be an ISO 4217 code", "currency"
            )
        out["currency"] = data.currency.upper()
    if data.unlimited_stock:
        out["stock"] = None
    elif data.stock is not None:
        if not 0 <= data.stock <= 10**12:
            raise DomainError(ErrorCode.INVALID_INPUT, "stock must be 0 or more", "stock")
        out["stock"] = data.stock
    elif creating:
        out["stock"] = None
    if data.limit_per_member is not None or data.limit_period is not None:
        if (
            data.limit_per_member is None
            or data.limit_period not in LIMIT_PERIODS
            or data.limit_per_member < 1
        ):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "a per-member limit needs "
                "limitPerMember (1 or more) and limitPeriod (day, week, month "
                "or ever)",
                "limitPerMember",
            )
        out["limit_per_member"] = data.limit_per_member
        out["limit_period"] = data.limit_period
    for name in ("available_from", "available_until"):
        value = getattr(data, name)
        if value is not None:
            if value.tzinfo is None:
                raise DomainError(ErrorCode.INVALID_INPUT, "a time needs an offset", _camel(name))
            out[name] = value
    if creating:
        _check_window(out.get("available_from"), out.get("available_until"))
    if data.community is not None:
        out["community"] = check_community(data.community)
    if data.tags is not None:
        # Bounded as given, before duplicates fold: the list itself is input too.
        tags = sorted({t.strip().lower() for t in data.tags})
        if len(data.tags) > MAX_TAGS or any(
            not 1 <= len(t) <= 40 or not t.isprintable() for t in tags
        ):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"at most {MAX_TAGS} tags of 1 to 40 printable characters",
                "tags",
            )
        out["tags"] = tags
    return out


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "availableUntil must be after availableFrom", "availableUntil"
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def is_available(item: CatalogItem, now: datetime) -> bool:
    return (
        item.retired_at is None
        and (item.available_from is None or item.available_from <= now)
        and (item.available_until is None or now < item.available_until)
    )


def redeemed_in_period(member_id: int, item: CatalogItem, day: date) -> int:
    query = Redemption.select(fn.COALESCE(fn.SUM(Redemption.quantity), 0)).where(
        Redemption.member == member_id,
        Redemption.item == item.id,
        Redemption.status != "cancelled",
        Redemption.draw_id.is_null(),
    )
    if item.limit_period != "ever":
        start = period_start(item.limit_period, day)
        query = query.where(Redemption.period_day >= start)
    return int(query.scalar())


def redeem(
    member_id: int, item_id: int, quantity: int, *, now: datetime, settings: ProgramSettings
) -> Redemption:
    """Spend points on an item (inside the caller's transaction): all or nothing."""
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"quantity must be from 1 to {MAX_QUANTITY}", "quantity"
        )
    member = members.get(member_id)
    item = get_item(item_id)
    _check_offer(item, member, now)
    points = item.points_price * quantity
    if points > MAX_POINTS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "that many would cost too many points", "quantity"
        )
    # The debit comes first: it locks the member's wallet row, so the limit check below
    # sees every earlier redemption of this member, even a concurrent one.
    wallet = accounts.wallet(member.id, AccountKind.AVAILABLE)
    txn = post(
        "redemption",
        [
            Leg(wallet, -points, spend=True),
            Leg(accounts.program_account(AccountKind.REDEMPTION), points),
        ],
        now=now,
        member_id=member.id,
        cause=Cause(reason=f"{quantity} x {item.title}"),
    )
    day = settings.local_day(now)
    _check_limit(member.id, item, quantity, day)
    take_stock(item, quantity)
    notify.announce(
        item.community,
        "redemption",
        member,
        f"{member.display_name or member.external_id} redeemed {item.title}",
        now,
    )
    redemption = Redemption.create(
        member=member.id,
        item=item.id,
        quantity=quantity,
        points=points,
        txn=txn,
        created_at=now,
        period_day=day,
    )
    webhooks.emit(
        webhooks.Kind.REDEMPTION_CREATED,
        {
            "redemptionId": f"red_{redemption.id}",
            "memberId": webhooks.member_ref(member.id),
            "itemId": f"itm_{item.id}",
            "itemTitle": item.title,
            "quantity": quantity,
            "points": points,
            "transactionId": webhooks.transaction_ref(txn.id),
            "at": now.isoformat(),
        },
        at=now,
    )
    return redemption


def _check_offer(item: CatalogItem, member: Member, now: datetime) -> None:
    if not is_available(item, now):
        raise DomainError(
            ErrorCode.ITEM_NOT_AVAILABLE, f"“{item.title}” is not available now", "itemId"
        )
    if (
        item.community is not None
        and not member.memberships.where(
            (members.Membership.community == item.community) & members.Membership.left_at.is_null()
        ).exists()
    ):
        raise DomainError(
            ErrorCode.ITEM_NOT_AVAILABLE,
            f"“{item.title}” is only for members of {item.community}",
            "itemId",
        )


def _check_limit(member_id: int, item: CatalogItem, quantity: int, day: date) -> None:
    if item.limit_per_member is None:
        return
    done = redeemed_in_period(member_id, item, day)
    if done + quantity > item.limit_per_member:
        span = "in all" if item.limit_period == "ever" else f"per {item.limit_period}"
        raise DomainError(
            ErrorCode.REDEMPTION_LIMIT_REACHED,
            f"at most {item.limit_per_member} of “{item.title}” {span} per member; already {done}",
            "quantity",
        )


def take_stock(item: CatalogItem, quantity: int) -> None:
    """Take units from stock with a conditional update: stock never goes below zero."""
    if item.stock is None:
        return
    taken = (
        CatalogItem.update(stock=CatalogItem.stock - quantity)
        .where(CatalogItem.id == item.id, CatalogItem.stock >= quantity)
        .execute()
    )
    if not taken:
        raise DomainError(ErrorCode.OUT_OF_STOCK, f"“{item.title}” is out of stock", "itemId")


def fulfill(redemption_id: int, *, now: datetime) -> tuple[Redemption, bool]:
    """Mark a redemption delivered; a retry replays it (True)."""
    row = _decide(redemption_id, "fulfilled")
    if row.status == "fulfilled":
        return row, True
    Redemption.update(status="fulfilled", fulfilled_at=now).where(Redemption.id == row.id).execute()
    return Redemption.get_by_id(row.id), False


def cancel(
    redemption_id: int, reason: str, *, actor: str, now: datetime
) -> tuple[Redemption, bool]:
    """Give the points and the stock back, once; a retry replays the cancellation (True)."""
    row = _decide(redemption_id, "cancelled")
    if row.status == "cancelled":
        return row, True
    Redemption.update(status="cancelled", cancelled_at=now, reason=reason).where(
        Redemption.id == row.id
    ).execute()
    cancel_txn = None
    if row.txn_id is not None:
        cancel_txn = reverse(
            row.txn_id, now=now, kind="redemption_cancel", cause=Cause(actor=actor, reason=reason)
        )
    item = CatalogItem.get_by_id(row.item_id)
    if item.stock is not None:
        CatalogItem.update(stock=CatalogItem.stock + row.quantity).where(
            CatalogItem.id == item.id
        ).execute()
    Redemption.update(cancel_txn=cancel_txn).where(Redemption.id == row.id).execute()
    return Redemption.get_by_id(row.id), False


def _decide(redemption_id: int, to_status: str) -> Redemption:
    """The redemption, locked; INVALID_STATE unless it is open or already `to_status`."""
    row = locked(Redemption.select().where(Redemption.id == redemption_id)).first()
    if row is None:
        raise DomainError(
            ErrorCode.REDEMPTION_NOT_FOUND, "no redemption with this id", "redemptionId"
        )
    if row.status not in ("created", to_status):
        raise DomainError(
            ErrorCode.INVALID_STATE, f"this redemption is {row.status}", "redemptionId"
        )
    return row


def affordable(member_id: int, now: datetime, *, limit: int = 100) -> list[CatalogItem]:
    """Items this member can redeem one of right now: available, in stock, within points."""
    available = accounts.wallet(member_id, AccountKind.AVAILABLE).balance
    member = Member.get_by_id(member_id)
    communities = [m.community for m in member.memberships if m.left_at is None]
    query = (
        CatalogItem.select()
        .where(
            CatalogItem.retired_at.is_null(),
            CatalogItem.points_price <= available,
            CatalogItem.stock.is_null() | (CatalogItem.stock > 0),
            CatalogItem.available_from.is_null() | (CatalogItem.available_from <= now),
            CatalogItem.available_until.is_null() | (CatalogItem.available_until > now),
            CatalogItem.community.is_null() | CatalogItem.community.in_(communities),
        )
        .order_by(CatalogItem.points_price, CatalogItem.id)
        .limit(limit)
    )
    return list(query)
