"""Telling about level changes: the member's own `levelChanged` subscription (every
change) and the public activity feed (a member reaching a higher level)."""

from __future__ import annotations

from datetime import datetime

from dsl.levels import Ladder
from server.core import notify
from server.store.models import Member


def level_topic(member_id: int) -> str:
    return f"levels:{member_id}"


def announce(changes, ladder: Ladder, now: datetime) -> None:
    """Publish each change once the transaction commits (`changes`: level_job.Change)."""
    if not changes:
        return
    rises = [c for c in changes if ladder.rank(c.to_level) > ladder.rank(c.from_level)]
    named = {}
    if rises:
        named = {
            m.id: m for m in Member.select().where(Member.id.in_([c.member_id for c in rises]))
        }
    for c in changes:
        topic = level_topic(c.member_id)
        if notify.anyone_listening(topic):
            notify.publish(
                topic,
                {
                    "memberId": c.member_id,
                    "from": c.from_level,
                    "to": c.to_level,
                    "cause": c.cause,
                    "at": now.isoformat(),
                },
            )
        member = named.get(c.member_id)
        if member is not None and c.to_level is not None:
            who = member.display_name or member.external_id
            notify.announce(None, "levelChanged", member, f"{who} reached {c.to_level}", now)
