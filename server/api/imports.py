"""The history import over the API, for admins (server/core/imports.py does the work)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from server.api.context import Info
from server.api.errors import UserError, mutation
from server.api.gate import gate
from server.core import imports
from server.core.errors import ErrorCode


@strawberry.enum(description="How the records are written.")
class ImportFormat(Enum):
    JSONL = strawberry.enum_value("jsonl", description="One JSON object per line.")
    CSV = strawberry.enum_value("csv", description="Comma-separated, with a header row.")


@strawberry.input(description="History to import: members, joins, leaves, events, balances.")
class HistoryImportInput:
    source: str = strawberry.field(
        description="The records (fields in docs/operations.md, Importing history)."
    )
    format: ImportFormat = strawberry.field(
        default=ImportFormat.JSONL, description="How `source` is written."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Do it all, report what would be awarded, then undo it."
    )
    rules_of_today: bool = strawberry.field(
        default=False,
        description="Judge every event by the rules in force now (a go-live backfill), not "
        "by those in force when it happened.",
    )


@strawberry.type(description="A record that was refused, or recorded with a warning.")
class ImportProblem:
    line: int = strawberry.field(description="Its line in the source (CSV: counting the header).")
    code: str = strawberry.field(description="The code (docs/errors.md).")
    message: str = strawberry.field(description="What was wrong, in words for a person.")
    field: str | None = strawberry.field(default=None, description="The field it is about.")

    @classmethod
    def of(cls, p: imports.Problem) -> ImportProblem:
        return cls(line=p.line, code=p.code, message=p.message, field=p.field)


@strawberry.type(description="Points a campaign awarded (and took back) through an import.")
class ImportedCampaign:
    campaign: str = strawberry.field(description="The campaign's key.")
    awarded: int = strawberry.field(description="Points it awarded to members.")
    taken_back: int = strawberry.field(description="Points taken back as invitees left.")


@strawberry.type(description="Result of historyImport.")
class HistoryImportPayload:
    records: int = strawberry.field(default=0, description="Records in the source.")
    imported: int = strawberry.field(default=0, description="Records imported (would be).")
    replayed: int = strawberry.field(
        default=0, description="Records imported before (by their key): nothing new happened."
    )
    members_created: int = strawberry.field(default=0, description="New members.")
    dry_run: bool = strawberry.field(default=False, description="True: nothing was kept.")
    campaigns: list[ImportedCampaign] = strawberry.field(
        default_factory=list, description="What each campaign awarded, by key."
    )
    refused: list[ImportProblem] = strawberry.field(
        default_factory=list, description="Records that were not imported, and why."
    )
    warnings: list[ImportProblem] = strawberry.field(
        default_factory=list, description="Imported records the operator should know about."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was imported, if so."
    )


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description="Bring in a community's history, each record as if recorded live when it "
        "happened; a record imported before (same key, or same content) is not imported "
        "again. A malformed source imports nothing: userErrors name the lines.",
        permission_classes=gate("Mutation.historyImport"),
    )
    def history_import(
        self,
        info: Info,
        input: Annotated[HistoryImportInput, strawberry.argument(description="The records.")],
    ) -> HistoryImportPayload:
        def work():
            try:
                records = imports.parse(input.source, input.format.value)
                report = imports.run(
                    records,
                    now=info.context.now,
                    dry_run=input.dry_run,
                    rules_of_today=input.rules_of_today,
                )
            except imports.ImportRefused as refused:
                return HistoryImportPayload(
                    user_errors=[
                        UserError(
                            code=ErrorCode.INVALID_INPUT,
                            message=f"line {p.line}: {p.message}",
                            field=f"source.{p.line}" + (f".{p.field}" if p.field else ""),
                        )
                        for p in refused.problems[:100]
                    ]
                )
            return HistoryImportPayload(
                records=report.records,
                imported=report.imported,
                replayed=report.replayed,
                members_created=report.members_created,
                dry_run=report.dry_run,
                campaigns=[
                    ImportedCampaign(campaign=c, awarded=given, taken_back=back)
                    for c, (given, back) in sorted(report.campaigns.items())
                ],
                refused=[ImportProblem.of(p) for p in report.failed],
                warnings=[ImportProblem.of(p) for p in report.warnings],
            )

        return mutation(HistoryImportPayload, work)
