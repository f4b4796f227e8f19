"""Member levels: each member's level (with its grace period and an operator's floor),
every change of it, and operators' level settings waiting for a second operator."""

from peewee import *

from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class Member(Model):
        class Meta:
            database = db
            table_name = "member"

    class MemberLevel(Model):
        member = ForeignKeyField(Member, primary_key=True)
        level = CharField(max_length=64, null=True)
        since = UtcDateTimeField()
        figure = BigIntegerField(default=0)
        grace_until = UtcDateTimeField(null=True, index=True)
        floor_level = CharField(max_length=64, null=True)
        floor_until = UtcDateTimeField(null=True, index=True)
        evaluated_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "member_level"

    class LevelHistory(Model):
        id = BigAutoField()
        member = ForeignKeyField(Member)
        from_level = CharField(max_length=64, null=True)
        to_level = CharField(max_length=64, null=True)
        at = UtcDateTimeField()
        cause = CharField(max_length=32)
        actor = CharField(max_length=100, null=True)
        reason = TextField(null=True)

        class Meta:
            database = db
            table_name = "level_history"
            indexes = ((("member", "id"), False),)

    class LevelRequest(Model):
        id = BigAutoField()
        member = ForeignKeyField(Member)
        level = CharField(max_length=64, null=True)
        until = UtcDateTimeField()
        reason = TextField()
        requested_by = CharField(max_length=100)
        requested_at = UtcDateTimeField()
        status = CharField(max_length=16, default="pending")
        decided_by = CharField(max_length=100, null=True)
        decided_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "level_request"

    db.create_tables([MemberLevel, LevelHistory, LevelRequest])
    # Points earned in a window: a member's lots by when they were earned, and whose
    # lots left the window since the scheduler last looked.
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS lot_member_id_earned_at ON lot (member_id, earned_at)"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS lot_earned_at ON lot (earned_at)")


def down(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS lot_earned_at")
    db.execute_sql("DROP INDEX IF EXISTS lot_member_id_earned_at")
    migrator.migrate(
        migrator.drop_table("level_request"),
        migrator.drop_table("level_history"),
        migrator.drop_table("member_level"),
    )
