"""Units ever put in stock, for catalog items and lottery prizes, so that `ledger verify`
can prove stock equals its movements: what was stocked, less what went out."""

from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("catalog_item", "stock_added", BigIntegerField(default=0)),
        migrator.add_column("lottery_prize", "stock_added", BigIntegerField(default=0)),
    )
    db.execute_sql(
        "UPDATE catalog_item SET stock_added = stock + (SELECT COALESCE(SUM(quantity), 0) "
        "FROM redemption WHERE redemption.item_id = catalog_item.id "
        "AND redemption.status <> 'cancelled') WHERE stock IS NOT NULL"
    )
    db.execute_sql(
        "UPDATE lottery_prize SET stock_added = stock + (SELECT COUNT(*) FROM draw "
        "WHERE draw.prize_id = lottery_prize.id) WHERE stock IS NOT NULL"
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("catalog_item", "stock_added"),
        migrator.drop_column("lottery_prize", "stock_added"),
    )
