"""Rule text for the editor: the rules in force as one program, and the canonical form."""

from __future__ import annotations

from typing import Annotated

import strawberry

from server.api.campaigns import RuleDiagnostic
from server.api.context import Info
from server.api.errors import query
from server.api.gate import gate
from server.core import drafts, lists, rules


@strawberry.type(description="Rule source in canonical form, or why it could not be formatted.")
class RulesFormatResult:
    source: str | None = strawberry.field(
        description="The canonical text (comments kept); null when the source does not parse."
    )
    diagnostics: list[RuleDiagnostic] = strawberry.field(
        description="The syntax errors that stopped formatting; empty when it was formatted."
    )


@strawberry.type
class DraftQuery:
    @strawberry.field(
        description="The rules in force as one source text: the program block, the custom "
        "events the campaigns use, and every live campaign in order. Publishing it unchanged "
        "makes no new version.",
        permission_classes=gate("Query.rulesInForce"),
    )
    def rules_in_force(self, info: Info) -> str:
        return query(lambda: drafts.in_force(info.context.settings, lists.campaigns()))

    @strawberry.field(
        description="Rewrite rule source in canonical form, as `jifen rules fmt` does; "
        "nothing is published.",
        permission_classes=gate("Query.rulesFormat"),
    )
    def rules_format(
        self,
        text: Annotated[str, strawberry.argument(name="source", description="The rules.")],
        filename: Annotated[
            str, strawberry.argument(description="Name for diagnostics.")
        ] = "rules",
    ) -> RulesFormatResult:
        def work():
            formatted, problems = drafts.canonical(rules.check_source(text), filename)
            return RulesFormatResult(
                source=formatted, diagnostics=[RuleDiagnostic.of(d) for d in problems]
            )

        return query(work)
