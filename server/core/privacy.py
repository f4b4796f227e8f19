"""A member's personal data: everything stored about them, and its erasure.

Erasure anonymizes, it does not delete: the ledger keeps every posting and balance (the
program's books must still add up and `ledger verify` pass), while what identifies the
person goes. The member's externalId becomes a tombstone (`erased-<id>`) everywhere it
was written, in any table, other members' rows included (an inviter's event names its
invitee; a clawback's reason names who left); the display name and birthday are
cleared; their events' attributes, message fingerprints and task proofs are emptied;
their rate-limit buckets dropped. Amounts, times, kinds and ids stay.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from peewee import CharField, Field, ForeignKeyField, Model, TextField, fn

from server.core import audit
from server.core.errors import DomainError, ErrorCode
from server.store.db import is_postgres, locked
from server.store.fields import JsonField
from server.store.models import (
    ALL_MODELS,
    AuditEntry,
    CampaignVersion,
    Event,
    IdempotencyKey,
    Member,
    MessageMemory,
    RateBucket,
    Setting,
    Submission,
)

ERASE_ACTION = "member.erase"
MAX_REASON = 500

# Rule sources and their digests are the published program, and settings hold secrets:
# neither is about a member, and changing them would break what depends on them.
_UNTOUCHED = (CampaignVersion, Setting)
# Tables whose text primary key nothing refers to: their keys may be rewritten.
_REKEYABLE = (IdempotencyKey, RateBucket)


def tombstone(member_id: int) -> str:
    """What an erased member's externalId becomes."""
    return f"erased-{member_id}"


def is_erased(member_id: int) -> bool:
    """Whether this member was erased (the audit log keeps the erasure)."""
    return (
        AuditEntry.select()
        .where(AuditEntry.action == ERASE_ACTION, AuditEntry.target == str(member_id))
        .exists()
    )


def erase(member_id: int, reason: str, *, actor: str, now: datetime) -> tuple[Member, bool]:
    """Anonymize a member, inside the caller's transaction; (member, replayed). A second
    erasure of the same member changes nothing and answers replayed."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give a reason of 1 to {MAX_REASON} characters (the audit log keeps it)",
            "reason",
        )
    member = locked(Member.select().where(Member.id == member_id)).first()
    if member is None:
        raise DomainError(ErrorCode.MEMBER_NOT_FOUND, f"no member with id {member_id}", "memberId")
    if is_erased(member_id):
        return member, True
    scrub = Scrubber(member.external_id, tombstone(member_id), _containing(member))
    Member.update(
        external_id=scrub.replacement,
        display_name=None,
        birthday=None,
        birthday_md=None,
        updated_at=now,
    ).where(Member.id == member_id).execute()
    Event.update(attributes={}).where(Event.member == member_id).execute()
    MessageMemory.delete().where(MessageMemory.member == member_id).execute()
    Submission.update(proof="", links=[]).where(Submission.member == member_id).execute()
    RateBucket.delete().where(
        RateBucket.who.startswith("member:"), RateBucket.who.endswith(f":{member_id}")
    ).execute()
    for model in ALL_MODELS:
        if model not in _UNTOUCHED:
            _scrub_table(model, scrub)
    audit.record(actor, ERASE_ACTION, str(member_id), {"reason": scrub.text(reason)}, now=now)
    return Member.get_by_id(member_id), False


class Scrubber:
    """Replaces one externalId in text, as a whole token, without touching the longer
    externalIds of other members that contain it."""

    def __init__(self, needle: str, replacement: str, others: list[str]) -> None:
        self.needle, self.replacement = needle, replacement
        # A letter or digit right before or after is part of another word (`ada` in
        # `canada`); punctuation, spaces and `_` separate (`welcome-ada`, `member:ada:5`).
        head = r"(?<![^\W_])" if needle[:1].isalnum() else ""
        tail = r"(?![^\W_])" if needle[-1:].isalnum() else ""
        self.pattern = re.compile(head + re.escape(needle) + tail)
        self.others = sorted((o for o in others if needle in o), key=len, reverse=True)
        # How the needle looks inside stored JSON text (non-ASCII escaped).
        self.needles = {needle, json.dumps(needle)[1:-1]}

    def text(self, value: str) -> str:
        if self.needle not in value:
            return value
        kept: dict[str, str] = {}
        for n, other in enumerate(self.others):
            if other in value:
                mark = f"\x00{n}\x00"
                value = value.replace(other, mark)
                kept[mark] = other
        value = self.pattern.sub(self.replacement, value)
        for mark, other in kept.items():
            value = value.replace(mark, other)
        return value

    def document(self, value: Any) -> Any:
        """A JSON value with every string in it (keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.document(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.document(v) for k, v in value.items()}
        return value


def _containing(member: Member) -> list[str]:
    needle = member.external_id
    return [
        m.external_id
        for m in Member.select(Member.external_id).where(
            _contains(Member.external_id, needle), Member.id != member.id
        )
    ]


def _contains(column: Field, needle: str):
    function = fn.strpos if is_postgres() else fn.instr
    return function(column, needle) > 0


def _text_fields(model: type[Model]) -> list[Field]:
    # Field objects compare into SQL expressions: compare their names.
    keys = {k.name for k in model._meta.get_primary_keys()} if model not in _REKEYABLE else set()
    return [
        f
        for f in model._meta.sorted_fields
        if isinstance(f, CharField | TextField) and not isinstance(f, ForeignKeyField)
        if f.name not in keys
    ]


def _scrub_table(model: type[Model], scrub: Scrubber) -> None:
    fields = _text_fields(model)
    if not fields:
        return
    keys = model._meta.get_primary_keys()
    found = [_contains(f, n) for f in fields for n in scrub.needles]
    condition = found[0]
    for another in found[1:]:
        condition = condition | another
    key_names = {k.name for k in keys}
    columns = [*keys, *(f for f in fields if f.name not in key_names)]
    for row in model.select(*columns).where(condition).dicts():
        changes = {}
        for f in fields:
            value = row[f.name]
            if value is None:
                continue
            new = scrub.document(value) if isinstance(f, JsonField) else scrub.text(value)
            if new != value:
                changes[f] = new
        if changes:
            where = [k == row[k.name] for k in keys]
            model.update(changes).where(*where).execute()


def export(member_id: int) -> dict[str, Any]:
    """Everything stored about one member: the member, and each table's rows of theirs."""
    member = Member.get_or_none(Member.id == member_id)
    if member is None:
        raise DomainError(ErrorCode.MEMBER_NOT_FOUND, f"no member with id {member_id}", "memberId")
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in ALL_MODELS:
        owner = model._meta.fields.get("member")
        if not isinstance(owner, ForeignKeyField) or owner.rel_model is not Member:
            continue
        keys = model._meta.get_primary_keys()
        rows = model.select().where(owner == member_id).order_by(*keys).dicts()
        found = [{name: _plain(v) for name, v in row.items()} for row in rows]
        if found:
            tables[model._meta.table_name] = found
    return {
        "member": {name: _plain(v) for name, v in member.__data__.items()},
        "erased": is_erased(member_id),
        "tables": tables,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
