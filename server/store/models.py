"""The tables. Each model mirrors the latest migration in `migrations/`."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DateField,
    ForeignKeyField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
)

from server.store.db import database
from server.store.fields import JsonField, UtcDateTimeField


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Setting(BaseModel):
    """Program-wide values: the signing secret, program settings, bootstrap marks."""

    key = CharField(max_length=64, primary_key=True)
    value = TextField()


class ApiKey(BaseModel):
    name = CharField(max_length=100)
    role = CharField(max_length=16)
    prefix = CharField(max_length=16, unique=True)
    secret_hash = CharField(max_length=64)
    created_at = UtcDateTimeField()
    revoked_at = UtcDateTimeField(null=True)


class Member(BaseModel):
    id = BigAutoField()
    external_id = CharField(max_length=128, unique=True)
    display_name = CharField(max_length=200, null=True)
    birthday = DateField(null=True)
    birthday_md = CharField(max_length=5, null=True, index=True)  # "MM-DD", for the daily job
    joined_at = UtcDateTimeField(null=True)  # first join to any community
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()


class Membership(BaseModel):
    """One member in one community: the current stint and where it started."""

    member = ForeignKeyField(Member, backref="memberships")
    community = CharField(max_length=64)
    invited_by = ForeignKeyField(Member, null=True, backref="invitees")
    first_joined_at = UtcDateTimeField()
    joined_at = UtcDateTimeField()
    left_at = UtcDateTimeField(null=True)
    # Set when the member first left: the inviter's referral stops counting for tiers.
    referral_revoked_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("member", "community"), True),)


class Event(BaseModel):
    id = BigAutoField()
    type = CharField(max_length=64)
    member = ForeignKeyField(Member)
    community = CharField(max_length=64, null=True)
    occurred_at = UtcDateTimeField()
    recorded_at = UtcDateTimeField()
    attributes = JsonField()

    class Meta:
        indexes = ((("member", "type", "occurred_at"), False), (("occurred_at",), False))


class Checkin(BaseModel):
    """At most one check-in per member and local calendar day."""

    member = ForeignKeyField(Member)
    day = DateField()
    event = ForeignKeyField(Event)

    class Meta:
        primary_key = CompositeKey("member", "day")


class Account(BaseModel):
    """A ledger account. Member wallets keep their balance here; program accounts in slots."""

    key = CharField(max_length=160, unique=True)
    kind = CharField(max_length=16)
    member = ForeignKeyField(Member, null=True)
    campaign = CharField(max_length=64, null=True)
    balance = BigIntegerField(default=0)
    slots = SmallIntegerField(default=1)

    class Meta:
        indexes = ((("member", "kind"), False),)


class AccountSlot(BaseModel):
    """One of a program account's balance counters; the balance is their sum."""

    account = ForeignKeyField(Account)
    slot = SmallIntegerField()
    balance = BigIntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("account", "slot")


class LedgerTransaction(BaseModel):
    id = BigAutoField()
    kind = CharField(max_length=32)
    member = ForeignKeyField(Member, null=True)
    created_at = UtcDateTimeField(index=True)
    event = ForeignKeyField(Event, null=True)
    campaign = CharField(max_length=64, null=True)
    campaign_version = IntegerField(null=True)
    rule_line = IntegerField(null=True)
    rule_text = TextField(null=True)
    actor = CharField(max_length=100, null=True)
    approver = CharField(max_length=100, null=True)
    reason = TextField(null=True)
    reverses = ForeignKeyField("self", null=True, unique=True, backref="reversals")

    class Meta:
        table_name = "ledger_transaction"


class Posting(BaseModel):
    id = BigAutoField()
    txn = ForeignKeyField(LedgerTransaction, backref="postings")
    account = ForeignKeyField(Account)
    amount = BigIntegerField()
    member = ForeignKeyField(Member, null=True)  # the wallet's owner, for member ledgers
    created_at = UtcDateTimeField()
    balance_after = BigIntegerField(null=True)  # member wallets only

    class Meta:
        indexes = ((("member", "id"), False), (("account", "id"), False), (("created_at",), False))


