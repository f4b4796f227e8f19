"""Campaigns and their rules: validate, publish, see what is in force; the review queue."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from server import config
from server.api import ids
from server.api.batch import Batch, Batched, batched
from server.api.context import Info
from server.api.enums import Decision
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.ownership import owned
from server.api.pagination import (
    After,
    Connection,
    First,
    paged,
)
from server.api.refs import MemberRef, TransactionRef
from server.core import awards, lists, reads, rules, simulate
from server.core.errors import DomainError, ErrorCode
from server.core.rules import Diagnostic, RulesError
from server.store import models
from server.store.db import write_transaction


@strawberry.type(description="A problem found in rule source.")
class RuleDiagnostic:
    severity: str = strawberry.field(description="`error` or `warning`.")
    code: str = strawberry.field(description="Stable code, e.g. SYNTAX, UNKNOWN_EVENT.")
    message: str = strawberry.field(description="What is wrong, in words.")
    file: str = strawberry.field(description="The file (or the name given with the source).")
    line: int = strawberry.field(description="Line, from 1.")
    column: int = strawberry.field(description="Column, from 1.")
    text: str = strawberry.field(
        description="The whole diagnostic as `jifen rules check` "
        "prints it, with the line and a caret."
    )

    @classmethod
    def of(cls, d: Diagnostic) -> RuleDiagnostic:
        return cls(
            severity=d.severity,
            code=d.code,
            message=d.message,
            file=d.file,
            line=d.line,
            column=d.column,
            text=d.format(),
        )


@strawberry.type(description="A campaign: its version in force, budget and cost so far.")
class Campaign(Batched):
    row: strawberry.Private[models.CampaignVersion]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The campaign's key, e.g. `daily-checkin`.")
    def key(self) -> str:
        return self.row.campaign

    @strawberry.field(description="Its title.")
    def title(self) -> str | None:
        return self.row.title

    @strawberry.field(description="The latest version's number.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="When the latest version took effect.")
    def activated_at(self) -> datetime:
        return self.row.activated_at

    @strawberry.field(description="True if it was removed from the rules.")
    def retired(self) -> bool:
        return self.row.retired

    @strawberry.field(
        description="The file the latest version was published from (its name, without "
        "directory); null for versions published before files were remembered."
    )
    def file(self) -> str | None:
        return self.row.file

    @strawberry.field(description="The latest version's source, in canonical form.")
    def source(self) -> str:
        return self.row.source

    @strawberry.field(description="First day it is active (program time zone), if limited.")
    def active_from(self) -> date | None:
        return self._compiled().active_from if not self.row.retired else None

    @strawberry.field(description="Last day it is active (program time zone), if limited.")
    def active_until(self) -> date | None:
        return self._compiled().active_until if not self.row.retired else None

    @strawberry.field(description="Points it has issued, net of clawbacks and rejections.")
    def points_issued(self) -> int:
        return self._figures()[0]

    @strawberry.field(description="Its budget in points, if it has one.")
    def budget(self) -> int | None:
        return self._figures()[1]

    @strawberry.field(description="What is left of the budget; null without a budget.")
    def budget_left(self) -> int | None:
        return self._figures()[2]

    def _figures(self) -> tuple[int, int | None, int | None]:
        found = self.peers.load(
            "figures", lambda rows: reads.campaign_figures(r.campaign for r in rows)
        )
        return found.get(self.row.campaign, (0, None, None))

    def _compiled(self):
        found = self.peers.load("compiled", lambda rows: {})
        if self.row.id not in found:
            found[self.row.id] = rules.compile_version(self.row)
        return found[self.row.id]


@strawberry.type(description="Diagnostics for rule source that was only checked.")
class RulesValidation:
    ok: bool = strawberry.field(description="True when there is no error (warnings allowed).")
    diagnostics: list[RuleDiagnostic] = strawberry.field(description="Errors and warnings.")


@strawberry.input(description="Rule source to publish: the whole program's rules.")
class RulesPublishInput:
    source: str = strawberry.field(description="The rules, as in a .rules file.")
    filename: str = strawberry.field(
        default="rules",
        description="Name used in diagnostics and for rules written outside a campaign block.",
    )


@strawberry.type(description="A campaign's version after publishing.")
class CampaignChange:
    key: str = strawberry.field(description="The campaign.")
    version: int = strawberry.field(description="Its version in force now.")
    changed: bool = strawberry.field(description="True if this publish made a new version.")
    retired: bool = strawberry.field(description="True if it was removed.")


@strawberry.type(description="Result of rulesPublish.")
class RulesPublishPayload:
    campaigns: list[CampaignChange] = strawberry.field(
        default_factory=list, description="Every campaign."
    )
    diagnostics: list[RuleDiagnostic] = strawberry.field(
        default_factory=list, description="Warnings (and errors, when nothing was published)."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="One per error; nothing was published if any."
    )


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


@strawberry.enum(description="Where an award after review stands.")
class ReviewStatus(Enum):
    PENDING = strawberry.enum_value(
        "pending", description="Waiting for a reviewer; the points are pending."
    )
    APPROVED = strawberry.enum_value(
        "approved", description="Approved: the points became available."
    )
    REJECTED = strawberry.enum_value(
        "rejected", description="Rejected: the pending points were taken back."
    )
    REVOKED = strawberry.enum_value(
        "revoked", description="Taken back before review, because the invitee left."
    )


@owned(lambda r: r.row.member_id)
@strawberry.type(description="An award waiting for (or past) review.")
class Review(Batched):
    row: strawberry.Private[models.Review]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="The award's transaction id; pass it to awardReview.")
    def transaction_id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("transaction", self.row.txn_id))

    @strawberry.field(description="The award.")
    def transaction(self) -> TransactionRef:
        from server.api.ledger import transaction_of

        return transaction_of(self.peers, self.row.txn_id)

    @strawberry.field(description="Who would get the points.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="The campaign.")
    def campaign(self) -> str:
        return self.row.campaign

    @strawberry.field(description="Points at stake.")
    def points(self) -> int:
        return self.row.points

    @strawberry.field(description="Where it stands.")
    def status(self) -> ReviewStatus:
        return ReviewStatus(self.row.status)

    @strawberry.field(description="When the award was made.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it was decided.")
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="Who decided.")
    def reviewer(self) -> str | None:
        return self.row.reviewer

    @strawberry.field(description="The reviewer's note.")
    def note(self) -> str | None:
        return self.row.note


@strawberry.input(description="Approve or reject an award after review.")
class AwardReviewInput:
    transaction_id: strawberry.ID = strawberry.field(description="The award's transaction.")
    decision: Decision = strawberry.field(description="Approve or reject.")
    note: str | None = strawberry.field(default=None, description="Why, up to 500 characters.")


@strawberry.type(description="Result of awardReview.")
class AwardReviewPayload:
    review: Review | None = strawberry.field(default=None, description="The decided review.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when the award already had this decision: nothing new happened.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


def _rule_errors(diagnostics: list[Diagnostic]) -> list[UserError]:
    return [
        UserError(
            code=ErrorCode.RULES_INVALID,
            message=f"{d.file}:{d.line}:{d.column}: {d.message}",
            field=d.file,
            line=d.line,
            column=d.column,
        )
        for d in diagnostics
        if d.is_error
    ]


@strawberry.type
class CampaignQuery:
    @strawberry.field(
        description="Every campaign, with its version, budget and cost.",
        permission_classes=gate("Query.campaigns"),
    )
    def campaigns(self) -> list[Campaign]:
        return batched(lists.campaigns(), lambda r, b: Campaign(row=r, batch=b))

    @strawberry.field(
        description="Check rule source without publishing it.",
        permission_classes=gate("Query.rulesValidate"),
    )
    def rules_validate(
        self,
        info: Info,
        text: Annotated[str, strawberry.argument(name="source", description="The rules.")],
        filename: Annotated[
            str, strawberry.argument(description="Name for diagnostics.")
        ] = "rules",
    ) -> RulesValidation:
        def work():
            diagnostics = rules.validate(
                [(filename, rules.check_source(text))], now=info.context.now
            )
            return RulesValidation(
                ok=not any(d.is_error for d in diagnostics),
                diagnostics=[RuleDiagnostic.of(d) for d in diagnostics],
            )

        return query(work)

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

    @strawberry.field(
        description="Awards waiting for review, oldest first.",
        permission_classes=gate("Query.reviewQueue"),
    )
    def review_queue(
        self,
        first: First = None,
        after: After = None,
        campaign: Annotated[str | None, strawberry.argument(description="One campaign.")] = None,
        status: Annotated[
            ReviewStatus, strawberry.argument(description="Which reviews.")
        ] = ReviewStatus.PENDING,
    ) -> Connection[Review]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.reviews(
                    status=status.value, campaign=campaign, after=cursor, limit=limit
                ),
                lambda r, b: Review(row=r, batch=b),
                key=lambda r: r.txn_id,
            )

        return query(work)


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(
        description="Publish the program's rules: changed campaigns get a "
        "new version from now on; unchanged ones keep theirs; campaigns "
        "left out are retired. Rules with an error are never published.",
        permission_classes=gate("Mutation.rulesPublish"),
    )
    def rules_publish(
        self,
        info: Info,
        input: Annotated[RulesPublishInput, strawberry.argument(description="The rules.")],
    ) -> RulesPublishPayload:
        ctx = info.context

        def work():
            try:
                with write_transaction():
                    published, diagnostics = rules.publish(
                        [(input.filename, rules.check_source(input.source))],
                        now=ctx.now,
                        actor=ctx.actor,
                    )
            except RulesError as exc:
                return RulesPublishPayload(
                    diagnostics=[RuleDiagnostic.of(d) for d in exc.diagnostics],
                    user_errors=_rule_errors(exc.diagnostics),
                )
            return RulesPublishPayload(
                campaigns=[
                    CampaignChange(
                        key=p.campaign, version=p.version, changed=p.changed, retired=p.retired
                    )
                    for p in published
                ],
                diagnostics=[RuleDiagnostic.of(d) for d in diagnostics],
            )

        return mutation(RulesPublishPayload, work)

    @strawberry.mutation(
        description="Approve an award after review (its points become "
        "spendable) or reject it (they vanish).",
        permission_classes=gate("Mutation.awardReview"),
    )
    def award_review(
        self,
        info: Info,
        input: Annotated[AwardReviewInput, strawberry.argument(description="The decision.")],
    ) -> AwardReviewPayload:
        ctx = info.context

        def work():
            tid = ids.decode("transaction", input.transaction_id, "transactionId")
            with write_transaction():
                review, replayed = awards.decide(
                    tid,
                    input.decision is Decision.APPROVE,
                    reviewer=ctx.actor,
                    note=input.note,
                    now=ctx.now,
                    settings=ctx.settings,
                )
            return AwardReviewPayload(review=Review(row=review), replayed=replayed)

        return mutation(AwardReviewPayload, work)
