"""Events: what members did, stored once, in the order it happened."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from server.core import engine, members, program
from server.core.errors import DomainError, ErrorCode
from server.core.program import ProgramSettings
from server.store import sql
from server.store.models import Event
from server.store.sql import Sql

BUILT_IN = ("checkin", "message", "referral", "join", "leave", "order", "task", "birthday")
# Recorded by the program itself: through memberUpsert/memberLeave, or by the scheduler.
RESERVED = {
    "join": "memberUpsert",
    "leave": "memberLeave",
    "referral": "memberUpsert",
    "birthday": "the scheduler",
    "task": "submissionReview",
}
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ATTRIBUTES_BYTES = 4096
# How far ahead of the server's clock a client's occurredAt may be.
CLOCK_SKEW = timedelta(minutes=5)


_INSERT = Sql(
    "INSERT INTO event (type, member_id, community, occurred_at, recorded_at, attributes) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
# One check-in per member and local day: the unique (member, day) decides.
_CHECKIN = Sql(
    "INSERT INTO checkin (member_id, day, event_id) VALUES (?, ?, ?) "
    "ON CONFLICT (member_id, day) DO NOTHING"
)


def check_type(event_type: str) -> str:
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise DomainError(
            ErrorCode.INVALID_EVENT_TYPE,
            "type must be a lowercase name (letters, digits, _), such as `checkin` or `share_live`",
            "type",
        )
    if event_type in RESERVED:
        raise DomainError(
            ErrorCode.EVENT_TYPE_RESERVED,
            f"`{event_type}` events are recorded by {RESERVED[event_type]}, not directly",
            "type",
        )
    return event_type


def check_attributes(attributes: Any) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "attributes must be a JSON object", "attributes")
    if len(json.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"attributes are larger than {MAX_ATTRIBUTES_BYTES} bytes",
            "attributes",
        )
    return attributes


def check_occurred_at(occurred_at: datetime, now: datetime, settings: ProgramSettings) -> None:
    """A caller's own `occurredAt`: with an offset, not in the future, within the program's
    backdating window, and not before the program began."""
    if occurred_at.tzinfo is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "occurredAt needs a time zone offset", "occurredAt"
        )
    if occurred_at > now + CLOCK_SKEW:
        raise DomainError(ErrorCode.EVENT_OUT_OF_ORDER, "occurredAt is in the future", "occurredAt")
    earliest = now - settings.backdate_window
    if occurred_at < earliest:
        raise DomainError(
            ErrorCode.OCCURRED_AT_TOO_OLD,
            f"occurredAt may be at most {settings.backdate_hours} hours ago "
            f"(not before {earliest.isoformat()}); older history is imported by an admin",
            "occurredAt",
        )
    began = program.started_at(now)
    if occurred_at < began:
        raise DomainError(
            ErrorCode.OCCURRED_AT_BEFORE_PROGRAM,
            f"occurredAt is before the program began ({began.isoformat()})",
            "occurredAt",
        )


def record(
    member_id: int,
    event_type: str,
    *,
    now: datetime,
    settings: ProgramSettings,
    community: str | None = None,
    occurred_at: datetime | None = None,
    attributes: dict[str, Any] | None = None,
    by_program: bool = False,
    reviewed: bool = False,
) -> Event:
    """Store one event (inside the caller's transaction); a check-in also claims its day.

    `occurred_at`: when the caller says it happened (see check_occurred_at); without it,
    the program's clock says, once the member's earlier events are all decided.
    """
    if not by_program:  # the program itself may record the reserved types
        check_type(event_type)
    attributes = check_attributes(attributes)
    if community is not None:
        members.check_community(community)
    if occurred_at is not None:
        check_occurred_at(occurred_at, now, settings)
    engine.hold_member(member_id)
    if occurred_at is None:
        # `now` was read before this request waited for the member: a concurrent event
        # may have been stamped later meanwhile, and this one must not come before it.
        last = engine.latest(member_id, event_type)
        occurred_at = max(now, last) if last is not None else now
    event = Event(
        type=event_type,
        member=member_id,
        community=community,
        occurred_at=occurred_at,
        recorded_at=now,
        attributes=attributes,
    )
    event.id = _INSERT.one(
        event_type,
        member_id,
        community,
        sql.instant(occurred_at),
        sql.instant(now),
        sql.document(attributes),
    )[0]
    if event_type == "checkin":
        day = settings.local_day(occurred_at)
        if not _CHECKIN.count(member_id, sql.day(day), event.id):
            raise DomainError(
                ErrorCode.ALREADY_CHECKED_IN,
                f"already checked in on {day.isoformat()} ({settings.timezone})",
                "occurredAt",
            )
    engine.process(event, settings, now=now, reviewed=reviewed, held=True)
    return event
