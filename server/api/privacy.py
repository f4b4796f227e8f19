"""A member's personal data over the API: their export, and erasure (server/core/privacy.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from server.api import ids
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.members import Member
from server.core import privacy
from server.store.db import write_transaction

# Rows' own ids and their references, as the API writes them.
_IDS = {"member": "member", "event": "event", "txn": "transaction", "reverses": "transaction"}
_ROW_IDS = {
    "member": "member",
    "event": "event",
    "ledger_transaction": "transaction",
    "posting": "entry",
    "redemption": "redemption",
    "draw": "draw",
    "submission": "submission",
    "adjustment_request": "adjustment",
}


@strawberry.type(description="Result of memberErase.")
class MemberErasePayload:
    member: Member | None = strawberry.field(
        default=None, description="The member as it is now: anonymized."
    )
    replayed: bool = strawberry.field(
        default=False,
        description="True when the member had been erased already; nothing changed.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type
class PrivacyQuery:
    @strawberry.field(
        description="Everything stored about one member, as one JSON document: the member "
        "and, per table, each row of theirs (ids as the API writes them where the API has "
        "them). For an admin, or the member's own token.",
        permission_classes=gate("Query.memberDataExport"),
    )
    def member_data_export(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
    ) -> JSON:
        def work():
            mid = ids.decode("member", member_id, "memberId")
            info.context.check_member(mid)
            return _with_api_ids(privacy.export(mid))

        return query(work)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(
        description="Erase a member's personal data (GDPR): their externalId becomes "
        "`erased-<id>` everywhere it was written, their display name and birthday are "
        "cleared, their events' attributes, message fingerprints and task proofs emptied. "
        "The ledger keeps every amount, so balances and history still add up. Audited; "
        "erasing again changes nothing and answers replayed.",
        permission_classes=gate("Mutation.memberErase"),
    )
    def member_erase(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        reason: Annotated[
            str, strawberry.argument(description="Why, for the audit log (1-500 characters).")
        ],
    ) -> MemberErasePayload:
        def work():
            mid = ids.decode("member", member_id, "memberId")
            with write_transaction():
                row, replayed = privacy.erase(
                    mid, reason, actor=info.context.actor, now=info.context.now
                )
            return MemberErasePayload(member=Member(row=row), replayed=replayed)

        return mutation(MemberErasePayload, work)


def _with_api_ids(document: dict[str, Any]) -> dict[str, Any]:
    member = dict(document["member"])
    member["id"] = ids.encode("member", member["id"])
    tables = {
        table: [_row(table, row) for row in rows] for table, rows in document["tables"].items()
    }
    return {**document, "member": member, "tables": tables}


def _row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    kind = _ROW_IDS.get(table)
    if kind and table != "member" and isinstance(out.get("id"), int):
        out["id"] = ids.encode(kind, out["id"])
    for column, kind in _IDS.items():
        if isinstance(out.get(column), int):
            out[column] = ids.encode(kind, out[column])
    return out
