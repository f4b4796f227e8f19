"""Community life: standings, payouts, tasks, two-person adjustments, audit."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
    CharField,
    CompositeKey,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from server.store.fields import JsonField, UtcDateTimeField
from server.store.models.ledger import BaseModel, Event, LedgerTransaction, Member


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


# A board read in its own order (best first, ties to who got there first): the top 100
# is the first 100 entries of the index, however many members have a score (0008).
Standing.add_index(
    Standing.index(
        Standing.metric,
        Standing.period,
        Standing.scope,
        Standing.score.desc(),
        Standing.reached_at,
        Standing.member,
        name="standing_board",
    )
)


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
