"""Tasks an operator publishes, members' submissions, and the reviewers' decisions."""

from __future__ import annotations

import re
from datetime import datetime

from server.core import audit, events, members
from server.core.errors import DomainError, ErrorCode
from server.core.notify import announce
from server.core.program import ProgramSettings
from server.store.db import locked
from server.store.models import Member, Submission, Task

TASK_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_LINKS = 10


def create(
    key: str,
    title: str,
    *,
    now: datetime,
    instructions: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_completions: int = 1,
) -> Task:
    if not TASK_KEY.match(key or ""):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "key must be lowercase letters, digits, - or _, like share-live",
            "key",
        )
    if Task.select().where(Task.key == key).exists():
        raise DomainError(ErrorCode.INVALID_INPUT, f"a task with key {key!r} exists", "key")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "title must be 1 to 200 characters", "title")
    if not 1 <= max_completions <= 10_000:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "maxCompletions must be from 1 to 10,000", "maxCompletions"
        )
    if starts_at and ends_at and ends_at <= starts_at:
        raise DomainError(ErrorCode.INVALID_INPUT, "endsAt must be after startsAt", "endsAt")
    return Task.create(
        key=key,
        title=title,
        instructions=instructions,
        starts_at=starts_at,
        ends_at=ends_at,
        max_completions=max_completions,
        created_at=now,
    )


def get(task_id: int) -> Task:
    task = Task.get_or_none(Task.id == task_id)
    if task is None:
        raise DomainError(ErrorCode.TASK_NOT_FOUND, f"no task with id {task_id}", "taskId")
    return task


def submit(
    task_id: int, member_id: int, proof: str, links: list[str], *, now: datetime
) -> Submission:
    """A member's proof of a completed task, waiting for a reviewer."""
    task = get(task_id)
    member = members.get(member_id)
    if (
        task.retired_at is not None
        or (task.starts_at and now < task.starts_at)
        or (task.ends_at and now >= task.ends_at)
    ):
        raise DomainError(ErrorCode.TASK_NOT_AVAILABLE, f"“{task.title}” is not open now", "taskId")
    if len(proof or "") > 5000:
        raise DomainError(ErrorCode.INVALID_INPUT, "proof is longer than 5,000 characters", "proof")
    links = [link.strip() for link in links or [] if link.strip()]
    if len(links) > MAX_LINKS or any(
        not link.startswith(("https://", "http://")) or len(link) > 1000 for link in links
    ):
        raise DomainError(ErrorCode.INVALID_INPUT, f"up to {MAX_LINKS} http(s) links", "links")
    if not proof and not links:
        raise DomainError(ErrorCode.INVALID_INPUT, "give some proof: text or links", "proof")
    # Lock the member's row so two submissions at once count each other.
    Member.update(updated_at=Member.updated_at).where(Member.id == member.id).execute()
    used = (
        Submission.select()
        .where(
            Submission.task == task.id,
            Submission.member == member.id,
            Submission.status != "rejected",
        )
        .count()
    )
    if used >= task.max_completions:
        raise DomainError(
            ErrorCode.SUBMISSION_LIMIT_REACHED,
            f"“{task.title}” can be completed {task.max_completions} time(s)",
            "taskId",
        )
    return Submission.create(
        task=task.id, member=member.id, proof=proof or "", links=links, created_at=now
    )


def review(
    submission_id: int,
    approve: bool,
    *,
    reviewer: str,
    note: str | None,
    now: datetime,
    settings: ProgramSettings,
) -> tuple[Submission, bool]:
    """Approve (the `task` event is recorded and the rules pay) or reject, once; the same
    decision again replays the first (True)."""
    row = Submission.get_or_none(Submission.id == submission_id)
    if row is None:
        raise DomainError(
            ErrorCode.SUBMISSION_NOT_FOUND, "no submission with this id", "submissionId"
        )
    if note is not None and len(note) > 500:
        raise DomainError(ErrorCode.INVALID_INPUT, "note is longer than 500 characters", "note")
    status = "approved" if approve else "rejected"
    row = locked(Submission.select().where(Submission.id == row.id)).first()
    if row.status == status:
        return row, True
    if row.status != "pending":
        raise DomainError(
            ErrorCode.ALREADY_REVIEWED, f"this submission was already {row.status}", "submissionId"
        )
    Submission.update(status=status, decided_at=now, reviewer=reviewer, note=note).where(
        Submission.id == row.id
    ).execute()
    if approve:
        task = Task.get_by_id(row.task_id)
        event = events.record(
            row.member_id,
            "task",
            now=now,
            settings=settings,
            attributes={"task": task.key, "submission": row.id},
            by_program=True,
            reviewed=True,
        )
        Submission.update(event=event).where(Submission.id == row.id).execute()
        member = Member.get_by_id(row.member_id)
        announce(
            None,
            "task",
            member,
            f"{member.display_name or member.external_id} completed “{task.title}”",
            now,
        )
    audit.record(
        reviewer,
        f"submission.{status}",
        str(row.id),
        {"task": row.task_id, "member": row.member_id, "note": note},
        now=now,
    )
    return Submission.get_by_id(row.id), False
