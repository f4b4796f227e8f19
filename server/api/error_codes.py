"""What each error code means, as the schema describes the `ErrorCode` values.

The texts are the meanings of docs/errors.md, word for word (a test keeps the two equal):
change one, change the other.
"""

from __future__ import annotations

from server.core.errors import ErrorCode

MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_INPUT: (
        "An argument is malformed or out of range; `field` names it (e.g. `reason`, `first`, "
        "`occurredAt`). Also a request that is not one GraphQL request, refused before "
        "anything runs with HTTP 400 (a body that is not UTF-8, not JSON or not an object, a "
        "batch, parameters of the wrong type, variables nested over 32 levels, a lone "
        "surrogate), 405 (a mutation over GET, a method other than GET and POST), 413 (a body"
        " over the limit) or 415 (not `application/json`); and text holding a NUL character."
    ),
    ErrorCode.INVALID_ID: "An id is not of the expected kind (`mbr_…`, `txn_…`, …).",
    ErrorCode.UNAUTHENTICATED: (
        "No bearer token, or one that is unknown, revoked, expired or forged. The message "
        "says which."
    ),
    ErrorCode.FORBIDDEN: (
        "The token's role may not use this field, or a member token reached for another member."
    ),
    ErrorCode.UNAVAILABLE: (
        "The database could not be reached. Retry; with the same idempotency key a retry is safe."
    ),
    ErrorCode.RATE_LIMITED: (
        "The token's query budget is spent for now; `extensions.retryAfter` says how many "
        "seconds to wait."
    ),
    ErrorCode.QUERY_TOO_COSTLY: (
        "The query costs more than a whole budget (`extensions.cost`): ask for fewer items "
        "per page or fewer nested lists."
    ),
    ErrorCode.INTERNAL: (
        'A bug. The message is fixed ("Internal error; it has been logged.") and the server '
        "log has the details."
    ),
    ErrorCode.GRAPHQL_PARSE_FAILED: (
        "The query is not GraphQL (a syntax error); `locations` points at it. Nothing ran."
    ),
    ErrorCode.GRAPHQL_VALIDATION_FAILED: (
        "The document does not fit the schema, goes past a limit (depth 10, 30 aliases, 2,000"
        " tokens), has several operations and no `operationName` (or names one it lacks), or "
        "is a subscription sent over HTTP. Nothing ran."
    ),
    ErrorCode.BAD_USER_INPUT: (
        "A variable or argument value that cannot be used: of the wrong type, missing, an "
        "`Int` beyond 32 bits, a `DateTime` without a time zone offset or outside 0002-01-01 "
        "to 9998-12-31 (UTC), a `Decimal` that is not finite or has more than 15 digits "
        "before or 6 after the point. The message names the variable (`$input … at "
        ".orderAmount`) or the argument. Nothing ran."
    ),
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: (
        "A query sent by its hash alone (`extensions.persistedQuery`) that this server process "
        "does not know (yet): send it again with its text and the same hash. The message is "
        "`PersistedQueryNotFound`, as Apollo's clients expect. Nothing ran."
    ),
    ErrorCode.MEMBER_NOT_FOUND: (
        "No member with that id or externalId (also for `invitedByExternalId`)."
    ),
    ErrorCode.NOT_IN_COMMUNITY: (
        "`memberLeave` for a community the member is not (or no longer) in."
    ),
    ErrorCode.INVALID_REFERRAL: (
        "A member invited themselves, or `invitedByExternalId` came without `community`."
    ),
    ErrorCode.INVALID_EVENT_TYPE: (
        "An event type that is not a lowercase name (`[a-z][a-z0-9_]*`, 64 at most)."
    ),
    ErrorCode.EVENT_TYPE_RESERVED: (
        "`join`, `leave`, `referral` and `birthday` are recorded by the program itself "
        "(`memberUpsert`, `memberLeave`, the scheduler)."
    ),
    ErrorCode.EVENT_OUT_OF_ORDER: (
        "`occurredAt` is more than 5 minutes ahead of the server's clock, or before the "
        "member's latest event of that type."
    ),
    ErrorCode.OCCURRED_AT_NOT_ALLOWED: (
        "A member token sent `occurredAt`: a member never chooses when their own events "
        "happened; leave it out and the program records the time."
    ),
    ErrorCode.OCCURRED_AT_TOO_OLD: (
        "`occurredAt` is further back than the program's backdating window (72 hours unless "
        "the program says otherwise); older history is imported by an admin, not recorded."
    ),
    ErrorCode.OCCURRED_AT_BEFORE_PROGRAM: (
        "`occurredAt` is before the program began (its first key, member, event or ledger entry)."
    ),
    ErrorCode.ALREADY_CHECKED_IN: (
        "The member already checked in on that calendar day in the program's time zone."
    ),
    ErrorCode.INVALID_POINTS: "Points must be a non-zero whole number up to 1,000,000,000 in size.",
    ErrorCode.INSUFFICIENT_POINTS: (
        "A deduction or spend larger than the available balance; nothing is taken."
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "This caller (API key, or member) used the key before for a different request (other "
        "operation or arguments). Keys of other callers never collide with yours."
    ),
    ErrorCode.TRANSACTION_NOT_FOUND: "No transaction with that id.",
    ErrorCode.ALREADY_REVERSED: (
        "That transaction has already been reversed; a transaction is reversed at most once."
    ),
    ErrorCode.NOT_REVERSIBLE: (
        "A reversal cannot itself be reversed; post a new transaction instead."
    ),
    ErrorCode.ITEM_NOT_FOUND: "No catalog item with that id.",
    ErrorCode.ITEM_NOT_AVAILABLE: (
        "The item is retired, outside its availability window, or for another community."
    ),
    ErrorCode.OUT_OF_STOCK: (
        "Not enough stock for the quantity asked (the last unit went to someone else)."
    ),
    ErrorCode.REDEMPTION_LIMIT_REACHED: (
        "The member already redeemed this item as often as its per-member limit allows in the"
        " period."
    ),
    ErrorCode.REDEMPTION_NOT_FOUND: "No redemption with that id.",
    ErrorCode.INVALID_STATE: (
        "The redemption or checkout is not in a state that allows this (e.g. cancelling a "
        "cancelled redemption, capturing a voided hold)."
    ),
    ErrorCode.CHECKOUT_NOT_CONFIGURED: (
        "The program has no `redeem rate` (and `deduct at most`) rule, so points cannot pay "
        "for orders."
    ),
    ErrorCode.CHECKOUT_NOT_FOUND: "No checkout with that order id.",
    ErrorCode.CURRENCY_MISMATCH: "The order's currency is not the program's redeem-rate currency.",
    ErrorCode.DEDUCTION_OVER_LIMIT: "More points than `deduct at most` allows on this order.",
    ErrorCode.ORDER_ID_REUSED: (
        "A hold with this order id exists for another member or other amounts."
    ),
    ErrorCode.REFUND_OVER_ORDER: (
        "The refunds of an order would add up to more than the order amount."
    ),
    ErrorCode.LOTTERY_NOT_FOUND: "No lottery with that id.",
    ErrorCode.LOTTERY_NOT_ACTIVE: "The lottery is retired or outside its window.",
    ErrorCode.DRAW_LIMIT_REACHED: "The member has drawn as often today as the lottery allows.",
    ErrorCode.LOTTERY_SOLD_OUT: "No prize is left to draw; nothing was spent.",
    ErrorCode.TASK_NOT_FOUND: "No task with that id or key.",
    ErrorCode.TASK_NOT_AVAILABLE: "The task is retired or outside its window.",
    ErrorCode.SUBMISSION_LIMIT_REACHED: (
        "The member already has as many approved or waiting submissions as the task allows."
    ),
    ErrorCode.SUBMISSION_NOT_FOUND: "No submission with that id.",
    ErrorCode.ADJUSTMENT_NOT_FOUND: "No adjustment waiting for approval with that id.",
    ErrorCode.SAME_OPERATOR: "The operator who asked for an adjustment cannot also approve it.",
    ErrorCode.RULES_INVALID: (
        "Rules with an error were not published; one user error per problem, with `line` and "
        "`column` and the file in `field`."
    ),
    ErrorCode.SIMULATION_TOO_LONG: (
        "rulesSimulate ran longer than `JIFEN_SIMULATION_SECONDS` (default 60) and was "
        "stopped; nothing was written. Simulate a shorter range, or run `jifen rules "
        "simulate`, which has no time limit."
    ),
    ErrorCode.NO_RULES_IN_FORCE: (
        "No rule version was in force when the event happened (it precedes the first "
        "publish): it is stored and earns nothing, and the payload says so in `warnings`; "
        "with `refuseWithoutRules: true` it is refused instead. History older than the rules "
        "is brought in with `jifen import`."
    ),
    ErrorCode.REVIEW_NOT_FOUND: "No award waiting for review with that transaction id.",
    ErrorCode.ALREADY_REVIEWED: (
        "The award was already approved, rejected, or taken back because the invitee left."
    ),
    ErrorCode.DAY_NOT_MISSED: (
        "The day asked for in checkinMakeUp was not missed: the member checked in that day, "
        "or a streak freeze covered it. Nothing was charged."
    ),
    ErrorCode.FREEZE_LIMIT_REACHED: (
        "The member already bought as many streak freezes this period as `at most N per "
        "PERIOD` allows. Nothing was charged."
    ),
    ErrorCode.LEVEL_REQUEST_NOT_FOUND: "No level request waiting for approval with that id.",
    ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND: "No webhook endpoint with that id (or it was deleted).",
    ErrorCode.WEBHOOK_DELIVERY_NOT_FOUND: "No webhook delivery with that id.",
    ErrorCode.MAKE_UP_DAY_NOT_PAST: (
        "The day asked for in checkinMakeUp is today or later (in the program's time zone): "
        "today is checked in with checkinRecord. Nothing was charged."
    ),
    ErrorCode.MAKE_UP_LIMIT_REACHED: (
        "The member already made up as many check-ins this period as `at most N per PERIOD` "
        "allows. Nothing was charged."
    ),
    ErrorCode.MAKE_UP_TOO_OLD: (
        "The day asked for in checkinMakeUp is older than the program's make-up window "
        "(`within D days`), or before the program began. Nothing was charged."
    ),
    ErrorCode.NOT_OFFERED: (
        "The program's rules do not sell this: no `streak freeze costs ...` (streakFreezeBuy) "
        "or no `make-up checkin costs ...` (checkinMakeUp) line in the `program` block. "
        "Nothing was charged."
    ),
    ErrorCode.NO_LEVELS: "The program's rules have no `levels` block, so there is no level to set.",
    ErrorCode.UNKNOWN_LEVEL: (
        "`memberLevelSet` named a level that is not in the ladder; the message lists the "
        "ladder's keys."
    ),
}
