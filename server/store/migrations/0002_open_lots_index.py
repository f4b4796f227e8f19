"""Index only the lots that still hold points: spends and expiry never look at empty ones.

The (member, expires_at, id) index of 0001 grows with every lot ever earned; spending
walks a member's open lots oldest-expiring first, and most lots are spent out.
"""


def up(migrator, db):
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS lot_open_by_member "
        "ON lot (member_id, expires_at, id) WHERE remaining > 0"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS lot_open_by_expiry ON lot (expires_at) WHERE remaining > 0"
    )


def down(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS lot_open_by_expiry")
    db.execute_sql("DROP INDEX IF EXISTS lot_open_by_member")
