"""Query-cost budgets shared by every server process: one row per caller (an API key, a
member, or the address of an anonymous client), refilled by time and taken from with a
conditional update, so processes behind a load balancer draw on the same budget."""

from peewee import *


def up(migrator, db):
    class RateBucket(Model):
        who = CharField(max_length=200, primary_key=True)
        level = DoubleField()
        at = DoubleField(index=True)

        class Meta:
            database = db
            table_name = "rate_bucket"

    db.create_tables([RateBucket])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("rate_bucket"))
