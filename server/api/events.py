"""Events as clients record and read them: check-ins, messages, orders, custom events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from server.api import ids
from server.api.batch import Batch, Batched, grouped
from server.api.context import Info
from server.api.errors import UserError, Warning, mutation
from server.api.gate import gate
from server.api.node import Node
from server.api.ownership import owned
from server.api.refs import MemberRef, TransactionRef
from server.core import entries, idempotency, ingest, reads
from server.core.auth import Role
from server.core.errors import DomainError, ErrorCode
from server.store import models, writer


@owned(lambda e: e.row.member_id)
@strawberry.type(description="Something a member did, stored once.")
class Event(Node, Batched):
    row: strawberry.Private[models.Event]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `evt_9`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("event", self.row.id))

    @strawberry.field(description="`checkin`, `message`, `order`, `join`, ... or a custom name.")
    def type(self) -> str:
        return self.row.type

    @strawberry.field(description="Who did it.")
    def member(self) -> MemberRef:
        from server.api.members import member_of

        return member_of(self.peers, self.row.member_id)

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
        from server.api.ledger import _transaction

        def fetch(rows):
            caused = reads.transactions_of_events(r.id for r in rows)
            found = entries.transactions(t for ids_ in caused.values() for t in ids_)
            return grouped(
                {event: [found[t] for t in txns] for event, txns in caused.items()},
                _transaction,
            )

        return self.peers.load("transactions", fetch)[self.row.id]


REFUSE_WITHOUT_RULES = (
    "Refuse the event (NO_RULES_IN_FORCE) instead of recording it with a warning when no "
    "rules were in force at its time."
)
WARNINGS = (
    "What to know about the recorded event: NO_RULES_IN_FORCE when it happened before any "
    "rules were published, so it earned nothing."
)


@strawberry.input(description="An event to record.")
class EventRecordInput:
    member_id: strawberry.ID = strawberry.field(description="Who did it.")
    type: str = strawberry.field(description="`message`, `order`, `task`, or a custom name.")
    idempotency_key: str = strawberry.field(description="Retries with this key record it once.")
    community: str | None = strawberry.field(default=None, description="Where it happened.")
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When it happened (with offset), at most the program's backdating "
        "window (72 hours by default) ago; default now.",
    )
    attributes: JSON | None = strawberry.field(default=None, description="Free attributes.")
    refuse_without_rules: bool = strawberry.field(default=False, description=REFUSE_WITHOUT_RULES)


@strawberry.type(description="Result of eventRecord.")
class EventRecordPayload:
    event: Event | None = strawberry.field(default=None, description="The stored event.")
    replayed: bool = strawberry.field(
        default=False, description="True when this key was already used: nothing new happened."
    )
    warnings: list[Warning] = strawberry.field(default_factory=list, description=WARNINGS)
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


@strawberry.input(description="A daily check-in.")
class CheckinRecordInput:
    member_id: strawberry.ID = strawberry.field(description="Who checks in.")
    idempotency_key: str = strawberry.field(description="Retries with this key check in once.")
    community: str | None = strawberry.field(default=None, description="Where from.")
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When (with offset), at most the program's backdating window ago; "
        "default now. Member tokens leave it out.",
    )
    refuse_without_rules: bool = strawberry.field(default=False, description=REFUSE_WITHOUT_RULES)


@strawberry.type(description="Result of checkinRecord.")
class CheckinRecordPayload:
    event: Event | None = strawberry.field(default=None, description="The check-in event.")
    day: date | None = strawberry.field(
        default=None, description="The calendar day it counts for, in the program's zone."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when this key was already used: nothing new happened."
    )
    warnings: list[Warning] = strawberry.field(default_factory=list, description=WARNINGS)
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


MAX_BATCH = 1000


@strawberry.input(description="Events to record in one request, in order.")
class EventsRecordInput:
    events: list[EventRecordInput] = strawberry.field(
        description=f"Up to {MAX_BATCH} events, of any types, each with its own idempotency key."
    )


@strawberry.type(description="Result of eventsRecord: one result per event, in input order.")
class EventsRecordPayload:
    results: list[EventRecordPayload] = strawberry.field(
        default_factory=list,
        description="What happened to each event, in the order given; an event with "
        "userErrors was not recorded, the others were.",
    )
    recorded: int = strawberry.field(default=0, description="Events recorded by this request.")
    replayed: int = strawberry.field(
        default=0, description="Events whose key was already used: nothing new happened."
    )
    failed: int = strawberry.field(default=0, description="Events refused (see their userErrors).")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing at all was recorded, if so."
    )


def _incoming(
    info: Info, operation: str, item: EventRecordInput | CheckinRecordInput
) -> ingest.Incoming:
    """An event as the caller sent it, cleaned: whose it is, and the key it is sent under."""
    ctx = info.context
    event_type = getattr(item, "type", "checkin")
    attributes = getattr(item, "attributes", None)
    mid = ids.decode("member", item.member_id, "memberId")
    ctx.check_member(mid)
    if item.occurred_at is not None and ctx.require_principal().role is Role.MEMBER:
        raise DomainError(
            ErrorCode.OCCURRED_AT_NOT_ALLOWED,
            "a member token cannot set occurredAt: leave it out and the program records "
            "when it happened",
            "occurredAt",
        )
    key = idempotency.check_key(item.idempotency_key)
    args = {
        "memberId": mid,
        "type": event_type,
        "community": item.community,
        "occurredAt": item.occurred_at.isoformat() if item.occurred_at else None,
        "attributes": attributes,
    }
    claim = ingest.Claim(ctx.scope, key, operation, idempotency.request_hash(operation, args))
    return ingest.Incoming(
        mid,
        event_type,
        item.community,
        item.occurred_at,
        attributes if attributes else None,
        claim,
        strict=item.refuse_without_rules,
    )


class _Recording:
    """Events of concurrent requests, recorded as one batch (writer.together): a check-in
    costs its share of one batch's statements, not a transaction of its own."""

    def run(self, items: list[tuple[ingest.Incoming, datetime, object]]) -> list[ingest.Recorded]:
        results: list[ingest.Recorded] = []
        start = 0
        while start < len(items):  # runs of one program settings (nearly always all)
            settings = items[start][2]
            end = start
            while end < len(items) and items[end][2] is settings:
                end += 1
            run = items[start:end]
            # One time for the batch: the latest request's, so no event is recorded
            # before the moment its request arrived.
            now = max(when for _, when, _ in run)
            results += ingest.record([i for i, _, _ in run], now=now, settings=settings)
            start = end
        return results


