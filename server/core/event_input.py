"""What a caller says about an event, checked before anything is stored: its type, its
attributes, where it happened and when."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from server.core import program
from server.core.errors import DomainError, ErrorCode
from server.core.program import ProgramSettings

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
COMMUNITY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


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


def check_occurred_at(
    occurred_at: datetime, now: datetime, settings: ProgramSettings, *, history: bool = False
) -> None:
    """A caller's own `occurredAt`: with an offset, not in the future, within the program's
    backdating window, and not before the program began (`history`: an admin's import of
    what happened before, which only the first two bind)."""
    if occurred_at.tzinfo is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "occurredAt needs a time zone offset", "occurredAt"
        )
    if occurred_at > now + CLOCK_SKEW:
        raise DomainError(ErrorCode.EVENT_OUT_OF_ORDER, "occurredAt is in the future", "occurredAt")
    if history:
        return
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


def check_community(community: str, field_name: str = "community") -> str:
    if not COMMUNITY_KEY.match(community or ""):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "community must be 1-64 letters, digits or _ . : - and start with a letter or digit",
            field_name,
        )
    return community
