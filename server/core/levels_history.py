"""Reading members' level history: newest first, a page at a time."""

from __future__ import annotations

from server.store.models import LevelHistory


def history_page(member_id: int, before_id: int | None, limit: int) -> list[LevelHistory]:
    rows = LevelHistory.select().where(LevelHistory.member == member_id)
    if before_id is not None:
        rows = rows.where(LevelHistory.id < before_id)
    return list(rows.order_by(LevelHistory.id.desc()).limit(limit))
