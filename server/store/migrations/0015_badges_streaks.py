"""Badges (described, and held once per member ever) and streak protection: the streak
awards paid within each run, freezes bought and the days they covered, make-up
check-ins."""

from peewee import *

from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class Member(Model):
        id = BigAutoField()

        class Meta:
            database = db
            table_name = "member"

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

    class Base(Model):
        class Meta:
            database = db

    class Badge(Base):
        key = CharField(max_length=64, primary_key=True)
        name = CharField(max_length=100, null=True)
        description = TextField(null=True)
        image_url = CharField(max_length=500, null=True)
        described_at = UtcDateTimeField(null=True)
        described_by = CharField(max_length=200, null=True)

        class Meta:
            table_name = "badge"

    class MemberBadge(Base):
        member = ForeignKeyField(Member)
        badge = CharField(max_length=64)
        earned_at = UtcDateTimeField()
        event = ForeignKeyField(Event, null=True)
        campaign = CharField(max_length=64, null=True)

        class Meta:
            table_name = "member_badge"
            primary_key = CompositeKey("member", "badge")
            indexes = ((("badge",), False),)

    class MemberStreak(Base):
        member = ForeignKeyField(Member, primary_key=True)
        freezes_held = IntegerField(default=0)
        freezes_bought = IntegerField(default=0)
        freezes_used = IntegerField(default=0)

        class Meta:
            table_name = "member_streak"

    class StreakPaid(Base):
        member = ForeignKeyField(Member)
        day = DateField()
        rule_id = CharField(max_length=120)
        times = IntegerField(default=0)

        class Meta:
            table_name = "streak_paid"
            primary_key = CompositeKey("member", "day", "rule_id")

    class StreakFreezeDay(Base):
        member = ForeignKeyField(Member)
        day = DateField()
        used_at = UtcDateTimeField()

        class Meta:
            table_name = "streak_freeze_day"
            primary_key = CompositeKey("member", "day")

    class StreakFreezePurchase(Base):
        id = BigAutoField()
        member = ForeignKeyField(Member, index=True)
        txn = ForeignKeyField(LedgerTransaction)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "streak_freeze_purchase"

    class CheckinMakeUp(Base):
        member = ForeignKeyField(Member)
        day = DateField()
        event = ForeignKeyField(Event)
        txn = ForeignKeyField(LedgerTransaction)
        created_at = UtcDateTimeField()

        class Meta:
            table_name = "checkin_make_up"
            primary_key = CompositeKey("member", "day")

    db.create_tables(
        [
            Badge,
            MemberBadge,
            MemberStreak,
            StreakPaid,
            StreakFreezeDay,
            StreakFreezePurchase,
            CheckinMakeUp,
        ]
    )


def down(migrator, db):
    for table in (
        "checkin_make_up",
        "streak_freeze_purchase",
        "streak_freeze_day",
        "streak_paid",
        "member_streak",
        "member_badge",
        "badge",
    ):
        migrator.migrate(migrator.drop_table(table))
