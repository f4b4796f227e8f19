"""Each award names the file its rule was written in, beside the line: a campaign moved to
another file (or edited as one program) keeps its version, and earlier awards keep naming
the file they came from."""

from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("ledger_transaction", "rule_file", CharField(max_length=200, null=True))
    )
    db.execute_sql(
        "UPDATE ledger_transaction SET rule_file = (SELECT v.file FROM campaign_version v "
        "WHERE v.campaign = ledger_transaction.campaign "
        "AND v.version = ledger_transaction.campaign_version) "
        "WHERE rule_line IS NOT NULL"
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column("ledger_transaction", "rule_file"))
