"""Badges and streak protection: badges held, what streak rules paid within runs, freezes
bought and used, make-up check-ins."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    CharField,
    CompositeKey,
    DateField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from server.store.fields import UtcDateTimeField
from server.store.models.ledger import BaseModel, Event, LedgerTransaction, Member


class Badge(BaseModel):
    """How a badge is shown: described in the rule files or by an operator."""

    key = CharField(max_length=64, primary_key=True)
    name = CharField(max_length=100, null=True)
    description = TextField(null=True)
    image_url = CharField(max_length=500, null=True)
    described_at = UtcDateTimeField(null=True)
    described_by = CharField(max_length=200, null=True)


class MemberBadge(BaseModel):
    """A badge a member earned: once per member, ever (the primary key sees to it)."""

    member = ForeignKeyField(Member)
    badge = CharField(max_length=64)
    earned_at = UtcDateTimeField()
    event = ForeignKeyField(Event, null=True)
    campaign = CharField(max_length=64, null=True)

    class Meta:
        primary_key = CompositeKey("member", "badge")
        indexes = ((("badge",), False),)  # how many hold each badge


class MemberStreak(BaseModel):
    """A member's streak freezes: bought, used (one per covered day) and held."""

    member = ForeignKeyField(Member, primary_key=True)
    freezes_held = IntegerField(default=0)
    freezes_bought = IntegerField(default=0)
    freezes_used = IntegerField(default=0)


class StreakPaid(BaseModel):
    """How many times a streak rule paid within the run containing `day` (a day it paid
    on): a run made of joined runs owes a rule only what none of its parts was paid."""

    member = ForeignKeyField(Member)
    day = DateField()
    rule_id = CharField(max_length=120)
    times = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("member", "day", "rule_id")


class StreakFreezeDay(BaseModel):
    """A missed day a held freeze covered."""

    member = ForeignKeyField(Member)
    day = DateField()
    used_at = UtcDateTimeField()

    class Meta:
        primary_key = CompositeKey("member", "day")


class StreakFreezePurchase(BaseModel):
    """A freeze bought: its spend in the ledger."""

    id = BigAutoField()
    member = ForeignKeyField(Member, index=True)
    txn = ForeignKeyField(LedgerTransaction)
    created_at = UtcDateTimeField()


class CheckinMakeUp(BaseModel):
    """A missed day checked in afterwards, for a price: its check-in event and spend."""

    member = ForeignKeyField(Member)
    day = DateField()
    event = ForeignKeyField(Event)
    txn = ForeignKeyField(LedgerTransaction)
    created_at = UtcDateTimeField()

    class Meta:
        primary_key = CompositeKey("member", "day")
