"""Public ids: a type prefix and a number, e.g. `mbr_42`. Stable and easy to read in logs."""

from __future__ import annotations

from server.core.errors import DomainError, ErrorCode

PREFIXES = {
    "member": "mbr",
    "transaction": "txn",
    "entry": "ent",
    "event": "evt",
    "item": "itm",
    "redemption": "red",
    "lottery": "lot",
    "prize": "prz",
    "draw": "drw",
    "adjustment": "adj",
    "task": "tsk",
    "submission": "sub",
    "endpoint": "whk",
    "webhookEvent": "wev",
    "delivery": "dlv",
    "level_request": "lvr",
    "freeze": "frz",
}


def encode(kind: str, number: int) -> str:
    return f"{PREFIXES[kind]}_{number}"


def decode(kind: str, value: str, field: str) -> int:
    """The number inside an id of this kind, or INVALID_ID naming the field."""
    prefix = PREFIXES[kind]
    text = str(value)
    head, _, tail = text.partition("_")
    # Only the form `encode` writes: ASCII digits (str.isdigit also takes "٣" and "³"),
    # no leading zeros, so that one number has one id.
    canonical = tail.isascii() and tail.isdigit() and (tail == "0" or tail[0] != "0")
    if head != prefix or not canonical or len(tail) > 18:
        raise DomainError(
            ErrorCode.INVALID_ID,
            f"{text[:40]!r} is not a {kind} id (they look like {prefix}_123)",
            field,
        )
    return int(tail)