_RECORDING = _Recording()


def _record(info: Info, incoming: ingest.Incoming) -> ingest.Recorded:
    """Record one event: its result, refusals raised (a replay's event read back)."""
    ctx = info.context
    result = writer.together(_RECORDING, (incoming, ctx.now, ctx.settings))
    if result.error is not None:
        raise result.error
    if result.event is None:
        result.event = models.Event.get_by_id(result.replayed_id)
    return result


def _payload(
    result: ingest.Recorded, event: models.Event, peers: Batch | None = None
) -> EventRecordPayload:
    return EventRecordPayload(
        event=Event(row=event, batch=peers),
        replayed=result.replayed_id is not None,
        warnings=[Warning.of(w) for w in result.warnings],
    )


def _batch(info: Info, items: list[EventRecordInput]) -> list[EventRecordPayload]:
    """Every event of a batch: cleaned one by one, recorded together; a refusal names its
    place (`events.N.field`) and stops nothing else."""
    ctx = info.context
    out: list[EventRecordPayload | None] = [None] * len(items)
    incoming: list[tuple[int, ingest.Incoming]] = []
    for index, item in enumerate(items):
        try:
            incoming.append((index, _incoming(info, "eventRecord", item)))
        except DomainError as exc:
            out[index] = _refused(index, exc)
    results = ingest.record([i for _, i in incoming], now=ctx.now, settings=ctx.settings)
    replayed = {r.replayed_id for r in results if r.replayed_id is not None}
    earlier = {e.id: e for e in models.Event.select().where(models.Event.id.in_(replayed))}
    stored = [r.event or earlier[r.replayed_id] for r in results if r.error is None]
    peers = Batch(stored)  # the batch's events load their members and transactions at once
    for (index, _), result in zip(incoming, results, strict=True):
        if result.error is not None:
            out[index] = _refused(index, result.error)
        else:
            out[index] = _payload(result, result.event or earlier[result.replayed_id], peers)
    return out


def _refused(index: int, exc: DomainError) -> EventRecordPayload:
    field = f"events.{index}.{exc.field}" if exc.field else f"events.{index}"
    return EventRecordPayload(
        user_errors=[UserError(code=exc.code, message=exc.message, field=field)]
    )


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
            result = _record(info, _incoming(info, "eventRecord", input))
            return _payload(result, result.event)

        return mutation(EventRecordPayload, work, writes=True)

    @strawberry.mutation(
        description=f"Record up to {MAX_BATCH} events in one transaction, each once (by its "
        "own idempotency key), in the order given. An event that is refused does not stop "
        "the others: its result carries the userErrors, with fields named `events.N.field`.",
        permission_classes=gate("Mutation.eventsRecord"),
    )
    def events_record(
        self,
        info: Info,
        input: Annotated[EventsRecordInput, strawberry.argument(description="The events.")],
    ) -> EventsRecordPayload:
        def work():
            if len(input.events) > MAX_BATCH:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"at most {MAX_BATCH} events per request, got {len(input.events)}",
                    "events",
                )
            payload = EventsRecordPayload(results=_batch(info, input.events))
            for result in payload.results:
                if result.user_errors:
                    payload.failed += 1
                elif result.replayed:
                    payload.replayed += 1
                else:
                    payload.recorded += 1
            return payload

        return mutation(EventsRecordPayload, work)

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
            result = _record(info, _incoming(info, "checkinRecord", input))
            return CheckinRecordPayload(
                event=Event(row=result.event),
                replayed=result.replayed_id is not None,
                warnings=[Warning.of(w) for w in result.warnings],
                day=info.context.settings.local_day(result.event.occurred_at),
            )

        return mutation(CheckinRecordPayload, work, writes=True)
