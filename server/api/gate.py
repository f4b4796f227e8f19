"""Who may call what: one table for every root field, enforced on each of them."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from server.api.errors import ApiError
from server.core.auth import Role
from server.core.errors import ErrorCode

ADMIN, OPERATOR, REVIEWER, ANALYST, SERVICE, MEMBER = Role
STAFF = frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST, SERVICE})

# Member tokens pass only where listed, and then only for their own member.
POLICY: dict[str, frozenset[Role]] = {
    "Query.me": frozenset({MEMBER}),
    "Query.member": STAFF | {MEMBER},
    "Query.members": STAFF,
    "Query.transaction": frozenset({ADMIN, OPERATOR, ANALYST, SERVICE}),
    "Query.ledger": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Query.ledgerSummary": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Mutation.memberUpsert": frozenset({ADMIN, OPERATOR, SERVICE}),
    "Mutation.memberLeave": frozenset({ADMIN, OPERATOR, SERVICE}),
    "Mutation.memberTokenCreate": frozenset({ADMIN, SERVICE}),
    "Mutation.eventRecord": frozenset({ADMIN, SERVICE}),
    "Mutation.checkinRecord": frozenset({ADMIN, SERVICE, MEMBER}),
    "Mutation.pointsAdjust": frozenset({ADMIN, OPERATOR}),
    "Mutation.transactionReverse": frozenset({ADMIN, OPERATOR}),
    "Query.campaigns": frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST}),
    "Query.rulesValidate": frozenset({ADMIN, OPERATOR}),
    "Query.reviewQueue": frozenset({ADMIN, OPERATOR, REVIEWER}),
    "Query.rulesSimulate": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Mutation.rulesPublish": frozenset({ADMIN, OPERATOR}),
    "Mutation.awardReview": frozenset({ADMIN, OPERATOR, REVIEWER}),
}
EXPORT_ROLES = frozenset({ADMIN, ANALYST})


def gate(operation: str) -> list[type[BasePermission]]:
    """The permission class for one root field, named in POLICY."""
    allowed = POLICY[operation]

    class Gate(BasePermission):
        def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
            principal = info.context.require_principal()
            if principal.role not in allowed:
                raise ApiError(
                    ErrorCode.FORBIDDEN, f"the {principal.role.value} role may not use {operation}"
                )
            return True

    Gate.__name__ = f"Gate_{operation.replace('.', '_')}"
    return [Gate]
