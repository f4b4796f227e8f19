"""A campaign version remembers the file it was published from and each rule's line in
that file, so an award names the line `jifen rules check` prints. Versions published
before keep nulls: their awards name the line of the stored canonical text."""

from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("campaign_version", "file", CharField(max_length=255, null=True)),
        migrator.add_column("campaign_version", "lines", TextField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("campaign_version", "file"),
        migrator.drop_column("campaign_version", "lines"),
    )