class Lot(BaseModel):
    """Points credited to an available wallet, spent oldest-expiring first."""

    id = BigAutoField()
    member = ForeignKeyField(Member)
    posting = ForeignKeyField(Posting)
    amount = BigIntegerField()
    remaining = BigIntegerField()
    earned_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("member", "expires_at", "id"), False),)


# Spends and expiry only ever look at lots that still hold points (migration 0002).
Lot.add_index(
    Lot.index(Lot.member, Lot.expires_at, Lot.id, name="lot_open_by_member").where(
        Lot.remaining > 0
    )
)
Lot.add_index(Lot.index(Lot.expires_at, name="lot_open_by_expiry").where(Lot.remaining > 0))


class LotUse(BaseModel):
    """How much of a lot a debit posting took, so a reversal can put it back."""

    id = BigAutoField()
    posting = ForeignKeyField(Posting)
    lot = ForeignKeyField(Lot)
    amount = BigIntegerField()

    class Meta:
        indexes = ((("posting",), False),)


class IdempotencyKey(BaseModel):
    key = CharField(max_length=200, primary_key=True)
    operation = CharField(max_length=64)
    request_hash = CharField(max_length=64)
    result_id = BigIntegerField(null=True)
    created_at = UtcDateTimeField()


class CampaignVersion(BaseModel):
    """One published version of a campaign; events are judged by the one in force."""

    campaign = CharField(max_length=64)
    version = IntegerField()
    title = CharField(max_length=200, null=True)
    source = TextField()  # canonical text of the campaign
    digest = CharField(max_length=64)
    position = IntegerField(default=0)  # order in the published rules
    retired = BooleanField(default=False)
    activated_at = UtcDateTimeField()
    actor = CharField(max_length=100, null=True)

    class Meta:
        indexes = ((("campaign", "version"), True),)


class CampaignBudget(BaseModel):
    """What a campaign may still issue. The one row every award of the campaign touches."""

    campaign = CharField(max_length=64, primary_key=True)
    budget = BigIntegerField(null=True)
    spent = BigIntegerField(default=0)
    last_take = BigIntegerField(default=0)


class MemberCounter(BaseModel):
    """A member's running counts for one event type, kept up to date event by event."""

    member = ForeignKeyField(Member)
    event_type = CharField(max_length=64)
    total = BigIntegerField(default=0)
    active = BigIntegerField(default=0)  # referrals: without revoked ones
    streak = IntegerField(default=0)
    last_day = DateField(null=True)
    last_at = UtcDateTimeField(null=True)

    class Meta:
        primary_key = CompositeKey("member", "event_type")


class PeriodCounter(BaseModel):
    """Times and points a rule or campaign awarded a member in one calendar period."""

    member = ForeignKeyField(Member)
    scope = CharField(max_length=120)
    period = CharField(max_length=16)
    times = IntegerField(default=0)
    points = BigIntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("member", "scope", "period")


class AwardLink(BaseModel):
    """An award that lasts only while the invitee stays in the community."""

    txn = ForeignKeyField(LedgerTransaction, primary_key=True)
    invitee = ForeignKeyField(Member)
    community = CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("invitee", "community"), False),)


class Review(BaseModel):
    """An award made `after review`: pending until a reviewer approves or rejects it."""

    txn = ForeignKeyField(LedgerTransaction, primary_key=True)
    member = ForeignKeyField(Member)
    campaign = CharField(max_length=64)
    points = BigIntegerField()
    status = CharField(max_length=16, default="pending")
    created_at = UtcDateTimeField()
    decided_at = UtcDateTimeField(null=True)
    reviewer = CharField(max_length=100, null=True)
    note = TextField(null=True)
    decision_txn = ForeignKeyField(LedgerTransaction, null=True, backref="decisions")

    class Meta:
        indexes = ((("status", "created_at"), False),)


