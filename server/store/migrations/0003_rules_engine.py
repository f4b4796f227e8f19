"""Rules in force: campaign versions and budgets, member counters, review queue, award links."""

from peewee import *
from server.store.fields import UtcDateTimeField


def up(migrator, db):
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

    class AwardLink(Model):
        txn = ForeignKeyField(LedgerTransaction, primary_key=True)
        invitee = ForeignKeyField(Member)
        community = CharField(null=True, max_length=64)

        class Meta:
            database = db
            table_name = "award_link"
            indexes = ((("invitee", "community"), False),)

    db.create_tables([AwardLink])

    class CampaignBudget(Model):
        campaign = CharField(primary_key=True, max_length=64)
        budget = BigIntegerField(null=True)
        spent = BigIntegerField(default=0)
        last_take = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "campaign_budget"

    db.create_tables([CampaignBudget])

    class CampaignVersion(Model):
        campaign = CharField(max_length=64)
        version = IntegerField()
        title = CharField(null=True, max_length=200)
        source = TextField()
        digest = CharField(max_length=64)
        position = IntegerField(default=0)
        retired = BooleanField(default=False)
        activated_at = UtcDateTimeField()
        actor = CharField(null=True, max_length=100)

        class Meta:
            database = db
            table_name = "campaign_version"
            indexes = ((("campaign", "version"), True),)

    db.create_tables([CampaignVersion])

    class MemberCounter(Model):
        member = ForeignKeyField(Member)
        event_type = CharField(max_length=64)
        total = BigIntegerField(default=0)
        active = BigIntegerField(default=0)
        streak = IntegerField(default=0)
        last_day = DateField(null=True)
        last_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "member_counter"
            primary_key = CompositeKey("member", "event_type")

    db.create_tables([MemberCounter])

    class PeriodCounter(Model):
        member = ForeignKeyField(Member)
        scope = CharField(max_length=120)
        period = CharField(max_length=16)
        times = IntegerField(default=0)
        points = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "period_counter"
            primary_key = CompositeKey("member", "scope", "period")

    db.create_tables([PeriodCounter])

    class Review(Model):
        txn = ForeignKeyField(LedgerTransaction, primary_key=True)
        member = ForeignKeyField(Member)
        campaign = CharField(max_length=64)
        points = BigIntegerField()
        status = CharField(max_length=16, default="pending")
        created_at = UtcDateTimeField()
        decided_at = UtcDateTimeField(null=True)
        reviewer = CharField(null=True, max_length=100)
        note = TextField(null=True)
        decision_txn = ForeignKeyField(LedgerTransaction, null=True)

        class Meta:
            database = db
            table_name = "review"
            indexes = ((("status", "created_at"), False),)

    db.create_tables([Review])

    migrator.migrate(
        migrator.add_column("membership", "referral_revoked_at", UtcDateTimeField(null=True))
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column("membership", "referral_revoked_at"))
    migrator.migrate(migrator.drop_table("review"))
    migrator.migrate(migrator.drop_table("period_counter"))
    migrator.migrate(migrator.drop_table("member_counter"))
    migrator.migrate(migrator.drop_table("campaign_version"))
    migrator.migrate(migrator.drop_table("campaign_budget"))
    migrator.migrate(migrator.drop_table("award_link"))
