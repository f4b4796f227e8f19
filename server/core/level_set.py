"""An operator's level: a floor for a member until a date, with a reason kept in the audit
log; a second operator approves it where the program asks for that
(JIFEN_LEVEL_SET_APPROVAL), as large adjustments are approved."""

from __future__ import annotations

from datetime import datetime

from server.core import audit, level_job, levels, members
from server.core.adjustments import check_reason, take_decision
from server.core.errors import DomainError, ErrorCode
from server.store import sql
from server.store.models import LevelRequest
from server.store.sql import Sql


def needs_approval() -> bool:
    from server.config import settings

    return settings().level_set_approval


def check(level: str | None, until: datetime, reason: str, now: datetime) -> str:
    ladder = levels.ladder()
    if ladder is None:
        raise DomainError(ErrorCode.NO_LEVELS, "the program's rules have no levels block", None)
    if level is not None and ladder.step(level) is None:
        keys = ", ".join(s.key for s in ladder.steps)
        raise DomainError(
            ErrorCode.UNKNOWN_LEVEL, f"no level `{level}` in the ladder (it has: {keys})", "level"
        )
    if until.tzinfo is None or until <= now:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "`until` must be a moment in the future, with its offset",
            "until",
        )
    return check_reason(reason)


def set_or_request(
    member_id: int, level: str | None, until: datetime, reason: str, *, actor: str, now: datetime
) -> tuple[list[level_job.Change] | None, LevelRequest | None]:
    """Set the floor at once, or file a request for a second operator (when asked for)."""
    reason = check(level, until, reason, now)
    member = members.get(member_id)
    if needs_approval():
        request = LevelRequest.create(
            member=member.id,
            level=level,
            until=until,
            reason=reason,
            requested_by=actor,
            requested_at=now,
        )
        audit.record(
            actor,
            "level.setRequested",
            member.external_id,
            {
                "level": level,
                "until": until.isoformat(),
                "reason": reason,
                "levelRequestId": request.id,
            },
            now=now,
        )
        return None, request
    return apply(member.id, level, until, reason, actor=actor, approver=None, now=now), None


_FLOOR = Sql(
    "INSERT INTO member_level (member_id, level, since, figure, floor_level, floor_until, "
    "evaluated_at) VALUES (?, NULL, ?, 0, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
    "floor_level = excluded.floor_level, floor_until = excluded.floor_until"
)


def apply(
    member_id: int,
    level: str | None,
    until: datetime,
    reason: str,
    *,
    actor: str,
    approver: str | None,
    now: datetime,
) -> list[level_job.Change]:
    """Put the floor in place and evaluate the member at once (None: take the floor away)."""
    member = members.get(member_id)
    at = sql.instant(now)
    level_job.lock([member_id])
    _FLOOR.run(member_id, at, level, sql.instant(until) if level is not None else None, at)
    who = f"{actor}, approved by {approver}" if approver else actor
    changes = level_job.evaluate(now, members=[member_id], actor=who, reason=reason)
    audit.record(
        approver or actor,
        "level.set",
        member.external_id,
        {
            "level": level,
            "until": until.isoformat(),
            "reason": reason,
            "requestedBy": actor,
            "changed": [c.to_level for c in changes],
        },
        now=now,
    )
    return changes


def decide(
    request_id: int, approve: bool, *, actor: str, now: datetime
) -> tuple[LevelRequest, bool]:
    """The second operator's decision; the same decision again replays the first (True)."""
    request, status, replayed = take_decision(
        LevelRequest,
        request_id,
        approve,
        actor=actor,
        missing=(ErrorCode.LEVEL_REQUEST_NOT_FOUND, "level request"),
        what="level",
        field="levelRequestId",
    )
    if replayed:
        return request, True
    LevelRequest.update(status=status, decided_by=actor, decided_at=now).where(
        LevelRequest.id == request.id
    ).execute()
    if approve:
        until = request.until if request.until > now else now
        if until <= now:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "the requested `until` has passed", "levelRequestId"
            )
        apply(
            request.member_id,
            request.level,
            until,
            request.reason,
            actor=request.requested_by,
            approver=actor,
            now=now,
        )
    else:
        audit.record(actor, "level.setRejected", str(request.id), {}, now=now)
    return LevelRequest.get_by_id(request.id), False
