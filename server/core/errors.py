"""Domain errors: a stable code, a message a person can read, and the input it is about."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code a client can see. docs/errors.md explains each one."""

    # Requests
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_ID = "INVALID_ID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    UNAVAILABLE = "UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    INTERNAL = "INTERNAL"
    # Members and events
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    NOT_IN_COMMUNITY = "NOT_IN_COMMUNITY"
    INVALID_REFERRAL = "INVALID_REFERRAL"
    INVALID_EVENT_TYPE = "INVALID_EVENT_TYPE"
    EVENT_TYPE_RESERVED = "EVENT_TYPE_RESERVED"
    EVENT_OUT_OF_ORDER = "EVENT_OUT_OF_ORDER"
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    # Ledger
    INVALID_POINTS = "INVALID_POINTS"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    TRANSACTION_NOT_FOUND = "TRANSACTION_NOT_FOUND"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    NOT_REVERSIBLE = "NOT_REVERSIBLE"
    # Spending
    ITEM_NOT_FOUND = "ITEM_NOT_FOUND"
    ITEM_NOT_AVAILABLE = "ITEM_NOT_AVAILABLE"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    REDEMPTION_LIMIT_REACHED = "REDEMPTION_LIMIT_REACHED"
    REDEMPTION_NOT_FOUND = "REDEMPTION_NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    CHECKOUT_NOT_CONFIGURED = "CHECKOUT_NOT_CONFIGURED"
    CHECKOUT_NOT_FOUND = "CHECKOUT_NOT_FOUND"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    DEDUCTION_OVER_LIMIT = "DEDUCTION_OVER_LIMIT"
    ORDER_ID_REUSED = "ORDER_ID_REUSED"
    REFUND_OVER_ORDER = "REFUND_OVER_ORDER"
    LOTTERY_NOT_FOUND = "LOTTERY_NOT_FOUND"
    LOTTERY_NOT_ACTIVE = "LOTTERY_NOT_ACTIVE"
    DRAW_LIMIT_REACHED = "DRAW_LIMIT_REACHED"
    LOTTERY_SOLD_OUT = "LOTTERY_SOLD_OUT"
    # Community life
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    TASK_NOT_AVAILABLE = "TASK_NOT_AVAILABLE"
    SUBMISSION_LIMIT_REACHED = "SUBMISSION_LIMIT_REACHED"
    SUBMISSION_NOT_FOUND = "SUBMISSION_NOT_FOUND"
    ADJUSTMENT_NOT_FOUND = "ADJUSTMENT_NOT_FOUND"
    SAME_OPERATOR = "SAME_OPERATOR"
    # Rules and reviews
    RULES_INVALID = "RULES_INVALID"
    REVIEW_NOT_FOUND = "REVIEW_NOT_FOUND"
    ALREADY_REVIEWED = "ALREADY_REVIEWED"


class DomainError(Exception):
    """An expected failure; the API turns it into a user error and nothing is changed."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"
