"""The analysts' summary: points issued, spent, expired and owed, by period or group."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from server.api.context import Info
from server.api.errors import query
from server.api.gate import gate
from server.core import history
from server.core.errors import DomainError, ErrorCode


@strawberry.enum(description="How ledgerSummary groups its rows.")
class SummaryGroupBy(Enum):
    DAY = strawberry.enum_value("day", description="One row per day.")
    WEEK = strawberry.enum_value("week", description="One row per week (from Monday).")
    MONTH = strawberry.enum_value("month", description="One row per calendar month.")
    CAMPAIGN = strawberry.enum_value("campaign", description="One row per campaign.")
    KIND = strawberry.enum_value("kind", description="One row per kind of transaction.")


@strawberry.type(description="Points flows for one group of ledgerSummary.")
class LedgerSummaryRow:
    group: str = strawberry.field(
        description="The period's first day, the campaign or "
        "the kind; empty for entries without one."
    )
    starts_at: datetime | None = strawberry.field(description="Start of the period.")
    ends_at: datetime | None = strawberry.field(description="End of the period (exclusive).")
    issued: int = strawberry.field(description="Points awarded, net of clawbacks.")
    spent: int = strawberry.field(description="Points spent on redemptions, checkout, lotteries.")
    expired: int = strawberry.field(description="Points that expired.")
    net: int = strawberry.field(description="issued - spent - expired.")
    outstanding: int = strawberry.field(
        description="Points owed to members at the end of the period (or of the range)."
    )
    members: int = strawberry.field(description="Members whose wallets moved.")


@strawberry.type(description="Points issued, spent, expired and owed over a time range.")
class LedgerSummary:
    rows: list[LedgerSummaryRow] = strawberry.field(description="One row per group.")
    outstanding: int = strawberry.field(description="Points owed to members at `to`.")


@strawberry.type
class SummaryQuery:
    @strawberry.field(
        description="Points issued, spent, expired and owed, grouped by period "
        "(in the program's time zone), campaign or kind.",
        permission_classes=gate("Query.ledgerSummary"),
    )
    def ledger_summary(
        self,
        info: Info,
        since: Annotated[
            datetime,
            strawberry.argument(name="from", description="Start of the range (inclusive)."),
        ],
        until: Annotated[
            datetime, strawberry.argument(name="to", description="End of the range (exclusive).")
        ],
        group_by: Annotated[
            SummaryGroupBy, strawberry.argument(description="How to group rows.")
        ] = SummaryGroupBy.DAY,
    ) -> LedgerSummary:
        def work():
            for value, name in ((since, "from"), (until, "to")):
                if value.tzinfo is None:
                    raise DomainError(
                        ErrorCode.INVALID_INPUT, f"`{name}` needs a time zone offset", name
                    )
            result = history.summary(
                since, until, history.GroupBy(group_by.value), info.context.settings
            )
            return LedgerSummary(
                outstanding=result.outstanding,
                rows=[
                    LedgerSummaryRow(
                        group=r.group,
                        starts_at=r.since,
                        ends_at=r.until,
                        issued=r.issued,
                        spent=r.spent,
                        expired=r.expired,
                        net=r.net,
                        outstanding=r.outstanding,
                        members=r.members,
                    )
                    for r in result.rows
                ],
            )

        return query(work)
