"""Leaderboards, tasks and their review queue, and two-person adjustments."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from server.api import ids
from server.api.adjustments import AdjustmentRequest
from server.api.batch import Batch, Batched, related
from server.api.context import Info
from server.api.enums import Decision, Period
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import (
    After,
    Connection,
    First,
    page_size,
    paged,
)
from server.api.refs import EventRef, MemberRef
from server.core import adjustments, audit, idempotency, leaderboard, lists, reads, tasks
from server.core.errors import DomainError, ErrorCode
from server.store import models
from server.store.db import write_transaction


@strawberry.type(
    description="One place on a leaderboard. Public: anyone who may read the board sees "
    "every place, with the member's public fields."
)
class LeaderboardEntry:
    rank: int = strawberry.field(description="1 for the top; ties go to who got there first.")
    member: MemberRef = strawberry.field(description="Who.")
    score: int = strawberry.field(description="The count of events, or the points earned.")
    reached_at: datetime = strawberry.field(description="When the score got there.")


def entry(place: leaderboard.Place, member: MemberRef) -> LeaderboardEntry:
    return LeaderboardEntry(
        rank=place.rank, member=member, score=place.score, reached_at=place.reached_at
    )


@strawberry.type(description="A task members complete and reviewers check.")
class Task(Node):
    row: strawberry.Private[models.Task]
    batch: strawberry.Private[Batch | None] = None  # what it was listed with; it reads nothing

    @strawberry.field(description="Stable id, e.g. `tsk_2`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("task", self.row.id))

    @strawberry.field(description='The key rules use: task "KEY" award N.')
    def key(self) -> str:
        return self.row.key

    @strawberry.field(description="Title.")
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="What to do and what proof to give.")
    def instructions(self) -> str:
        return self.row.instructions

    @strawberry.field(description="Opens at.")
    def starts_at(self) -> datetime | None:
        return self.row.starts_at

    @strawberry.field(description="Closes at.")
    def ends_at(self) -> datetime | None:
        return self.row.ends_at

    @strawberry.field(description="How many times one member may complete it.")
    def max_completions(self) -> int:
        return self.row.max_completions


@owned(lambda s: s.row.member_id)
@strawberry.type(description="A member's proof that they completed a task.")
class Submission(Node, Batched):
    row: strawberry.Private[models.Submission]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `sub_9`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("submission", self.row.id))

    @strawberry.field(description="The task.")
    def task(self) -> Task:
        found = related(
            self.peers,
            "task_id",
            lambda keys: reads.by_id(models.Task, keys),
            lambda r, b: Task(row=r, batch=b),
        )
        return found[self.row.task_id]

    @strawberry.field(description="Who.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

    @strawberry.field(description="Their words.")
    def proof(self) -> str:
        return self.row.proof

    @strawberry.field(description="Their links.")
    def links(self) -> list[str]:
        return list(self.row.links or [])

    @strawberry.field(description="pending, approved or rejected.")
    def status(self) -> str:
        return self.row.status

    @strawberry.field(description="When it was sent.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it was decided.")
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="The reviewer's note.")
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field(description="The `task` event an approval recorded.")
    def event(self) -> EventRef | None:
        from server.api.events import Event

        if self.row.event_id is None:
            return None
        found = related(
            self.peers,
            "event_id",
            lambda keys: reads.by_id(models.Event, keys),
            lambda row, b: Event(row=row, batch=b),
        )
        return found.get(self.row.event_id)


@strawberry.input(description="A new task.")
class TaskCreateInput:
    key: str = strawberry.field(description="Lowercase key the rules name.")
    title: str = strawberry.field(description="Title.")
    instructions: str = strawberry.field(default="", description="What to do.")
    starts_at: datetime | None = strawberry.field(default=None, description="Opens at.")
    ends_at: datetime | None = strawberry.field(default=None, description="Closes at.")
    max_completions: int = strawberry.field(default=1, description="Per member.")


@strawberry.type(description="Result of taskCreate.")
class TaskPayload:
    task: Task | None = strawberry.field(default=None, description="The task.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why not, if so."
    )


@strawberry.input(description="Proof of a completed task.")
class SubmissionCreateInput:
    task_id: strawberry.ID = strawberry.field(description="The task.")
    member_id: strawberry.ID = strawberry.field(description="Who.")
    proof: str = strawberry.field(default="", description="Words, up to 5,000 characters.")
    links: list[str] = strawberry.field(default_factory=list, description="Up to 10 links.")
    idempotency_key: str = strawberry.field(description="Retries with this key submit once.")


@strawberry.input(description="A reviewer's decision on a submission.")
class SubmissionReviewInput:
    submission_id: strawberry.ID = strawberry.field(description="The submission.")
    decision: Decision = strawberry.field(description="Approve or reject.")
    note: str | None = strawberry.field(default=None, description="Why, up to 500 chars.")


@strawberry.type(description="Result of a submission change.")
class SubmissionPayload:
    submission: Submission | None = strawberry.field(default=None, description="It.")
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why not, if so."
    )


@strawberry.type(description="Result of adjustmentReview.")
class AdjustmentReviewPayload:
    request: AdjustmentRequest | None = strawberry.field(default=None, description="It.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when the request already had this decision: nothing new happened.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why not, if so."
    )


def _task_id(value: str, field: str = "taskId") -> int:
    return ids.decode("task", value, field)


Metric = Annotated[
    str,
    strawberry.argument(description="messages, checkins, referrals, points, or any event type."),
]
PeriodArg = Annotated[Period, strawberry.argument(description="day, week or month.")]
At = Annotated[
    datetime | None, strawberry.argument(description="A moment in the period wanted; default now.")
]
Community = Annotated[
    str | None, strawberry.argument(description="One community's board; default the whole program.")
]


@strawberry.type
class CommunityQuery:
    @strawberry.field(
        description="The standings of a period, best first.",
        permission_classes=gate("Query.leaderboard"),
    )
    def leaderboard(
        self,
        info: Info,
        metric: Metric,
        period: PeriodArg,
        at: At = None,
        community: Community = None,
        first: First = None,
        campaign: Annotated[
            str | None,
            strawberry.argument(
                description="The board a campaign pays for this metric and period: it counts "
                "only the events its `where` (or its campaign's rule for the event) lets "
                "through. Default: every event of the metric."
            ),
        ] = None,
    ) -> list[LeaderboardEntry]:
        def work():
            when = at or info.context.now
            day = info.context.settings.local_day(when)
            board = metric
            if campaign is not None:
                board = leaderboard.board_of(campaign, metric, period.value, when)
            places = reads.top(
                board, period.value, day, scope=community or "", first=page_size(first)
            )
            from server.api.members import members_by_ids

            found = members_by_ids([p.member_id for p in places])
            return [entry(p, found[p.member_id]) for p in places]

        return query(work)

    @strawberry.field(description="Tasks open to members.", permission_classes=gate("Query.tasks"))
    def tasks(self, first: First = None, after: After = None) -> Connection[Task]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.tasks(after=cursor, limit=limit),
                lambda r, b: Task(row=r, batch=b),
            )

        return query(work)

    @strawberry.field(
        description="Submissions, oldest first: the review queue by default.",
        permission_classes=gate("Query.submissions"),
    )
    def submissions(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        status: Annotated[
            str | None,
            strawberry.argument(
                description="pending (default), approved, rejected, or null for all."
            ),
        ] = "pending",
        task_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One task.")
        ] = None,
        member_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="One member (a member token must give its own)."),
        ] = None,
        older_than_hours: Annotated[
            int | None, strawberry.argument(description="Only those waiting longer than this.")
        ] = None,
    ) -> Connection[Submission]:
        def work():
            tid = _task_id(task_id) if task_id is not None else None
            mid = None
            if member_id is not None:
                mid = ids.decode("member", member_id, "memberId")
                info.context.check_member(mid)
            elif info.context.require_principal().member_id is not None:
                info.context.check_member(-1)
            if older_than_hours is not None and not 0 <= older_than_hours <= 100_000:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    "olderThanHours must be from 0 to 100,000",
                    "olderThanHours",
                )
            created_by = (
                info.context.now - timedelta(hours=older_than_hours)
                if older_than_hours is not None
                else None
            )
            return paged(
                first,
                after,
                lambda cursor, limit: lists.submissions(
                    status=status,
                    task_id=tid,
                    member_id=mid,
                    created_by=created_by,
                    after=cursor,
                    limit=limit,
                ),
                lambda r, b: Submission(row=r, batch=b),
            )

        return query(work)

    @strawberry.field(
        description="Adjustments waiting for a second operator, oldest first.",
        permission_classes=gate("Query.adjustmentRequests"),
    )
    def adjustment_requests(
        self, first: First = None, after: After = None
    ) -> Connection[AdjustmentRequest]:
        def work():
            return paged(
                first,
                after,
                lambda cursor, limit: lists.adjustment_requests(after=cursor, limit=limit),
                lambda r, b: AdjustmentRequest(row=r, batch=b),
            )

        return query(work)


@strawberry.type
class CommunityMutation:
    @strawberry.mutation(
        description="Publish a task.", permission_classes=gate("Mutation.taskCreate")
    )
    def task_create(
        self,
        info: Info,
        input: Annotated[TaskCreateInput, strawberry.argument(description="The task.")],
    ) -> TaskPayload:
        def work():
            with write_transaction():
                row = tasks.create(
                    input.key,
                    input.title,
                    now=info.context.now,
                    instructions=input.instructions,
                    starts_at=input.starts_at,
                    ends_at=input.ends_at,
                    max_completions=input.max_completions,
                )
                audit.record(
                    info.context.actor,
                    "task.create",
                    row.key,
                    {"title": row.title},
                    now=info.context.now,
                )
            return TaskPayload(task=Task(row=row))

        return mutation(TaskPayload, work)

    @strawberry.mutation(
        description="Send proof of a completed task for review.",
        permission_classes=gate("Mutation.submissionCreate"),
    )
    def submission_create(
        self,
        info: Info,
        input: Annotated[SubmissionCreateInput, strawberry.argument(description="The proof.")],
    ) -> SubmissionPayload:
        ctx = info.context

        def work():
            mid = ids.decode("member", input.member_id, "memberId")
            ctx.check_member(mid)
            tid = _task_id(input.task_id)
            outcome = idempotency.run_once(
                ctx.scope,
                input.idempotency_key,
                "submissionCreate",
                {"memberId": mid, "taskId": tid, "proof": input.proof, "links": input.links},
                ctx.now,
                lambda: tasks.submit(tid, mid, input.proof, input.links, now=ctx.now).id,
            )
            return SubmissionPayload(
                submission=Submission(
                    row=reads.by_id(models.Submission, [outcome.result_id])[outcome.result_id]
                ),
                replayed=outcome.replayed,
            )

        return mutation(SubmissionPayload, work)

    @strawberry.mutation(
        description="Approve (the task event is recorded and the rules pay, "
        "once) or reject a submission.",
        permission_classes=gate("Mutation.submissionReview"),
    )
    def submission_review(
        self,
        info: Info,
        input: Annotated[SubmissionReviewInput, strawberry.argument(description="The decision.")],
    ) -> SubmissionPayload:
        ctx = info.context

        def work():
            sid = ids.decode("submission", input.submission_id, "submissionId")
            with write_transaction():
                row, replayed = tasks.review(
                    sid,
                    input.decision is Decision.APPROVE,
                    reviewer=ctx.actor,
                    note=input.note,
                    now=ctx.now,
                    settings=ctx.settings,
                )
            return SubmissionPayload(submission=Submission(row=row), replayed=replayed)

        return mutation(SubmissionPayload, work)

    @strawberry.mutation(
        description="A second operator approves or rejects a large "
        "adjustment; both names stay on the ledger entry.",
        permission_classes=gate("Mutation.adjustmentReview"),
    )
    def adjustment_review(
        self,
        info: Info,
        request_id: Annotated[strawberry.ID, strawberry.argument(description="The request.")],
        decision: Annotated[Decision, strawberry.argument(description="Approve or reject.")],
    ) -> AdjustmentReviewPayload:
        ctx = info.context

        def work():
            rid = ids.decode("adjustment", request_id, "requestId")
            with write_transaction():
                row, replayed = adjustments.decide(
                    rid,
                    decision is Decision.APPROVE,
                    actor=ctx.actor,
                    now=ctx.now,
                    settings=ctx.settings,
                )
            return AdjustmentReviewPayload(request=AdjustmentRequest(row=row), replayed=replayed)

        return mutation(AdjustmentReviewPayload, work)
