"""Campaign budgets kept in 16 shares, so that awards of one campaign do not all update
(and lock) the same row; what was spent so far moves into the first share."""

from peewee import *

SHARES = 16


def up(migrator, db):
    class CampaignBudgetShare(Model):
        campaign = CharField(max_length=64)
        share = IntegerField()
        budget = BigIntegerField()
        spent = BigIntegerField(default=0)
        last_take = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "campaign_budget_share"
            primary_key = CompositeKey("campaign", "share")

    db.create_tables([CampaignBudgetShare])
    rows = db.execute_sql(
        "SELECT campaign, budget, spent FROM campaign_budget WHERE budget IS NOT NULL"
    ).fetchall()
    for campaign, budget, spent in rows:
        left = max(budget - spent, 0)
        for share in range(SHARES):
            part = left // SHARES + (1 if share < left % SHARES else 0)
            used = spent if share == 0 else 0
            CampaignBudgetShare.insert(
                campaign=campaign, share=share, budget=used + part, spent=used
            ).execute()
    db.execute_sql("UPDATE campaign_budget SET spent = 0")


def down(migrator, db):
    rows = db.execute_sql(
        "SELECT campaign, SUM(spent) FROM campaign_budget_share GROUP BY campaign"
    ).fetchall()
    for campaign, spent in rows:
        db.execute_sql(
            f"UPDATE campaign_budget SET spent = {db.param} WHERE campaign = {db.param}",
            (spent, campaign),
        )
    migrator.migrate(migrator.drop_table("campaign_budget_share"))
