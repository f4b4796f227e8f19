"""Who may call what: one table for every root field, enforced on each of them."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from server.api.errors import ApiError
from server.core.auth import Role
from server.core.errors import ErrorCode

ADMIN, OPERATOR, REVIEWER, ANALYST, SERVICE, MEMBER = Role
STAFF = frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST, SERVICE})

# Member tokens pass only where listed, and then only for their own member: the root field
# checks the member it is asked about, and what a member owns checks the caller again
# wherever it is reached (server/api/ownership.py).
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
    "Query.memberDataExport": frozenset({ADMIN, MEMBER}),
    "Mutation.memberErase": frozenset({ADMIN}),
    "Mutation.historyImport": frozenset({ADMIN}),
    "Mutation.eventRecord": frozenset({ADMIN, SERVICE}),
    "Mutation.eventsRecord": frozenset({ADMIN, SERVICE}),
    "Mutation.checkinRecord": frozenset({ADMIN, SERVICE, MEMBER}),
    "Mutation.pointsAdjust": frozenset({ADMIN, OPERATOR}),
    "Query.levels": STAFF | {MEMBER},
    "Mutation.memberLevelSet": frozenset({ADMIN, OPERATOR}),
    "Mutation.levelRequestDecide": frozenset({ADMIN, OPERATOR}),
    "Subscription.levelChanged": STAFF | {MEMBER},
    "Mutation.transactionReverse": frozenset({ADMIN, OPERATOR}),
    "Query.campaigns": frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST}),
    "Query.rulesValidate": frozenset({ADMIN, OPERATOR}),
    "Query.reviewQueue": frozenset({ADMIN, OPERATOR, REVIEWER}),
    "Query.rulesSimulate": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Mutation.rulesPublish": frozenset({ADMIN, OPERATOR}),
    "Mutation.awardReview": frozenset({ADMIN, OPERATOR, REVIEWER}),
    "Query.catalogItems": STAFF | {MEMBER},
    "Query.catalogItem": STAFF | {MEMBER},
    "Query.redemptions": frozenset({ADMIN, OPERATOR, ANALYST, SERVICE, MEMBER}),
    "Mutation.catalogItemCreate": frozenset({ADMIN, OPERATOR}),
    "Mutation.catalogItemUpdate": frozenset({ADMIN, OPERATOR}),
    "Mutation.catalogItemRestock": frozenset({ADMIN, OPERATOR}),
    "Mutation.catalogItemRetire": frozenset({ADMIN, OPERATOR}),
    "Mutation.redemptionCreate": frozenset({ADMIN, SERVICE, MEMBER}),
    "Mutation.redemptionFulfill": frozenset({ADMIN, OPERATOR, SERVICE}),
    "Mutation.redemptionCancel": frozenset({ADMIN, OPERATOR, SERVICE}),
    "Query.checkoutQuote": frozenset({ADMIN, SERVICE, MEMBER}),
    "Query.checkout": frozenset({ADMIN, OPERATOR, ANALYST, SERVICE}),
    "Mutation.checkoutHold": frozenset({ADMIN, SERVICE}),
    "Mutation.checkoutCapture": frozenset({ADMIN, SERVICE}),
    "Mutation.checkoutVoid": frozenset({ADMIN, SERVICE}),
    "Mutation.checkoutRefund": frozenset({ADMIN, SERVICE}),
    "Query.lotteries": STAFF | {MEMBER},
    "Query.lottery": STAFF | {MEMBER},
    "Query.draws": frozenset({ADMIN, OPERATOR, ANALYST, MEMBER}),
    "Mutation.lotteryCreate": frozenset({ADMIN, OPERATOR}),
    "Mutation.lotteryRetire": frozenset({ADMIN, OPERATOR}),
    "Mutation.lotteryDraw": frozenset({ADMIN, SERVICE, MEMBER}),
    "Query.badges": STAFF | {MEMBER},
    "Mutation.badgeDescribe": frozenset({ADMIN, OPERATOR}),
    "Mutation.streakFreezeBuy": frozenset({ADMIN, OPERATOR, SERVICE, MEMBER}),
    "Mutation.checkinMakeUp": frozenset({ADMIN, OPERATOR, SERVICE, MEMBER}),
    "Query.leaderboard": STAFF | {MEMBER},
    "Query.tasks": STAFF | {MEMBER},
    "Query.submissions": frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST, MEMBER}),
    "Query.adjustmentRequests": frozenset({ADMIN, OPERATOR}),
    "Mutation.taskCreate": frozenset({ADMIN, OPERATOR}),
    "Mutation.submissionCreate": frozenset({ADMIN, SERVICE, MEMBER}),
    "Mutation.submissionReview": frozenset({ADMIN, OPERATOR, REVIEWER}),
    "Mutation.adjustmentReview": frozenset({ADMIN, OPERATOR}),
    "Query.auditLog": frozenset({ADMIN}),
    "Query.webhookEndpoints": frozenset({ADMIN, OPERATOR}),
    "Query.webhookDeliveries": frozenset({ADMIN, OPERATOR}),
    "Mutation.webhookEndpointCreate": frozenset({ADMIN, OPERATOR}),
    "Mutation.webhookEndpointUpdate": frozenset({ADMIN, OPERATOR}),
    "Mutation.webhookEndpointDelete": frozenset({ADMIN, OPERATOR}),
    "Mutation.webhookRedeliver": frozenset({ADMIN, OPERATOR}),
    "Query.viewer": STAFF | {MEMBER},
    # Each object then answers only whom its own root field answers (server/api/node.py).
    "Query.node": STAFF | {MEMBER},
    "Query.nodes": STAFF | {MEMBER},
    "Query.program": STAFF,
    "Query.memberSearch": STAFF,
    "Query.memberStats": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Query.schedulerRuns": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Query.walletTotals": frozenset({ADMIN, OPERATOR, ANALYST}),
    "Query.rulesInForce": frozenset({ADMIN, OPERATOR, REVIEWER, ANALYST}),
    "Query.rulesFormat": frozenset({ADMIN, OPERATOR}),
    "Subscription.pointsChanged": STAFF | {MEMBER},
    "Subscription.activity": STAFF | {MEMBER},
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
