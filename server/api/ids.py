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
    "delivery": "dlv",
    "level_request": "lvr",
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


KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}


def parse(value: str, field: str) -> tuple[str, int]:
    """The kind and number of any id the API writes, or INVALID_ID naming the field."""
    text = str(value)
    kind = KINDS.get(text.partition("_")[0])
    if kind is None:
        raise DomainError(
            ErrorCode.INVALID_ID,
            f"{text[:40]!r} is not an id of this API (they look like mbr_42 or txn_7)",
            field,
        )
    return kind, decode(kind, text, field)
