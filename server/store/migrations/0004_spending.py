"""Spending: catalog and redemptions, checkout holds and refunds, lotteries and draws."""

from peewee import *
from server.store.fields import JsonField
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

    class CatalogItem(Model):
        id = BigAutoField()
        title = CharField(max_length=200)
        description = TextField(default="")
        image_url = CharField(null=True, max_length=1000)
        points_price = BigIntegerField()
        cash_price = CharField(null=True, max_length=32)
        currency = CharField(null=True, max_length=3)
        stock = BigIntegerField(null=True)
        limit_per_member = IntegerField(null=True)
        limit_period = CharField(null=True, max_length=8)
        available_from = UtcDateTimeField(null=True)
        available_until = UtcDateTimeField(null=True)
        community = CharField(null=True, max_length=64)
        tags = JsonField(default=list)
        retired_at = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()
        updated_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "catalog_item"

    db.create_tables([CatalogItem])

    class Checkout(Model):
        order_id = CharField(primary_key=True, max_length=128)
        member = ForeignKeyField(Member)
        points = BigIntegerField()
        order_amount = CharField(max_length=32)
        currency = CharField(max_length=3)
        status = CharField(max_length=16)
        refunded_points = BigIntegerField(default=0)
        refunded_amount = CharField(max_length=32, default="0")
        hold_txn = ForeignKeyField(LedgerTransaction)
        settle_txn = ForeignKeyField(LedgerTransaction, null=True)
        created_at = UtcDateTimeField()
        expires_at = UtcDateTimeField()
        settled_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "checkout"
            indexes = ((("status", "expires_at"), False),)

    db.create_tables([Checkout])

    class CheckoutRefund(Model):
        checkout = ForeignKeyField(Checkout)
        refund_id = CharField(max_length=128)
        amount = CharField(max_length=32)
        points = BigIntegerField()
        txn = ForeignKeyField(LedgerTransaction, null=True)
        created_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "checkout_refund"
            indexes = ((("checkout", "refund_id"), True),)

    db.create_tables([CheckoutRefund])

    class Lottery(Model):
        id = BigAutoField()
        title = CharField(max_length=200)
        cost = BigIntegerField()
        daily_limit = IntegerField(null=True)
        budget = BigIntegerField(null=True)
        budget_spent = BigIntegerField(default=0)
        miss_weight = IntegerField(default=0)
        guarantee_win = BooleanField(default=False)
        pity_count = IntegerField(null=True)
        available_from = UtcDateTimeField(null=True)
        available_until = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()
        retired_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "lottery"

    db.create_tables([Lottery])

    class LotteryPrize(Model):
        id = BigAutoField()
        lottery = ForeignKeyField(Lottery)
        kind = CharField(max_length=16)
        label = CharField(max_length=200)
        points = BigIntegerField(null=True)
        item = ForeignKeyField(CatalogItem, null=True)
        weight = IntegerField()
        stock = BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = "lottery_prize"

    db.create_tables([LotteryPrize])

    class Redemption(Model):
        id = BigAutoField()
        member = ForeignKeyField(Member)
        item = ForeignKeyField(CatalogItem)
        quantity = IntegerField()
        points = BigIntegerField()
        status = CharField(max_length=16, default="created")
        txn = ForeignKeyField(LedgerTransaction, null=True)
        cancel_txn = ForeignKeyField(LedgerTransaction, null=True)
        draw_id = BigIntegerField(null=True)
        created_at = UtcDateTimeField()
        period_day = DateField()
        fulfilled_at = UtcDateTimeField(null=True)
        cancelled_at = UtcDateTimeField(null=True)
        reason = TextField(null=True)

        class Meta:
            database = db
            table_name = "redemption"
            indexes = ((("member", "item", "period_day"), False),)

    db.create_tables([Redemption])

    class Draw(Model):
        id = BigAutoField()
        lottery = ForeignKeyField(Lottery)
        member = ForeignKeyField(Member)
        day = DateField()
        random_value = CharField(max_length=40)
        odds = JsonField()
        prize = ForeignKeyField(LotteryPrize, null=True)
        outcome = CharField(max_length=16)
        pity = BooleanField(default=False)
        cost_txn = ForeignKeyField(LedgerTransaction, null=True)
        prize_txn = ForeignKeyField(LedgerTransaction, null=True)
        redemption = ForeignKeyField(Redemption, null=True)
        created_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "draw"
            indexes = ((("lottery", "member", "day"), False),)

    db.create_tables([Draw])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("draw"))
    migrator.migrate(migrator.drop_table("redemption"))
    migrator.migrate(migrator.drop_table("lottery_prize"))
    migrator.migrate(migrator.drop_table("lottery"))
    migrator.migrate(migrator.drop_table("checkout_refund"))
    migrator.migrate(migrator.drop_table("checkout"))
    migrator.migrate(migrator.drop_table("catalog_item"))