class CatalogItem(BaseModel):
    id = BigAutoField()
    title = CharField(max_length=200)
    description = TextField(default="")
    image_url = CharField(max_length=1000, null=True)
    points_price = BigIntegerField()
    cash_price = CharField(max_length=32, null=True)  # a Decimal, as text
    currency = CharField(max_length=3, null=True)
    stock = BigIntegerField(null=True)  # None: unlimited
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


class Standing(BaseModel):
    """A member's score on one leaderboard (metric, calendar period, community or all)."""

    metric = CharField(max_length=64)  # an event type, or "points"
    period = CharField(max_length=16)  # d2026-03-02, w2026-10, m2026-03
    scope = CharField(max_length=64, default="")  # a community, or "" for the whole program
    member = ForeignKeyField(Member)
    score = BigIntegerField(default=0)
    reached_at = UtcDateTimeField()  # when the score got where it is: ties go to the first

    class Meta:
        primary_key = CompositeKey("metric", "period", "scope", "member")
        indexes = ((("metric", "period", "scope", "score", "reached_at"), False),)


class PeriodPayout(BaseModel):
    """One `every PERIOD top N` rule paid for one closed period: the key that pays once."""

    campaign = CharField(max_length=64)
    rule_id = CharField(max_length=120)
    period = CharField(max_length=16)
    paid_at = UtcDateTimeField()
    winners = JsonField(default=list)

    class Meta:
        primary_key = CompositeKey("campaign", "rule_id", "period")


class Task(BaseModel):
    id = BigAutoField()
    key = CharField(max_length=64, unique=True)
    title = CharField(max_length=200)
    instructions = TextField(default="")
    starts_at = UtcDateTimeField(null=True)
    ends_at = UtcDateTimeField(null=True)
    max_completions = IntegerField(default=1)  # per member
    created_at = UtcDateTimeField()
    retired_at = UtcDateTimeField(null=True)


class Submission(BaseModel):
    id = BigAutoField()
    task = ForeignKeyField(Task)
    member = ForeignKeyField(Member)
    proof = TextField(default="")
    links = JsonField(default=list)
    status = CharField(max_length=16, default="pending")  # pending, approved, rejected
    created_at = UtcDateTimeField()
    decided_at = UtcDateTimeField(null=True)
    reviewer = CharField(max_length=100, null=True)
    note = TextField(null=True)
    event = ForeignKeyField(Event, null=True)

    class Meta:
        indexes = ((("status", "created_at"), False), (("member", "task"), False))


class AdjustmentRequest(BaseModel):
    """A manual adjustment above the threshold, waiting for a second operator."""

    id = BigAutoField()
    member = ForeignKeyField(Member)
    points = BigIntegerField()
    reason = TextField()
    requested_by = CharField(max_length=100)
    requested_at = UtcDateTimeField()
    status = CharField(max_length=16, default="pending")  # pending, approved, rejected
    decided_by = CharField(max_length=100, null=True)
    decided_at = UtcDateTimeField(null=True)
    txn = ForeignKeyField(LedgerTransaction, null=True)


class AuditEntry(BaseModel):
    """An operator action: who, when, what, on what."""

    id = BigAutoField()
    at = UtcDateTimeField(index=True)
    actor = CharField(max_length=100)
    action = CharField(max_length=64)
    target = CharField(max_length=128, null=True)
    details = JsonField(default=dict)


class MessageMemory(BaseModel):
    """A member's recent message fingerprints, to ignore duplicates."""

    member = ForeignKeyField(Member, primary_key=True)
    recent = JsonField(default=list)


ALL_MODELS = [
    Setting,
    ApiKey,
    Member,
    Membership,
    Event,
    Checkin,
    Account,
    AccountSlot,
    LedgerTransaction,
    Posting,
    Lot,
    LotUse,
    IdempotencyKey,
    CampaignVersion,
    CampaignBudget,
    MemberCounter,
    PeriodCounter,
    AwardLink,
    Review,
    CatalogItem,
    Redemption,
    Checkout,
    CheckoutRefund,
    Lottery,
    LotteryPrize,
    Draw,
    Standing,
    PeriodPayout,
    Task,
    Submission,
    AdjustmentRequest,
    AuditEntry,
    MessageMemory,
]
