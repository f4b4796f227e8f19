"""The audit log, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from server.api.errors import query
from server.api.gate import gate
from server.api.pagination import (
    After,
    Connection,
    First,
    paged,
)
from server.core import lists
from server.store import models


@strawberry.type(description="One operator action.")
class AuditEntry:
    row: strawberry.Private[models.AuditEntry]

    @strawberry.field(description="When.")
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field(description="Who: `role:key name`, `cli`, or `rules directory`.")
    def actor(self) -> str:
        return self.row.actor

    @strawberry.field(description="What, e.g. `rules.publish`, `points.adjust`, `key.create`.")
    def action(self) -> str:
        return self.row.action

    @strawberry.field(description="On what: an id, a key prefix, a member's externalId.")
    def target(self) -> str | None:
        return self.row.target

    @strawberry.field(description="The details that matter for this action.")
    def details(self) -> JSON:
        return self.row.details


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Operator actions, newest first.", permission_classes=gate("Query.auditLog")
    )
    def audit_log(
        self,
        first: First = None,
        after: After = None,
        action: Annotated[
            str | None,
            strawberry.argument(
                description="Only this action, or actions starting with it (`points.`)."
            ),
        ] = None,
        actor: Annotated[str | None, strawberry.argument(description="Only this actor.")] = None,
    ) -> Connection[AuditEntry]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.audit_entries(
                    action=action, actor=actor, before=cursor, limit=limit
                ),
                lambda r, _: AuditEntry(row=r),
            )

        return query(work)
