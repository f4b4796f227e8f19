"""Campaigns and their rules: check, publish, see what is in force."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from server.api.batch import Batch, Batched, batched
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.core import lists, reads, rules
from server.core.errors import ErrorCode
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
