"""Enums shared by several areas of the API."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="A calendar period in the program's time zone (weeks from Monday).")
class Period(Enum):
    DAY = strawberry.enum_value("day", description="One calendar day.")
    WEEK = strawberry.enum_value("week", description="Monday to Sunday.")
    MONTH = strawberry.enum_value("month", description="One calendar month.")


@strawberry.enum(description="A reviewer's decision.")
class Decision(Enum):
    APPROVE = strawberry.enum_value(
        "approve", description="Accept it: what waited takes effect (award, points, adjustment)."
    )
    REJECT = strawberry.enum_value(
        "reject", description="Refuse it: nothing is awarded or changed."
    )
