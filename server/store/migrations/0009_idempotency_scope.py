"""Idempotency keys belong to whoever sent them: the primary key becomes (scope, key).

A scope is `key:<API key prefix>`, `member:<member id>` or `program` (the scheduler's own
jobs). Keys stored before this migration have no known owner: they move to the scope
`legacy`, where a request with the same key, operation and arguments still finds and
replays them (server/core/idempotency.py), so a retry that spans the upgrade stays safe.
"""

from peewee import *
from server.store.fields import UtcDateTimeField

COLUMNS = "key, operation, request_hash, result_id, created_at"


def _table(db, name, scoped):
    class IdempotencyKey(Model):
        if scoped:
            scope = CharField(max_length=64)
            key = CharField(max_length=200)
        else:
            key = CharField(primary_key=True, max_length=200)
        operation = CharField(max_length=64)
        request_hash = CharField(max_length=64)
        result_id = BigIntegerField(null=True)
        created_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = name
            if scoped:
                primary_key = CompositeKey("scope", "key")

    return IdempotencyKey


def up(migrator, db):
    db.create_tables([_table(db, "idempotency_key_scoped", scoped=True)])
    db.execute_sql(
        f"INSERT INTO idempotency_key_scoped (scope, {COLUMNS}) "
        f"SELECT 'legacy', {COLUMNS} FROM idempotency_key"
    )
    migrator.migrate(migrator.drop_table("idempotency_key"))
    migrator.migrate(migrator.rename_table("idempotency_key_scoped", "idempotency_key"))


def down(migrator, db):
    # One key per name again: where two callers used one name, the oldest request keeps it.
    db.create_tables([_table(db, "idempotency_key_global", scoped=False)])
    db.execute_sql(
        f"INSERT INTO idempotency_key_global ({COLUMNS}) SELECT {COLUMNS} FROM idempotency_key "
        "WHERE NOT EXISTS (SELECT 1 FROM idempotency_key older "
        "WHERE older.key = idempotency_key.key AND (older.created_at < idempotency_key.created_at "
        "OR (older.created_at = idempotency_key.created_at AND older.scope < idempotency_key.scope)))"
    )
    migrator.migrate(migrator.drop_table("idempotency_key"))
    migrator.migrate(migrator.rename_table("idempotency_key_global", "idempotency_key"))
