"""Draft rules replayed against stored events: what they would have issued, and to whom."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from server import config
from server.api.context import Info
from server.api.errors import query
from server.api.gate import gate
from server.core import rules, simulate
from server.core.errors import DomainError, ErrorCode
from server.core.rules import RulesError


@strawberry.type(description="What one rule of a draft would have issued.")
class SimulatedRule:
    campaign: str = strawberry.field(description="The campaign.")
    line: int = strawberry.field(description="The rule's line in the draft.")
    text: str = strawberry.field(description="The rule.")
    points: int = strawberry.field(description="Points it would have issued.")
    awards: int = strawberry.field(description="How many awards.")
    members: int = strawberry.field(description="Members it would have reached.")


@strawberry.type(description="What one campaign of a draft would have issued.")
class SimulatedCampaign:
    key: str = strawberry.field(description="The campaign.")
    points: int = strawberry.field(description="Points it would have issued.")
    awards: int = strawberry.field(description="How many awards.")
    members: int = strawberry.field(description="Members it would have reached.")
    budget: int | None = strawberry.field(description="Its budget, if any.")
    budget_hit_at: datetime | None = strawberry.field(
        description="When the budget would have run out, if it would."
    )


@strawberry.type(description="A badge a draft's rules would have given.")
class SimulatedBadge:
    key: str = strawberry.field(description="The badge's key.")
    members: int = strawberry.field(description="Members who would have earned it.")


@strawberry.type(
    description="Streak freezes bought and make-up check-ins made in the range, priced "
    "by the draft (points members spend, not points issued)."
)
class SimulatedProtection:
    freezes: int = strawberry.field(description="Freezes the draft would have sold.")
    freeze_points: int = strawberry.field(description="Points they would have taken.")
    make_ups: int = strawberry.field(description="Make-up check-ins it would have allowed.")
    make_up_points: int = strawberry.field(description="Points they would have taken.")
    refused: int = strawberry.field(
        description="Purchases of the range the draft would have refused (not offered, or "
        "beyond its `at most`)."
    )


@strawberry.type(description="What one of a draft's `every` rules would pay for one period.")
class SimulatedClose:
    campaign: str = strawberry.field(description="The campaign.")
    period: str = strawberry.field(description="The period, e.g. `d:2026-01-05` or `w:2026-W02`.")
    line: int = strawberry.field(description="The rule's line in the draft.")
    text: str = strawberry.field(description="The rule.")
    points: int = strawberry.field(
        description="Points it would pay: for a period over by now, the prizes of the places "
        "the replay filled; for one still to come, its whole prize table (the most it can cost)."
    )
    ended: bool = strawberry.field(description="False: the period is not over yet.")


@strawberry.type(description="A draft replayed against stored events; nothing was written.")
class Simulation:
    events_replayed: int = strawberry.field(description="Events replayed (from the first).")
    events_in_range: int = strawberry.field(description="Events in [from, to).")
    members_reached: int = strawberry.field(description="Members who would get points.")
    points: int = strawberry.field(description="Points the draft would have issued in all.")
    campaigns: list[SimulatedCampaign] = strawberry.field(description="Per campaign.")
    rules: list[SimulatedRule] = strawberry.field(description="Per rule.")
    badges: list[SimulatedBadge] = strawberry.field(
        default_factory=list, description="Badges members would have earned in the range."
    )
    protection: SimulatedProtection | None = strawberry.field(
        default=None, description="Streak protection, priced by the draft: a separate line."
    )
    closes: list[SimulatedClose] = strawberry.field(
        default_factory=list,
        description="The draft's leaderboard closes in (from, to], oldest first per rule; "
        "budgets not applied.",
    )


@strawberry.type
class SimulationQuery:
    @strawberry.field(
        description="Replay stored events in [from, to) against draft rules and "
        "report what they would issue, per campaign and rule. Writes nothing.",
        permission_classes=gate("Query.rulesSimulate"),
    )
    def rules_simulate(
        self,
        info: Info,
        text: Annotated[str, strawberry.argument(name="source", description="The draft.")],
        since: Annotated[datetime, strawberry.argument(name="from", description="Start.")],
        until: Annotated[datetime, strawberry.argument(name="to", description="End (exclusive).")],
    ) -> Simulation:
        def work():
            try:
                result = simulate.simulate(
                    [("draft", rules.check_source(text))],
                    since,
                    until,
                    now=info.context.now,
                    seconds=config.settings().simulation_seconds,
                )
            except RulesError as exc:
                first = next(d for d in exc.diagnostics if d.is_error)
                raise DomainError(
                    ErrorCode.RULES_INVALID,
                    f"{first.file}:{first.line}:{first.column}: {first.message}",
                    "source",
                ) from exc
            return Simulation(
                events_replayed=result.events_replayed,
                events_in_range=result.events_in_range,
                members_reached=len(result.members),
                points=sum(c.points for c in result.campaigns.values()),
                campaigns=[
                    SimulatedCampaign(
                        key=c.campaign,
                        points=c.points,
                        awards=c.awards,
                        members=len(c.members),
                        budget=c.budget,
                        budget_hit_at=c.budget_hit_at,
                    )
                    for c in result.campaigns.values()
                ],
                rules=[
                    SimulatedRule(
                        campaign=r.campaign,
                        line=r.line,
                        text=r.text,
                        points=r.points,
                        awards=r.awards,
                        members=len(r.members),
                    )
                    for r in result.rules.values()
                ],
                badges=[
                    SimulatedBadge(key=key, members=len(held))
                    for key, held in sorted(result.badges.items())
                ],
                protection=SimulatedProtection(**vars(result.protection))
                if result.protection is not None
                else None,
                closes=[
                    SimulatedClose(
                        campaign=c.campaign,
                        period=c.period,
                        line=c.line,
                        text=c.text,
                        points=c.points,
                        ended=c.ended,
                    )
                    for c in result.closes
                ],
            )

        return query(work)
