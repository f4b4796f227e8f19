"""What running the program needs besides the domain's own fields: who is asking, the
program's settings, finding members, counting them, and the scheduler's last runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from server.api.context import Info
from server.api.errors import query
from server.api.gate import EXPORT_ROLES, POLICY, gate
from server.api.pagination import First, page_size
from server.api.refs import MemberRef
from server.core import overview, runs
from server.core.errors import DomainError, ErrorCode


@strawberry.type(description="Who is asking: the role of the key or token sent.")
class Viewer:
    role: str = strawberry.field(
        description="admin, operator, reviewer, analyst, service or member."
    )
    name: str = strawberry.field(description="The key's name (a member token: the member).")
    may: list[str] = strawberry.field(
        description="The root fields this caller may use, e.g. `Query.ledgerSummary`, "
        "`Mutation.pointsAdjust` (docs/api.md, who may call what), and "
        "`GET /export/ledger.csv` when it may export the ledger."
    )


@strawberry.type(description="The program's settings, as its rules' `program` block sets them.")
class Program:
    name: str = strawberry.field(description="The program's name.")
    timezone: str = strawberry.field(
        description="The IANA time zone that days, weeks and months are counted in."
    )
    points_expire_days: int | None = strawberry.field(
        description="Days after which earned points expire; null if they never do."
    )
    now: datetime = strawberry.field(description="The server's clock.")


@strawberry.type(description="How many members the program has.")
class MemberStats:
    total: int = strawberry.field(description="Members at the end of the range.")
    new: int = strawberry.field(description="Members created within the range.")


@strawberry.type(description="Points in all member wallets now.")
class WalletTotals:
    available: int = strawberry.field(description="Spendable.")
    pending: int = strawberry.field(description="Awarded, waiting for review.")
    held: int = strawberry.field(description="Reserved by open checkouts.")


@strawberry.type(description="One run of the periodic jobs (expiry, holds, boards, birthdays).")
class SchedulerRun:
    started_at: datetime = strawberry.field(description="When it ran (the server's clock).")
    seconds: float = strawberry.field(description="How long it took.")
    points_expired: int = strawberry.field(description="Points that expired.")
    holds_expired: int = strawberry.field(description="Checkout holds released.")
    periods_paid: int = strawberry.field(description="Leaderboard periods paid.")
    birthdays: int = strawberry.field(description="Birthday events recorded.")


@strawberry.type
class OperationsQuery:
    @strawberry.field(
        description="The caller: its role and what it may use.",
        permission_classes=gate("Query.viewer"),
    )
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.require_principal()
        return Viewer(
            role=principal.role.value,
            name=principal.name,
            may=sorted(op for op, roles in POLICY.items() if principal.role in roles)
            + (["GET /export/ledger.csv"] if principal.role in EXPORT_ROLES else []),
        )

    @strawberry.field(
        description="The program's name, time zone and clock.",
        permission_classes=gate("Query.program"),
    )
    def program(self, info: Info) -> Program:
        def work():
            settings = info.context.settings
            return Program(
                name=settings.name,
                timezone=settings.timezone,
                points_expire_days=settings.points_expire_days,
                now=info.context.now,
            )

        return query(work)

    @strawberry.field(
        description="Members whose externalId is the text (first), or whose externalId or "
        "display name contains it, newest first.",
        permission_classes=gate("Query.memberSearch"),
    )
    def member_search(
        self,
        text: Annotated[
            str, strawberry.argument(description="What to look for, 1 to 100 characters.")
        ],
        first: First = None,
    ) -> list[MemberRef]:
        from server.api.members import Member

        def work():
            return [Member(row=r) for r in overview.search(text, page_size(first))]

        return query(work)

    @strawberry.field(
        description="Members in all, and new ones, over a time range.",
        permission_classes=gate("Query.memberStats"),
    )
    def member_stats(
        self,
        since: Annotated[
            datetime,
            strawberry.argument(name="from", description="Start of the range (inclusive)."),
        ],
        until: Annotated[
            datetime, strawberry.argument(name="to", description="End of the range (exclusive).")
        ],
    ) -> MemberStats:
        def work():
            found = overview.counts(since, until)
            return MemberStats(total=found.total, new=found.new)

        return query(work)

    @strawberry.field(
        description="Points in all member wallets now, by wallet.",
        permission_classes=gate("Query.walletTotals"),
    )
    def wallet_totals(self) -> WalletTotals:
        def work():
            found = overview.wallet_totals()
            return WalletTotals(available=found.available, pending=found.pending, held=found.held)

        return query(work)

    @strawberry.field(
        description="The periodic jobs' last runs, newest first (the server's scheduler "
        "and `jifen tick` alike).",
        permission_classes=gate("Query.schedulerRuns"),
    )
    def scheduler_runs(
        self,
        first: Annotated[
            int | None, strawberry.argument(description=f"How many, 1 to {runs.KEPT} (default 10).")
        ] = None,
    ) -> list[SchedulerRun]:
        def work():
            count = 10 if first is None else first
            if not 1 <= count <= runs.KEPT:
                raise DomainError(
                    ErrorCode.INVALID_INPUT, f"first must be 1 to {runs.KEPT}", "first"
                )
            return [
                SchedulerRun(
                    started_at=datetime.fromisoformat(r.started_at),
                    seconds=r.seconds,
                    points_expired=r.points_expired,
                    holds_expired=r.holds_expired,
                    periods_paid=r.periods_paid,
                    birthdays=r.birthdays,
                )
                for r in runs.last(count)
            ]

        return query(work)
