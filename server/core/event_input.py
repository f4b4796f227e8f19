"""What a caller says about an event, checked before anything is stored: its type, its
attributes, where it happened and when."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
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
# A number in an event's attributes: finite and at most 15 digits before the point either
# way, as the API's Decimal amounts (a millisecond timestamp fits), so that rules
# computing awards from it stay exact.
ATTRIBUTE_NUMBER_LIMIT = 10**15  # exclusive
MAX_ATTRIBUTES_DEPTH = 32  # objects and lists within each other
# Instants a program can hold: a day of slack at each end of what Python's datetime can
# represent keeps every conversion to a local time zone and every period (a day, a
# week, a month, a year) that contains the instant representable.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)


def instant_problem(value: datetime) -> str | None:
    """Why an aware datetime cannot be an instant of the program, or None if it can."""
    if value.utcoffset() is None:
        return "has no time zone offset"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        return (
            f"is outside the supported range {EARLIEST.date().isoformat()} to "
            f"{LATEST.date().isoformat()} (UTC)"
        )
    return None


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored (both databases), or None if it can."""
    if "\0" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


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
    _check_values(attributes)
    if len(json.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"attributes are larger than {MAX_ATTRIBUTES_BYTES} bytes",
            "attributes",
        )
    return attributes


def _check_values(attributes: dict[str, Any]) -> None:
    """Every value within: numbers finite and bounded, texts storable, nesting shallow.
    Walked without recursion, so that no depth of nesting can exhaust the stack."""
    stack: list[tuple[str, Any, int]] = [("attributes", attributes, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_ATTRIBUTES_DEPTH:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"attributes are nested more than {MAX_ATTRIBUTES_DEPTH} levels deep",
                    path,
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, inner in items:
                if isinstance(key, str) and text_problem(key):
                    raise DomainError(ErrorCode.INVALID_INPUT, f"a key {text_problem(key)}", path)
                stack.append((f"{path}.{key}", inner, depth + 1))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise DomainError(ErrorCode.INVALID_INPUT, f"{path} is not a finite number", path)
            if abs(value) >= ATTRIBUTE_NUMBER_LIMIT:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"{path} has more than 15 digits before the decimal point",
                    path,
                )
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise DomainError(ErrorCode.INVALID_INPUT, f"{path} {problem}", path)


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
    if not isinstance(community, str) or not COMMUNITY_KEY.fullmatch(community):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "community must be 1-64 letters, digits or _ . : - and start with a letter or digit",
            field_name,
        )
    return community
