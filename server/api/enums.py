"""Enums shared by several areas of the API."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="A calendar period in the program's time zone (weeks from Monday).")
class Period(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.enum(description="A reviewer's decision.")
class Decision(Enum):
    APPROVE = "approve"
    REJECT = "reject"
