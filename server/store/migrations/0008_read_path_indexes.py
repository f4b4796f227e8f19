"""Indexes for the read paths measured in docs/performance.md.

- Leaderboards read in index order: (metric, period, scope, score DESC, reached_at,
  member) replaces the ascending index that made every top-N query sort the whole board.
- Postings by time carry member, account and amount, so the analysts' summaries are
  index-only scans instead of a row lookup per posting.
"""


def up(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS standing_metric_period_scope_score_reached_at")
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS standing_board "
        "ON standing (metric, period, scope, score DESC, reached_at, member_id)"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS posting_created_at_member_id_account_id_amount "
        "ON posting (created_at, member_id, account_id, amount)"
    )
    db.execute_sql("DROP INDEX IF EXISTS posting_created_at")


def down(migrator, db):
    db.execute_sql("CREATE INDEX IF NOT EXISTS posting_created_at ON posting (created_at)")
    db.execute_sql("DROP INDEX IF EXISTS posting_created_at_member_id_account_id_amount")
    db.execute_sql("DROP INDEX IF EXISTS standing_board")
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS standing_metric_period_scope_score_reached_at "
        "ON standing (metric, period, scope, score, reached_at)"
    )
