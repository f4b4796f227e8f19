"""The API's date-time and decimal scalars, bounded to what the domain can hold.

strawberry's own scalars accept any value Python can parse: `0001-01-01T00:00:00+14:00`
(whose UTC instant is before year 1), `1e400` or a 32-digit amount, which later fail
inside the domain as overflows. These parse the same texts and refuse those values up
front, as a coded client error (BAD_USER_INPUT) that names the value.
"""

from __future__ import annotations

import decimal
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError
from strawberry.schema.types.base_scalars import DateTimeDefinition, DecimalDefinition
from strawberry.types.scalar import ScalarDefinition

from server.core.errors import ErrorCode
from server.core.event_input import instant_problem  # the bound the domain holds

MAX_INTEGER_DIGITS = 15  # up to 999 trillion
MAX_FRACTION_DIGITS = 6


class InputValueError(GraphQLError):
    """A scalar value outside what the domain can hold; `value` is the text refused."""

    def __init__(self, message: str, value: Any) -> None:
        super().__init__(message, extensions={"code": ErrorCode.BAD_USER_INPUT.value})
        self.value = value


def decimal_problem(value: Decimal) -> str | None:
    """Why a decimal cannot be an amount of money, or None if it can."""
    if not value.is_finite():
        return "is not a finite number"
    if value.is_zero():
        return None
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        return f"has more than {MAX_INTEGER_DIGITS} digits before the decimal point"
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing_zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))
    if -(exponent + trailing_zeros) > MAX_FRACTION_DIGITS:
        return f"has more than {MAX_FRACTION_DIGITS} digits after the decimal point"
    return None


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InputValueError(f"DateTime must be an ISO 8601 string, got {_shown(value)!r}", value)
    try:
        parsed = datetime.fromisoformat(value)  # ISO 8601, in C (Python 3.11 and later)
    except (ValueError, OverflowError) as exc:
        raise InputValueError(
            f"DateTime {_shown(value)!r} is not an ISO 8601 date-time ({exc})", value
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputValueError(
            f"DateTime {_shown(value)!r} needs a time zone offset, e.g. "
            f"{_shown(value)}+08:00 or {_shown(value)}Z",
            value,
        )
    problem = instant_problem(parsed)
    if problem:
        raise InputValueError(f"DateTime {_shown(value)!r} {problem}", value)
    return parsed


def parse_decimal(value: Any) -> Decimal:
    # Numbers are accepted as well as strings, as strawberry's Decimal does.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputValueError(f"Decimal must be a string, got {_shown(value)!r}", value)
    try:
        parsed = Decimal(str(value).strip())
    except decimal.DecimalException:
        raise InputValueError(f"Decimal {_shown(value)!r} is not a number", value) from None
    problem = decimal_problem(parsed)
    if problem:
        raise InputValueError(f"Decimal {_shown(value)!r} {problem}", value)
    return parsed


DateTimeScalar = ScalarDefinition(
    name=DateTimeDefinition.name,
    description=DateTimeDefinition.description,
    specified_by_url=None,
    serialize=DateTimeDefinition.serialize,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)
DecimalScalar = ScalarDefinition(
    name=DecimalDefinition.name,
    description=DecimalDefinition.description,
    specified_by_url=None,
    serialize=DecimalDefinition.serialize,
    parse_value=parse_decimal,
    parse_literal=None,
    origin=Decimal,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    datetime: DateTimeScalar,
    Decimal: DecimalScalar,
}
