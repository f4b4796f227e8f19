"""Members, events and the double-entry ledger."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
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
    rule_file = CharField(max_length=200, null=True)  # the file the rule is written in
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
        indexes = (
            (("member", "id"), False),
            (("account", "id"), False),
            # Covers the analysts' summaries: a day's postings are read from the index alone.
            (("created_at", "member", "account", "amount"), False),
        )


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
        indexes = (
            (("member", "expires_at", "id"), False),
            # Points earned in a window (levels, 0014).
            (("member", "earned_at"), False),
            (("earned_at",), False),
        )


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
    """A request done once: keys belong to a scope (an API key, a member, the program)."""

    scope = CharField(max_length=64)
    key = CharField(max_length=200)
    operation = CharField(max_length=64)
    request_hash = CharField(max_length=64)
    result_id = BigIntegerField(null=True)
    created_at = UtcDateTimeField()

    class Meta:
        primary_key = CompositeKey("scope", "key")
