"""Spending: catalog and redemptions, checkout, lotteries."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from server.store.fields import JsonField, UtcDateTimeField
from server.store.models.ledger import BaseModel, LedgerTransaction, Member


class CatalogItem(BaseModel):
    id = BigAutoField()
    title = CharField(max_length=200)
    description = TextField(default="")
    image_url = CharField(max_length=1000, null=True)
    points_price = BigIntegerField()
    cash_price = CharField(max_length=32, null=True)  # a Decimal, as text
    currency = CharField(max_length=3, null=True)
    stock = BigIntegerField(null=True)  # None: unlimited
    stock_added = BigIntegerField(default=0)  # units ever stocked: stock + units out
    limit_per_member = IntegerField(null=True)
    limit_period = CharField(max_length=8, null=True)  # day, week, month or ever
    available_from = UtcDateTimeField(null=True)
    available_until = UtcDateTimeField(null=True)
    community = CharField(max_length=64, null=True)
    tags = JsonField(default=list)
    retired_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()


class Redemption(BaseModel):
    id = BigAutoField()
    member = ForeignKeyField(Member)
    item = ForeignKeyField(CatalogItem)
    quantity = IntegerField()
    points = BigIntegerField()
    status = CharField(max_length=16, default="created")  # created, fulfilled, cancelled
    txn = ForeignKeyField(LedgerTransaction, null=True)
    cancel_txn = ForeignKeyField(LedgerTransaction, null=True, backref="cancellations")
    draw_id = BigIntegerField(null=True)  # a lottery prize
    created_at = UtcDateTimeField()
    period_day = DateField()  # local day it was made, for per-member limits
    fulfilled_at = UtcDateTimeField(null=True)
    cancelled_at = UtcDateTimeField(null=True)
    reason = TextField(null=True)

    class Meta:
        indexes = ((("member", "item", "period_day"), False),)


class Checkout(BaseModel):
    """Points held against one order, then captured, voided, expired or refunded."""

    order_id = CharField(max_length=128, primary_key=True)
    member = ForeignKeyField(Member)
    points = BigIntegerField()
    order_amount = CharField(max_length=32)  # a Decimal, as text
    currency = CharField(max_length=3)
    status = CharField(max_length=16)  # held, captured, voided, expired
    refunded_points = BigIntegerField(default=0)
    refunded_amount = CharField(max_length=32, default="0")
    hold_txn = ForeignKeyField(LedgerTransaction)
    settle_txn = ForeignKeyField(LedgerTransaction, null=True, backref="settlements")
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField()
    settled_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("status", "expires_at"), False),)


class CheckoutRefund(BaseModel):
    checkout = ForeignKeyField(Checkout)
    refund_id = CharField(max_length=128)
    amount = CharField(max_length=32)
    points = BigIntegerField()
    txn = ForeignKeyField(LedgerTransaction, null=True)
    created_at = UtcDateTimeField()

    class Meta:
        indexes = ((("checkout", "refund_id"), True),)


class Lottery(BaseModel):
    id = BigAutoField()
    title = CharField(max_length=200)
    cost = BigIntegerField()
    daily_limit = IntegerField(null=True)
    budget = BigIntegerField(null=True)  # points prizes in all
    budget_spent = BigIntegerField(default=0)
    miss_weight = IntegerField(default=0)  # weight of drawing nothing
    guarantee_win = BooleanField(default=False)
    pity_count = IntegerField(null=True)
    available_from = UtcDateTimeField(null=True)
    available_until = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()
    retired_at = UtcDateTimeField(null=True)


class LotteryPrize(BaseModel):
    id = BigAutoField()
    lottery = ForeignKeyField(Lottery, backref="prizes")
    kind = CharField(max_length=16)  # points, item, consolation
    label = CharField(max_length=200)
    points = BigIntegerField(null=True)
    item = ForeignKeyField(CatalogItem, null=True)
    weight = IntegerField()
    stock = BigIntegerField(null=True)  # None: unlimited
    stock_added = BigIntegerField(default=0)  # units ever stocked: stock + units won


class Draw(BaseModel):
    """One lottery draw, with what an auditor needs to replay it."""

    id = BigAutoField()
    lottery = ForeignKeyField(Lottery)
    member = ForeignKeyField(Member)
    day = DateField()
    random_value = CharField(max_length=40)
    odds = JsonField()
    prize = ForeignKeyField(LotteryPrize, null=True)
    outcome = CharField(max_length=16)  # points, item, consolation, none
    pity = BooleanField(default=False)
    cost_txn = ForeignKeyField(LedgerTransaction, null=True)  # null for a free draw
    prize_txn = ForeignKeyField(LedgerTransaction, null=True, backref="prize_draws")
    redemption = ForeignKeyField(Redemption, null=True)
    created_at = UtcDateTimeField()

    class Meta:
        indexes = ((("lottery", "member", "day"), False),)
