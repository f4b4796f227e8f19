"""The first schema: members, events, the double-entry ledger, keys and settings."""

from peewee import *
from server.store.fields import JsonField
from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class Member(Model):
        id = BigAutoField()
        external_id = CharField(unique=True, max_length=128)
        display_name = CharField(null=True, max_length=200)
        birthday = DateField(null=True)
        joined_at = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()
        updated_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "member"

    db.create_tables([Member])

    class Account(Model):
        key = CharField(unique=True, max_length=160)
        kind = CharField(max_length=16)
        member = ForeignKeyField(Member, null=True)
        campaign = CharField(null=True, max_length=64)
        balance = BigIntegerField(default=0)
        slots = SmallIntegerField(default=1)

        class Meta:
            database = db
            table_name = "account"
            indexes = ((("member", "kind"), False),)

    db.create_tables([Account])

    class AccountSlot(Model):
        account = ForeignKeyField(Account)
        slot = SmallIntegerField()
        balance = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "account_slot"
            primary_key = CompositeKey("account", "slot")

    db.create_tables([AccountSlot])

    class ApiKey(Model):
        name = CharField(max_length=100)
        role = CharField(max_length=16)
        prefix = CharField(unique=True, max_length=16)
        secret_hash = CharField(max_length=64)
        created_at = UtcDateTimeField()
        revoked_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "api_key"

    db.create_tables([ApiKey])

    class Event(Model):
        id = BigAutoField()
        type = CharField(max_length=64)
        member = ForeignKeyField(Member)
        community = CharField(null=True, max_length=64)
        occurred_at = UtcDateTimeField()
        recorded_at = UtcDateTimeField()
        attributes = JsonField()

        class Meta:
            database = db
            table_name = "event"
            indexes = ((("member", "type", "occurred_at"), False), (("occurred_at",), False))

    db.create_tables([Event])

    class Checkin(Model):
        member = ForeignKeyField(Member)
        day = DateField()
        event = ForeignKeyField(Event)

        class Meta:
            database = db
            table_name = "checkin"
            primary_key = CompositeKey("member", "day")

    db.create_tables([Checkin])

    class IdempotencyKey(Model):
        key = CharField(primary_key=True, max_length=200)
        operation = CharField(max_length=64)
        request_hash = CharField(max_length=64)
        result_id = BigIntegerField(null=True)
        created_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "idempotency_key"

    db.create_tables([IdempotencyKey])

    class LedgerTransaction(Model):
        id = BigAutoField()
        kind = CharField(max_length=32)
        member = ForeignKeyField(Member, null=True)
        created_at = UtcDateTimeField(index=True)
        event = ForeignKeyField(Event, null=True)
        campaign = CharField(null=True, max_length=64)
        campaign_version = IntegerField(null=True)
        rule_line = IntegerField(null=True)
        rule_text = TextField(null=True)
        actor = CharField(null=True, max_length=100)
        approver = CharField(null=True, max_length=100)
        reason = TextField(null=True)
        reverses = ForeignKeyField("self", unique=True, null=True)

        class Meta:
            database = db
            table_name = "ledger_transaction"

    db.create_tables([LedgerTransaction])

    class Posting(Model):
        id = BigAutoField()
        txn = ForeignKeyField(LedgerTransaction)
        account = ForeignKeyField(Account)
        amount = BigIntegerField()
        member = ForeignKeyField(Member, null=True)
        created_at = UtcDateTimeField()
        balance_after = BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = "posting"
            indexes = (
                (("member", "id"), False),
                (("account", "id"), False),
                (("created_at",), False),
            )

    db.create_tables([Posting])

    class Lot(Model):
        id = BigAutoField()
        member = ForeignKeyField(Member)
        posting = ForeignKeyField(Posting)
        amount = BigIntegerField()
        remaining = BigIntegerField()
        earned_at = UtcDateTimeField()
        expires_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "lot"
            indexes = ((("member", "expires_at", "id"), False),)

    db.create_tables([Lot])

    class LotUse(Model):
        id = BigAutoField()
        posting = ForeignKeyField(Posting)
        lot = ForeignKeyField(Lot)
        amount = BigIntegerField()

        class Meta:
            database = db
            table_name = "lot_use"
            indexes = ((("posting",), False),)

    db.create_tables([LotUse])

    class Membership(Model):
        member = ForeignKeyField(Member)
        community = CharField(max_length=64)
        invited_by = ForeignKeyField(Member, null=True)
        first_joined_at = UtcDateTimeField()
        joined_at = UtcDateTimeField()
        left_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "membership"
            indexes = ((("member", "community"), True),)

    db.create_tables([Membership])

    class Setting(Model):
        key = CharField(primary_key=True, max_length=64)
        value = TextField()

        class Meta:
            database = db
            table_name = "setting"

    db.create_tables([Setting])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("setting"))
    migrator.migrate(migrator.drop_table("membership"))
    migrator.migrate(migrator.drop_table("lot_use"))
    migrator.migrate(migrator.drop_table("lot"))
    migrator.migrate(migrator.drop_table("posting"))
    migrator.migrate(migrator.drop_table("ledger_transaction"))
    migrator.migrate(migrator.drop_table("idempotency_key"))
    migrator.migrate(migrator.drop_table("checkin"))
    migrator.migrate(migrator.drop_table("event"))
    migrator.migrate(migrator.drop_table("api_key"))
    migrator.migrate(migrator.drop_table("account_slot"))
    migrator.migrate(migrator.drop_table("account"))
    migrator.migrate(migrator.drop_table("member"))
