"""The lists the API pages through: filters and a keyset cursor in, one page of rows out.

Each page is one statement, ordered by a unique key and continuing strictly after the
cursor (`after`, ascending lists) or before it (`before`, newest-first lists), so a page
is stable while rows are added. `limit` is what to fetch: callers ask one more than they
show, to learn whether more follow. What the rows refer to is read for the whole page by
server/core/reads.py.
"""

from __future__ import annotations

from datetime import datetime

from peewee import fn

from server.store import models


def _page(query, field, cursor: int | None, limit: int, *, newest_first: bool = False) -> list:
    if cursor is not None:
        query = query.where(field < cursor if newest_first else field > cursor)
    return list(query.order_by(field.desc() if newest_first else field).limit(limit))


def catalog_items(
    *, tag: str | None, include_retired: bool, after: int | None, limit: int
) -> list[models.CatalogItem]:
    """Catalog items by id; with `tag`, only those that carry it."""
    item = models.CatalogItem
    query = item.select()
    if not include_retired:
        query = query.where(item.retired_at.is_null())
    if tag is None:
        return _page(query, item.id, after, limit)
    # Tags are a JSON list, matched here: a page is looked for among the next 1,000 items.
    rows = _page(query, item.id, after, 1000)
    return [r for r in rows if tag.lower() in (r.tags or [])][:limit]


def redemptions(member_id: int, *, before: int | None, limit: int) -> list[models.Redemption]:
    """A member's redemptions, newest first."""
    query = models.Redemption.select().where(models.Redemption.member == member_id)
    return _page(query, models.Redemption.id, before, limit, newest_first=True)


def tasks(*, after: int | None, limit: int) -> list[models.Task]:
    """Tasks open to members."""
    query = models.Task.select().where(models.Task.retired_at.is_null())
    return _page(query, models.Task.id, after, limit)


def submissions(
    *,
    status: str | None,
    task_id: int | None,
    member_id: int | None,
    created_by: datetime | None,
    after: int | None,
    limit: int,
) -> list[models.Submission]:
    """Submissions, oldest first, filtered by what is given."""
    s = models.Submission
    query = s.select()
    if status is not None:
        query = query.where(s.status == status)
    if task_id is not None:
        query = query.where(s.task == task_id)
    if member_id is not None:
        query = query.where(s.member == member_id)
    if created_by is not None:
        query = query.where(s.created_at <= created_by)
    return _page(query, s.id, after, limit)


def adjustment_requests(*, after: int | None, limit: int) -> list[models.AdjustmentRequest]:
    """Adjustments waiting for a second operator, oldest first."""
    a = models.AdjustmentRequest
    return _page(a.select().where(a.status == "pending"), a.id, after, limit)


def reviews(
    *, status: str, campaign: str | None, after: int | None, limit: int
) -> list[models.Review]:
    """Awards under review in one status, oldest first (by their transaction)."""
    query = models.Review.select().where(models.Review.status == status)
    if campaign is not None:
        query = query.where(models.Review.campaign == campaign)
    return _page(query, models.Review.txn, after, limit)


def lotteries(*, before: int | None, limit: int) -> list[models.Lottery]:
    """Lotteries not retired, newest first."""
    query = models.Lottery.select().where(models.Lottery.retired_at.is_null())
    return _page(query, models.Lottery.id, before, limit, newest_first=True)


def draws(
    lottery_id: int, member_id: int | None, *, before: int | None, limit: int
) -> list[models.Draw]:
    """Draws of a lottery (one member's, if given), newest first."""
    query = models.Draw.select().where(models.Draw.lottery == lottery_id)
    if member_id is not None:
        query = query.where(models.Draw.member == member_id)
    return _page(query, models.Draw.id, before, limit, newest_first=True)


def audit_entries(
    *, action: str | None, actor: str | None, before: int | None, limit: int
) -> list[models.AuditEntry]:
    """Operator actions, newest first; `action` matches a prefix (`points.`)."""
    a = models.AuditEntry
    query = a.select()
    if action:
        query = query.where(a.action.startswith(action))
    if actor:
        query = query.where(a.actor == actor)
    return _page(query, a.id, before, limit, newest_first=True)


def campaigns() -> list[models.CampaignVersion]:
    """Each campaign's latest version: live ones in rule order, then retired ones."""
    v = models.CampaignVersion
    newest = v.select(v.campaign, fn.MAX(v.version).alias("v")).group_by(v.campaign).alias("n")
    return list(
        v.select()
        .join(newest, on=((v.campaign == newest.c.campaign) & (v.version == newest.c.v)))
        .order_by(v.retired, v.position)
    )


def checkout(order_id: str) -> models.Checkout | None:
    return models.Checkout.get_or_none(models.Checkout.order_id == order_id)
