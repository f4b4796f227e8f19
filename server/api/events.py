"""Events as clients record and read them: check-ins, messages, orders, custom events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from server.api import ids
from server.api.context import Info
from server.api.errors import UserError, mutation
from server.api.gate import gate
from server.api.refs import MemberRef, TransactionRef
from server.core import events, idempotency
from server.store import models


@strawberry.type(description="Something a member did, stored once.")
class Event:
    row: strawberry.Private[models.Event]

    @strawberry.field(description="Stable id, e.g. `evt_9`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("event", self.row.id))

    @strawberry.field(description="`checkin`, `message`, `order`, `join`, ... or a custom name.")
    def type(self) -> str:
        return self.row.type

    @strawberry.field(description="Who did it.")
    def member(self) -> MemberRef:
        from server.api.members import member_by_id

        return member_by_id(self.row.member_id)

    @strawberry.field(description="The community it happened in, if any.")
    def community(self) -> str | None:
        return self.row.community

    @strawberry.field(description="When it happened.")
    def occurred_at(self) -> datetime:
        return self.row.occurred_at

    @strawberry.field(description="When the program recorded it.")
    def recorded_at(self) -> datetime:
        return self.row.recorded_at

    @strawberry.field(description='Free attributes, e.g. `{"length": 12}` for a message.')
    def attributes(self) -> JSON:
        return self.row.attributes

    @strawberry.field(description="Ledger transactions this event caused.")
    def transactions(self) -> list[TransactionRef]:
        from server.api.ledger import Transaction

        rows = (
            models.LedgerTransaction.select()
            .where(models.LedgerTransaction.event == self.row.id)
            .order_by(models.LedgerTransaction.id)
        )
        return [Transaction(row=r) for r in rows]


@strawberry.input(description="An event to record.")
class EventRecordInput:
    member_id: strawberry.ID = strawberry.field(description="Who did it.")
    type: str = strawberry.field(description="`message`, `order`, `task`, or a custom name.")
    idempotency_key: str = strawberry.field(description="Retries with this key record it once.")
    community: str | None = strawberry.field(default=None, description="Where it happened.")
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When it happened (with offset); default now."
    )
    attributes: JSON | None = strawberry.field(default=None, description="Free attributes.")


@strawberry.type(description="Result of eventRecord.")
class EventRecordPayload:
    event: Event | None = strawberry.field(default=None, description="The stored event.")
    replayed: bool = strawberry.field(
        default=False, description="True when this key was already used: nothing new happened."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


@strawberry.input(description="A daily check-in.")
class CheckinRecordInput:
    member_id: strawberry.ID = strawberry.field(description="Who checks in.")
    idempotency_key: str = strawberry.field(description="Retries with this key check in once.")
    community: str | None = strawberry.field(default=None, description="Where from.")
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When (with offset); default now."
    )


@strawberry.type(description="Result of checkinRecord.")
class CheckinRecordPayload:
    event: Event | None = strawberry.field(default=None, description="The check-in event.")
    day: date | None = strawberry.field(
        default=None, description="The calendar day it counts for, in the program's zone."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when this key was already used: nothing new happened."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


def _record(
    info: Info,
    operation: str,
    member_id: str,
    event_type: str,
    key: str,
    community: str | None,
    occurred_at: datetime | None,
    attributes,
) -> tuple:
    ctx = info.context
    mid = ids.decode("member", member_id, "memberId")
    ctx.check_member(mid)
    args = {
        "memberId": mid,
        "type": event_type,
        "community": community,
        "occurredAt": occurred_at.isoformat() if occurred_at else None,
        "attributes": attributes,
    }
    outcome = idempotency.run_once(
        key,
        operation,
        args,
        ctx.now,
        lambda: (
            events.record(
                mid,
                event_type,
                now=ctx.now,
                settings=ctx.settings,
                community=community,
                occurred_at=occurred_at,
                attributes=attributes,
            ).id
        ),
    )
    return models.Event.get_by_id(outcome.result_id), outcome.replayed


@strawberry.type
class EventMutation:
    @strawberry.mutation(
        description="Record an event once; the rules for its type run on it.",
        permission_classes=gate("Mutation.eventRecord"),
    )
    def event_record(
        self,
        info: Info,
        input: Annotated[EventRecordInput, strawberry.argument(description="The event.")],
    ) -> EventRecordPayload:
        def work():
            event, replayed = _record(
                info,
                "eventRecord",
                input.member_id,
                input.type,
                input.idempotency_key,
                input.community,
                input.occurred_at,
                input.attributes,
            )
            return EventRecordPayload(event=Event(row=event), replayed=replayed)

        return mutation(EventRecordPayload, work)

    @strawberry.mutation(
        description="Check a member in for the day (once per calendar day in "
        "the program's time zone, whichever community it comes from).",
        permission_classes=gate("Mutation.checkinRecord"),
    )
    def checkin_record(
        self,
        info: Info,
        input: Annotated[CheckinRecordInput, strawberry.argument(description="The check-in.")],
    ) -> CheckinRecordPayload:
        def work():
            event, replayed = _record(
                info,
                "checkinRecord",
                input.member_id,
                "checkin",
                input.idempotency_key,
                input.community,
                input.occurred_at,
                None,
            )
            return CheckinRecordPayload(
                event=Event(row=event),
                replayed=replayed,
                day=info.context.settings.local_day(event.occurred_at),
            )

        return mutation(CheckinRecordPayload, work)
