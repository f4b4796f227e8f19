"""Shared enums of the community area."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="A calendar period in the program's time zone (weeks from Monday).")
class Period(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
