"""What `jifen ledger verify` checks of levels: each member's level is where its history
says it went, and each change starts where the one before ended."""

from __future__ import annotations

from collections.abc import Iterator

from server.store.sql import Sql

_LAST = (
    "SELECT member_id, to_level FROM level_history WHERE id IN "
    "(SELECT MAX(id) FROM level_history GROUP BY member_id)"
)
_LATEST = Sql(
    "SELECT l.member_id, l.level, h.to_level FROM member_level l "
    f"LEFT JOIN ({_LAST}) h ON h.member_id = l.member_id "
    "WHERE (l.level IS NOT NULL AND (h.to_level IS NULL OR l.level <> h.to_level)) "
    "OR (l.level IS NULL AND h.to_level IS NOT NULL) "
    "UNION ALL "
    f"SELECT h.member_id, NULL, h.to_level FROM ({_LAST}) h "
    "LEFT JOIN member_level l ON l.member_id = h.member_id "
    "WHERE l.member_id IS NULL AND h.to_level IS NOT NULL"
)
_CHAIN = Sql(
    "SELECT member_id, id, from_level, before FROM ("
    "  SELECT member_id, id, from_level, LAG(to_level) OVER "
    "  (PARTITION BY member_id ORDER BY id) AS before, "
    "  ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY id) AS n FROM level_history"
    ") c WHERE (n = 1 AND from_level IS NOT NULL) OR (n > 1 AND "
    "(from_level IS NULL AND before IS NOT NULL OR from_level IS NOT NULL AND before IS NULL "
    "OR from_level <> before))"
)


def levels_agree_with_history() -> Iterator[tuple[str, str]]:
    for member_id, stored, latest in _LATEST.run().fetchall():
        yield (
            f"member {member_id}",
            f"holds level {stored or 'none'}, but its history last went to {latest or 'none'}",
        )
    for member_id, row, came_from, before in _CHAIN.run().fetchall():
        yield (
            f"member {member_id}",
            f"level change {row} starts from {came_from or 'none'}, "
            f"but the change before it ended at {before or 'none'}",
        )
