"""The books of badges and streak protection, checked against the ledger and each other
(`jifen ledger verify` runs them with server/core/books.py's): what a race could break."""

from __future__ import annotations

from collections.abc import Callable

from server.core.books import Found, _rows


def badges_held_once() -> Found:
    """A member holds each badge once, ever."""
    for member, badge, times in _rows(
        "SELECT member_id, badge, COUNT(*) FROM member_badge GROUP BY member_id, badge "
        "HAVING COUNT(*) > 1"
    ):
        yield f"member {member}", f"holds badge {badge} {times} times"


def freezes_within_bought() -> Found:
    """Freezes held are those bought less those used, never below 0; each bought one is a
    purchase, each used one a covered day."""
    for member, held, bought, used, purchases, covered in _rows(
        "SELECT s.member_id, s.freezes_held, s.freezes_bought, s.freezes_used, "
        "(SELECT COUNT(*) FROM streak_freeze_purchase p WHERE p.member_id = s.member_id), "
        "(SELECT COUNT(*) FROM streak_freeze_day d WHERE d.member_id = s.member_id) "
        "FROM member_streak s"
    ):
        subject = f"member {member}"
        if held < 0 or held != bought - used:
            yield subject, f"holds {held} freezes, bought {bought} and used {used}"
        if bought != purchases:
            yield subject, f"bought {bought} freezes but {purchases} purchases are kept"
        if used != covered:
            yield subject, f"used {used} freezes but {covered} days were covered"
    for (member,) in _rows(
        "SELECT DISTINCT p.member_id FROM streak_freeze_purchase p "
        "LEFT JOIN member_streak s ON s.member_id = p.member_id WHERE s.member_id IS NULL"
    ):
        yield f"member {member}", "bought freezes that are not counted"


def spends_match_purchases() -> Found:
    """Each freeze purchase and make-up is paid by a spend of its own member, and each such
    spend belongs to one purchase or make-up."""
    for table, kind in (
        ("streak_freeze_purchase", "streak_freeze"),
        ("checkin_make_up", "checkin_make_up"),
    ):
        for member, txn in _rows(
            f"SELECT r.member_id, r.txn_id FROM {table} r "
            "LEFT JOIN ledger_transaction t ON t.id = r.txn_id "
            f"WHERE t.id IS NULL OR t.kind <> '{kind}' OR t.member_id <> r.member_id"
        ):
            yield f"member {member}", f"{table} names transaction {txn}, not its {kind} spend"
        for member, txn, uses in _rows(
            f"SELECT t.member_id, t.id, COUNT(r.txn_id) FROM ledger_transaction t "
            f"LEFT JOIN {table} r ON r.txn_id = t.id WHERE t.kind = '{kind}' "
            "AND t.reverses_id IS NULL GROUP BY t.member_id, t.id HAVING COUNT(r.txn_id) <> 1"
        ):
            yield f"transaction {txn}", f"a {kind} spend of member {member} kept {uses} times"


def make_ups_checked_in() -> Found:
    """A make-up is a check-in of its member for its day, made with its own event."""
    for member, day, event in _rows(
        "SELECT m.member_id, m.day, m.event_id FROM checkin_make_up m "
        "LEFT JOIN checkin c ON c.member_id = m.member_id AND c.day = m.day "
        "WHERE c.event_id IS NULL OR c.event_id <> m.event_id"
    ):
        yield f"member {member}", f"make-up for {day} (event {event}) has no check-in"


CHECKS: dict[str, Callable[[], Found]] = {
    "badges held once": badges_held_once,
    "freezes held within those bought": freezes_within_bought,
    "streak spends match their purchases": spends_match_purchases,
    "make-ups are check-ins": make_ups_checked_in,
}
