"""The catalog and redemptions as clients see them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from server.api import ids
from server.api.batch import Batch, Batched, related
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import (
    After,
    Connection,
    First,
    paged,
)
from server.api.refs import MemberRef, TransactionRef
from server.core import audit, catalog, idempotency, lists, reads
from server.store import models
from server.store.db import write_transaction


@strawberry.type(description="Something members can spend points on.")
class CatalogItem(Node):
    row: strawberry.Private[models.CatalogItem]
    batch: strawberry.Private[Batch | None] = None  # what it was listed with; it reads nothing

    @strawberry.field(description="Stable id, e.g. `itm_4`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("item", self.row.id))

    @strawberry.field(description="Title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="Description.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="Picture.")
    def image_url(self) -> str | None:
        return self.row.image_url

    @strawberry.field(description="Points for one.")
    def points_price(self) -> int:
        return self.row.points_price

    @strawberry.field(description="Cash to pay on top (points + cash), if any.")
    def cash_price(self) -> Decimal | None:
        return Decimal(self.row.cash_price) if self.row.cash_price is not None else None

    @strawberry.field(description="Currency of the cash price.")
    def currency(self) -> str | None:
        return self.row.currency

    @strawberry.field(description="Units left; null means unlimited.")
    def stock(self) -> int | None:
        return self.row.stock

    @strawberry.field(description="How many one member may redeem per period.")
    def limit_per_member(self) -> int | None:
        return self.row.limit_per_member

    @strawberry.field(description="The period of that limit: day, week, month or ever.")
    def limit_period(self) -> str | None:
        return self.row.limit_period

    @strawberry.field(description="When it becomes available.")
    def available_from(self) -> datetime | None:
        return self.row.available_from

    @strawberry.field(description="When it stops being available.")
    def available_until(self) -> datetime | None:
        return self.row.available_until

    @strawberry.field(description="Only for members of this community, if set.")
    def community(self) -> str | None:
        return self.row.community

    @strawberry.field(description="Tags for browsing.")
    def tags(self) -> list[str]:
        return list(self.row.tags or [])

    @strawberry.field(description="When it was retired; retired items cannot be redeemed.")
    def retired_at(self) -> datetime | None:
        return self.row.retired_at

    @strawberry.field(description="True if it can be redeemed right now (stock aside).")
    def available(self, info: Info) -> bool:
        return catalog.is_available(self.row, info.context.now)


@owned(lambda r: r.row.member_id)
@strawberry.type(description="Points spent on catalog items.")
class Redemption(Node, Batched):
    row: strawberry.Private[models.Redemption]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `red_8`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("redemption", self.row.id))

    @strawberry.field(description="Who redeemed.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="What.")
    def item(self) -> CatalogItem:
        return item_of(self.peers, self.row.item_id)

    @strawberry.field(description="How many.")
    def quantity(self) -> int:
        return self.row.quantity

    @strawberry.field(description="Points spent (0 for a lottery prize).")
    def points(self) -> int:
        return self.row.points

    @strawberry.field(description="`created`, `fulfilled` or `cancelled`.")
    def status(self) -> str:
        return self.row.status

    @strawberry.field(description="When it was made.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="The points spent.")
    def transaction(self) -> TransactionRef | None:
        from server.api.ledger import transaction_of

        return transaction_of(self.peers, self.row.txn_id)


def _items(item_ids) -> dict[int, models.CatalogItem]:
    return reads.by_id(models.CatalogItem, item_ids)


def item_of(peers: Batch, item_id: int | None, attr: str = "item_id") -> CatalogItem | None:
    """The item a row of `peers` names by `attr`, read for every row of them at once."""
    if item_id is None:
        return None
    return related(peers, attr, _items, lambda r, b: CatalogItem(row=r, batch=b)).get(item_id)


def item_by_id(item_id: int) -> CatalogItem | None:
    row = _items([item_id]).get(item_id)
    return CatalogItem(row=row) if row is not None else None


def redemption_by_id(redemption_id: int) -> Redemption | None:
    row = reads.by_id(models.Redemption, [redemption_id]).get(redemption_id)
    return Redemption(row=row) if row is not None else None


@strawberry.input(description="An item's fields; on update, only those given change.")
class CatalogItemInput:
    title: str | None = strawberry.field(default=None, description="Title.")
    description: str | None = strawberry.field(default=None, description="Description.")
    image_url: str | None = strawberry.field(default=None, description="http(s) picture URL.")
    points_price: int | None = strawberry.field(default=None, description="Points for one.")
    cash_price: Decimal | None = strawberry.field(default=None, description="Cash on top.")
    currency: str | None = strawberry.field(default=None, description="Currency of the cash.")
    stock: int | None = strawberry.field(default=None, description="Units; omit for unlimited.")
    unlimited_stock: bool = strawberry.field(default=False, description="Make stock unlimited.")
    limit_per_member: int | None = strawberry.field(default=None, description="Per member.")
    limit_period: str | None = strawberry.field(
        default=None, description="day, week, month or ever."
    )
    available_from: datetime | None = strawberry.field(default=None, description="From.")
    available_until: datetime | None = strawberry.field(default=None, description="Until.")
    community: str | None = strawberry.field(default=None, description="Only this community.")
    tags: list[str] | None = strawberry.field(default=None, description="Tags.")

    def to_core(self) -> catalog.ItemInput:
        return catalog.ItemInput(**{k: getattr(self, k) for k in catalog.ItemInput.__annotations__})


@strawberry.type(description="Result of a catalog change.")
class CatalogItemPayload:
    item: CatalogItem | None = strawberry.field(default=None, description="The item.")
    replayed: bool = strawberry.field(
        default=False, description="True for a retried idempotency key: nothing new happened."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.input(description="Spend points on an item.")
class RedemptionCreateInput:
    member_id: strawberry.ID = strawberry.field(description="Who.")
    item_id: strawberry.ID = strawberry.field(description="What.")
    quantity: int = strawberry.field(default=1, description="How many (1 to 100).")
    idempotency_key: str = strawberry.field(description="Retries with this key redeem once.")


@strawberry.type(description="Result of a redemption change.")
class RedemptionPayload:
    redemption: Redemption | None = strawberry.field(default=None, description="It.")
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


OptionalKey = Annotated[
    str | None,
    strawberry.argument(
        description="Retries with this key do it once (and answer `replayed: true`); "
        "without a key, every call does it again."
    ),
]


def _item_id(value: str, field: str = "itemId") -> int:
    return ids.decode("item", value, field)


def _redemption(value: str) -> int:
    return ids.decode("redemption", value, "redemptionId")


@strawberry.type
class CatalogQuery:
    @strawberry.field(
        description="Catalog items, cheapest first.", permission_classes=gate("Query.catalogItems")
    )
    def catalog_items(
        self,
        first: First = None,
        after: After = None,
        tag: Annotated[str | None, strawberry.argument(description="With this tag.")] = None,
        include_retired: Annotated[
            bool, strawberry.argument(description="Also retired items.")
        ] = False,
    ) -> Connection[CatalogItem]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.catalog_items(
                    tag=tag, include_retired=include_retired, after=cursor, limit=limit
                ),
                lambda r, b: CatalogItem(row=r, batch=b),
            )

        return query(work)

    @strawberry.field(description="One catalog item.", permission_classes=gate("Query.catalogItem"))
    def catalog_item(
        self, id: Annotated[strawberry.ID, strawberry.argument(description="Its id.")]
    ) -> CatalogItem | None:
        def work():
            return item_by_id(_item_id(id, "id"))

        return query(work)

    @strawberry.field(
        description="A member's redemptions, newest first.",
        permission_classes=gate("Query.redemptions"),
    )
    def redemptions(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        first: First = None,
        after: After = None,
    ) -> Connection[Redemption]:
        def work():
            mid = ids.decode("member", member_id, "memberId")
            info.context.check_member(mid)
            return paged(
                first,
                after,
                lambda cursor, limit: lists.redemptions(mid, before=cursor, limit=limit),
                lambda r, b: Redemption(row=r, batch=b),
            )

        return query(work)


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(
        description="Add an item to the catalog.",
        permission_classes=gate("Mutation.catalogItemCreate"),
    )
    def catalog_item_create(
        self,
        info: Info,
        input: Annotated[CatalogItemInput, strawberry.argument(description="The item.")],
        idempotency_key: OptionalKey = None,
    ) -> CatalogItemPayload:
        ctx = info.context

        def create() -> int:
            row = catalog.create_item(input.to_core(), now=ctx.now)
            audit.record(
                ctx.actor,
                "catalogItem.create",
                ids.encode("item", row.id),
                {"title": row.title, "pointsPrice": row.points_price, "stock": row.stock},
                now=ctx.now,
            )
            return row.id

        def work():
            arguments = {k: str(v) for k, v in vars(input.to_core()).items()}
            outcome = idempotency.run_once_if_keyed(
                ctx.scope, idempotency_key, "catalogItemCreate", arguments, ctx.now, create
            )
            return CatalogItemPayload(
                item=item_by_id(outcome.result_id),
                replayed=outcome.replayed,
            )

        return mutation(CatalogItemPayload, work)

    @strawberry.mutation(
        description="Change an item's fields.",
        permission_classes=gate("Mutation.catalogItemUpdate"),
    )
    def catalog_item_update(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The item.")],
        input: Annotated[CatalogItemInput, strawberry.argument(description="What changes.")],
    ) -> CatalogItemPayload:
        def work():
            with write_transaction():
                row = catalog.update_item(_item_id(id, "id"), input.to_core(), now=info.context.now)
                audit.record(
                    info.context.actor,
                    "catalogItem.update",
                    id,
                    {k: str(v) for k, v in vars(input.to_core()).items() if v not in (None, False)},
                    now=info.context.now,
                )
            return CatalogItemPayload(item=CatalogItem(row=row))

        return mutation(CatalogItemPayload, work)

    @strawberry.mutation(
        description="Add units to an item's stock.",
        permission_classes=gate("Mutation.catalogItemRestock"),
    )
    def catalog_item_restock(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The item.")],
        quantity: Annotated[int, strawberry.argument(description="Units to add.")],
        idempotency_key: OptionalKey = None,
    ) -> CatalogItemPayload:
        ctx = info.context

        def work():
            iid = _item_id(id, "id")

            def restock() -> int:
                row = catalog.restock(iid, quantity, now=ctx.now)
                audit.record(
                    ctx.actor,
                    "catalogItem.restock",
                    id,
                    {"quantity": quantity, "stock": row.stock},
                    now=ctx.now,
                )
                return row.id

            arguments = {"itemId": iid, "quantity": quantity}
            outcome = idempotency.run_once_if_keyed(
                ctx.scope, idempotency_key, "catalogItemRestock", arguments, ctx.now, restock
            )
            return CatalogItemPayload(item=item_by_id(iid), replayed=outcome.replayed)

        return mutation(CatalogItemPayload, work)

    @strawberry.mutation(
        description="Retire an item: it can no longer be redeemed.",
        permission_classes=gate("Mutation.catalogItemRetire"),
    )
    def catalog_item_retire(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The item.")],
    ) -> CatalogItemPayload:
        def work():
            with write_transaction():
                row = catalog.retire(_item_id(id, "id"), now=info.context.now)
                audit.record(info.context.actor, "catalogItem.retire", id, {}, now=info.context.now)
            return CatalogItemPayload(item=CatalogItem(row=row))

        return mutation(CatalogItemPayload, work)

    @strawberry.mutation(
        description="Spend points on an item: points and stock are taken together or not at all.",
        permission_classes=gate("Mutation.redemptionCreate"),
    )
    def redemption_create(
        self,
        info: Info,
        input: Annotated[RedemptionCreateInput, strawberry.argument(description="What.")],
    ) -> RedemptionPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)
            iid = _item_id(input.item_id)
            outcome = idempotency.run_once(
                ctx.scope,
                input.idempotency_key,
                "redemptionCreate",
                {"memberId": mid, "itemId": iid, "quantity": input.quantity},
                ctx.now,
                lambda: (
                    catalog.redeem(mid, iid, input.quantity, now=ctx.now, settings=ctx.settings).id
                ),
            )
            return RedemptionPayload(
                redemption=redemption_by_id(outcome.result_id),
                replayed=outcome.replayed,
            )

        return mutation(RedemptionPayload, work)

    @strawberry.mutation(
        description="Mark a redemption as delivered.",
        permission_classes=gate("Mutation.redemptionFulfill"),
    )
    def redemption_fulfill(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The redemption.")],
    ) -> RedemptionPayload:
        def work():
            with write_transaction():
                row, replayed = catalog.fulfill(_redemption(id), now=info.context.now)
            return RedemptionPayload(redemption=Redemption(row=row), replayed=replayed)

        return mutation(RedemptionPayload, work)

    @strawberry.mutation(
        description="Cancel a redemption: points and stock come back, once.",
        permission_classes=gate("Mutation.redemptionCancel"),
    )
    def redemption_cancel(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The redemption.")],
        reason: Annotated[str, strawberry.argument(description="Why.")],
    ) -> RedemptionPayload:
        from server.core.adjustments import check_reason

        def work():
            with write_transaction():
                row, replayed = catalog.cancel(
                    _redemption(id),
                    check_reason(reason),
                    actor=info.context.actor,
                    now=info.context.now,
                )
                if not replayed:
                    audit.record(
                        info.context.actor,
                        "redemption.cancel",
                        id,
                        {"reason": reason, "points": row.points},
                        now=info.context.now,
                    )
            return RedemptionPayload(redemption=Redemption(row=row), replayed=replayed)

        return mutation(RedemptionPayload, work)
