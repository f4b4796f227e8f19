"""Rules in force: campaign versions and budgets, counters, reviews, award links."""

from __future__ import annotations

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DateField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from server.store.fields import JsonField, UtcDateTimeField
from server.store.models.ledger import BaseModel, LedgerTransaction, Member


class CampaignVersion(BaseModel):
    """One published version of a campaign; events are judged by the one in force."""

    campaign = CharField(max_length=64)
    version = IntegerField()
    title = CharField(max_length=200, null=True)
    source = TextField()  # canonical text of the campaign
    digest = CharField(max_length=64)
    file = CharField(max_length=255, null=True)  # the file's name, without its directory
    lines = JsonField(null=True)  # each rule's line in that file, in written order
    position = IntegerField(default=0)  # order in the published rules
    retired = BooleanField(default=False)
    activated_at = UtcDateTimeField()
    actor = CharField(max_length=100, null=True)

    class Meta:
        indexes = ((("campaign", "version"), True),)


class CampaignBudget(BaseModel):
    """A campaign's budget as published; what is spent is kept in its shares (below)."""

    campaign = CharField(max_length=64, primary_key=True)
    budget = BigIntegerField(null=True)
    spent = BigIntegerField(default=0)  # before migration 0007 only; 0 since
    last_take = BigIntegerField(default=0)


class CampaignBudgetShare(BaseModel):
    """One of a budgeted campaign's shares: an award takes from the share its transaction
    drew, so concurrent writers update different rows. Only the sums mean anything."""

    campaign = CharField(max_length=64)
    share = IntegerField()
    budget = BigIntegerField()
    spent = BigIntegerField(default=0)
    last_take = BigIntegerField(default=0)

    class Meta:
        table_name = "campaign_budget_share"
        primary_key = CompositeKey("campaign", "share")


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
