"""The audit log of operator actions, and recent message fingerprints against spam."""

from peewee import *
from server.store.fields import JsonField
from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class Member(Model):
        id = BigAutoField()

        class Meta:
            database = db
            table_name = "member"

    class AuditEntry(Model):
        id = BigAutoField()
        at = UtcDateTimeField(index=True)
        actor = CharField(max_length=100)
        action = CharField(max_length=64)
        target = CharField(null=True, max_length=128)
        details = JsonField(default=dict)

        class Meta:
            database = db
            table_name = "audit_entry"

    db.create_tables([AuditEntry])

    class MessageMemory(Model):
        member = ForeignKeyField(Member, primary_key=True)
        recent = JsonField(default=list)

        class Meta:
            database = db
            table_name = "message_memory"

    db.create_tables([MessageMemory])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("message_memory"))
    migrator.migrate(migrator.drop_table("audit_entry"))
