"""Member levels: the level each member holds, its history, operators' requests."""

from __future__ import annotations

from peewee import BigAutoField, BigIntegerField, CharField, ForeignKeyField, TextField

from server.store.fields import UtcDateTimeField
from server.store.models.ledger import BaseModel, Member


class MemberLevel(BaseModel):
    """A member's level (None: below the first), since when, the qualifying figure at the
    last evaluation, the end of a grace period, and an operator's floor."""

    member = ForeignKeyField(Member, primary_key=True)
    level = CharField(max_length=64, null=True)
    since = UtcDateTimeField()
    figure = BigIntegerField(default=0)
    grace_until = UtcDateTimeField(null=True, index=True)  # kept until then, though short
    floor_level = CharField(max_length=64, null=True)  # set by an operator ...
    floor_until = UtcDateTimeField(null=True, index=True)  # ... until then
    evaluated_at = UtcDateTimeField()

    class Meta:
        table_name = "member_level"


class LevelHistory(BaseModel):
    """Every change of a member's level, with its cause."""

    id = BigAutoField()
    member = ForeignKeyField(Member)
    from_level = CharField(max_length=64, null=True)
    to_level = CharField(max_length=64, null=True)
    at = UtcDateTimeField()
    cause = CharField(max_length=32)  # qualified, fell-short, grace-ended, manual, floor-ended
    actor = CharField(max_length=100, null=True)
    reason = TextField(null=True)

    class Meta:
        table_name = "level_history"
        indexes = ((("member", "id"), False),)


class LevelRequest(BaseModel):
    """An operator's level setting waiting for a second operator (when the program asks)."""

    id = BigAutoField()
    member = ForeignKeyField(Member)
    level = CharField(max_length=64, null=True)
    until = UtcDateTimeField()
    reason = TextField()
    requested_by = CharField(max_length=100)
    requested_at = UtcDateTimeField()
    status = CharField(max_length=16, default="pending")  # pending, approved, rejected
    decided_by = CharField(max_length=100, null=True)
    decided_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "level_request"
