"""Community life: leaderboards, period payouts, tasks and submissions, two-person adjustments."""

from peewee import *
from server.store.fields import JsonField
from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class Event(Model):
        id = BigAutoField()

        class Meta:
            database = db
            table_name = "event"

    class LedgerTransaction(Model):
        id = BigAutoField()

        class Meta:
            database = db
            table_name = "ledger_transaction"

    class Member(Model):
        id = BigAutoField()

        class Meta:
            database = db
            table_name = "member"

    class AdjustmentRequest(Model):
        id = BigAutoField()
        member = ForeignKeyField(Member)
        points = BigIntegerField()
        reason = TextField()
        requested_by = CharField(max_length=100)
        requested_at = UtcDateTimeField()
        status = CharField(max_length=16, default="pending")
        decided_by = CharField(null=True, max_length=100)
        decided_at = UtcDateTimeField(null=True)
        txn = ForeignKeyField(LedgerTransaction, null=True)

        class Meta:
            database = db
            table_name = "adjustment_request"

    db.create_tables([AdjustmentRequest])

    class PeriodPayout(Model):
        campaign = CharField(max_length=64)
        rule_id = CharField(max_length=120)
        period = CharField(max_length=16)
        paid_at = UtcDateTimeField()
        winners = JsonField(default=list)

        class Meta:
            database = db
            table_name = "period_payout"
            primary_key = CompositeKey("campaign", "rule_id", "period")

    db.create_tables([PeriodPayout])

    class Standing(Model):
        metric = CharField(max_length=64)
        period = CharField(max_length=16)
        scope = CharField(max_length=64, default="")
        member = ForeignKeyField(Member)
        score = BigIntegerField(default=0)
        reached_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "standing"
            primary_key = CompositeKey("metric", "period", "scope", "member")
            indexes = ((("metric", "period", "scope", "score", "reached_at"), False),)

    db.create_tables([Standing])

    class Task(Model):
        id = BigAutoField()
        key = CharField(unique=True, max_length=64)
        title = CharField(max_length=200)
        instructions = TextField(default="")
        starts_at = UtcDateTimeField(null=True)
        ends_at = UtcDateTimeField(null=True)
        max_completions = IntegerField(default=1)
        created_at = UtcDateTimeField()
        retired_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "task"

    db.create_tables([Task])

    class Submission(Model):
        id = BigAutoField()
        task = ForeignKeyField(Task)
        member = ForeignKeyField(Member)
        proof = TextField(default="")
        links = JsonField(default=list)
        status = CharField(max_length=16, default="pending")
        created_at = UtcDateTimeField()
        decided_at = UtcDateTimeField(null=True)
        reviewer = CharField(null=True, max_length=100)
        note = TextField(null=True)
        event = ForeignKeyField(Event, null=True)

        class Meta:
            database = db
            table_name = "submission"
            indexes = ((("status", "created_at"), False), (("member", "task"), False))

    db.create_tables([Submission])

    migrator.migrate(
        migrator.add_column("member", "birthday_md", CharField(index=True, null=True, max_length=5))
    )
    # Members who gave a birthday before this version get their month and day too.
    month_day = (
        "to_char(birthday, 'MM-DD')"
        if "postgres" in type(db).__name__.lower()
        else "strftime('%m-%d', birthday)"
    )
    db.execute_sql(f"UPDATE member SET birthday_md = {month_day} WHERE birthday IS NOT NULL")


def down(migrator, db):
    migrator.migrate(migrator.drop_index("member", "member_birthday_md"))
    migrator.migrate(migrator.drop_column("member", "birthday_md"))
    migrator.migrate(migrator.drop_table("submission"))
    migrator.migrate(migrator.drop_table("task"))
    migrator.migrate(migrator.drop_table("standing"))
    migrator.migrate(migrator.drop_table("period_payout"))
    migrator.migrate(migrator.drop_table("adjustment_request"))
