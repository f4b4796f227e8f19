"""Webhooks as operators see them: endpoints, deliveries, and replaying one."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from server.api import ids
from server.api.batch import Batch
from server.api.catalog import OptionalKey
from server.api.context import Info
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.node import Node
from server.api.pagination import After, Connection, First, paged
from server.core import deliveries, idempotency, webhooks
from server.store import models
from server.store.db import write_transaction

WebhookEventKind = strawberry.enum(
    enum.Enum(  # type: ignore[misc]
        "WebhookEventKind",
        {
            k.name: strawberry.enum_value(k.value, description=webhooks.KIND_DESCRIPTIONS[k])
            for k in webhooks.Kind
        },
    ),
    description="A kind of change an endpoint can subscribe to; sent as `type`, e.g. "
    "`points.changed`.",
)


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for its next attempt.")
    DELIVERED = strawberry.enum_value("delivered", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value(
        "failed", description="Every attempt of its stream failed for 24 hours; not retried."
    )
    CANCELLED = strawberry.enum_value(
        "cancelled", description="Its endpoint was deleted before it was delivered."
    )


def _kind(value: str):
    return WebhookEventKind[webhooks.Kind(value).name]


@strawberry.type(description="A URL that receives signed POSTs for the kinds it subscribes to.")
class WebhookEndpoint(Node):
    row: strawberry.Private[models.WebhookEndpoint]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `whk_3`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("endpoint", self.row.id))

    @strawberry.field(description="Where deliveries are POSTed.")
    def url(self) -> str:
        return self.row.url

    @strawberry.field(description="The operator's note on what it is for.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="The kinds of change it receives.")
    def events(self) -> list[WebhookEventKind]:  # type: ignore[valid-type]
        return [_kind(k) for k in self.row.events]

    @strawberry.field(description="False while paused: deliveries wait and are not sent.")
    def enabled(self) -> bool:
        return self.row.enabled

    @strawberry.field(description="When it was registered.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="When it was deleted, if it was.")
    def deleted_at(self) -> datetime | None:
        return self.row.deleted_at


@strawberry.type(description="One event for one endpoint, and how sending it went.")
class WebhookDelivery(Node):
    row: strawberry.Private[models.WebhookDelivery]
    batch: strawberry.Private[Batch | None] = None

    @strawberry.field(description="Stable id, e.g. `dlv_9`; sent as `Jifen-Delivery-Id`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(ids.encode("delivery", self.row.id))

    @strawberry.field(description="The endpoint it goes to.")
    def endpoint(self) -> WebhookEndpoint:
        return WebhookEndpoint(row=models.WebhookEndpoint.get_by_id(self.row.endpoint_id))

    @strawberry.field(description="The event's id, e.g. `wev_5`; sent as `Jifen-Event-Id`.")
    def event_id(self) -> str:
        return f"wev_{self.row.event_id}"

    @strawberry.field(description="The kind of change.")
    def kind(self) -> WebhookEventKind:  # type: ignore[valid-type]
        return _kind(self.row.event.kind)

    @strawberry.field(description="The body POSTed (the event: id, type, createdAt, data).")
    def payload(self) -> JSON:
        event = self.row.event
        return {
            "id": f"wev_{event.id}",
            "type": event.kind,
            "createdAt": event.created_at.isoformat(),
            "data": event.payload,
        }

    @strawberry.field(description="Where it stands.")
    def status(self) -> WebhookDeliveryStatus:
        return WebhookDeliveryStatus(self.row.status)

    @strawberry.field(description="Attempts made in the current stream.")
    def attempts(self) -> int:
        return self.row.attempts

    @strawberry.field(description="Times it was replayed with webhookRedeliver.")
    def redeliveries(self) -> int:
        return self.row.stream - 1

    @strawberry.field(description="The HTTP status of the last answer, if any.")
    def last_status_code(self) -> int | None:
        return self.row.last_status_code

    @strawberry.field(description="What went wrong at the last failed attempt.")
    def last_error(self) -> str | None:
        return self.row.last_error

    @strawberry.field(description="When the last attempt was made.")
    def last_attempt_at(self) -> datetime | None:
        return self.row.last_attempt_at

    @strawberry.field(description="When the next attempt is due, while pending.")
    def next_attempt_at(self) -> datetime | None:
        return self.row.next_attempt_at

    @strawberry.field(description="When the endpoint accepted it.")
    def delivered_at(self) -> datetime | None:
        return self.row.delivered_at

    @strawberry.field(description="When the change happened (and the delivery was written).")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.input(description="An endpoint to register.")
class WebhookEndpointCreateInput:
    url: str = strawberry.field(description="http:// or https:// URL to POST to.")
    events: list[WebhookEventKind] = strawberry.field(  # type: ignore[valid-type]
        description="The kinds of change to receive (at least one)."
    )
    description: str | None = strawberry.field(default=None, description="A note, optional.")

    def to_core(self) -> webhooks.EndpointInput:
        return webhooks.EndpointInput(
            url=self.url,
            events=tuple(e.value for e in self.events),
            description=self.description,
        )


@strawberry.input(description="What changes on an endpoint; what is left out stays.")
class WebhookEndpointUpdateInput:
    url: str | None = strawberry.field(default=None, description="A new URL.")
    events: list[WebhookEventKind] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="The kinds to receive from now on."
    )
    description: str | None = strawberry.field(default=None, description="A new note.")
    enabled: bool | None = strawberry.field(
        default=None, description="False pauses deliveries; true resumes them."
    )

    def to_core(self) -> webhooks.EndpointInput:
        return webhooks.EndpointInput(
            url=self.url,
            events=None if self.events is None else tuple(e.value for e in self.events),
            description=self.description,
            enabled=self.enabled,
        )


@strawberry.type(description="Result of registering an endpoint.")
class WebhookEndpointCreatePayload:
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="It.")
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (`whsec_...`): shown here only, keep it with the "
        "receiver to check `Jifen-Signature`.",
    )
    replayed: bool = strawberry.field(default=False, description="True for a retried key.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type(description="Result of changing or deleting an endpoint.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="It.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type(description="Result of a redelivery.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(default=None, description="It.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when it was already pending: the stream under way sends it.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


def _endpoint_id(value: str, field: str = "id") -> int:
    return ids.decode("endpoint", value, field)


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        description="The registered webhook endpoints, oldest first.",
        permission_classes=gate("Query.webhookEndpoints"),
    )
    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        return query(lambda: [WebhookEndpoint(row=r) for r in webhooks.endpoints()])

    @strawberry.field(
        description="Webhook deliveries, newest first.",
        permission_classes=gate("Query.webhookDeliveries"),
    )
    def webhook_deliveries(
        self,
        endpoint_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this endpoint's.")
        ] = None,
        status: Annotated[
            WebhookDeliveryStatus | None, strawberry.argument(description="Only in this status.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[WebhookDelivery]:
        def work():
            endpoint = None if endpoint_id is None else _endpoint_id(endpoint_id, "endpointId")
            return paged(
                first,
                after,
                lambda cursor, limit: deliveries.page(
                    endpoint_id=endpoint,
                    status=None if status is None else status.value,
                    before=cursor,
                    limit=limit,
                ),
                lambda r, b: WebhookDelivery(row=r),
            )

        return query(work)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Register a webhook endpoint; the payload shows its signing secret once.",
        permission_classes=gate("Mutation.webhookEndpointCreate"),
    )
    def webhook_endpoint_create(
        self,
        info: Info,
        input: Annotated[WebhookEndpointCreateInput, strawberry.argument(description="It.")],
        idempotency_key: OptionalKey = None,
    ) -> WebhookEndpointCreatePayload:
        ctx = info.context

        def work():
            data = input.to_core()
            arguments = {"url": data.url, "events": list(data.events or ()), "d": data.description}
            outcome = idempotency.run_once_if_keyed(
                ctx.scope,
                idempotency_key,
                "webhookEndpointCreate",
                arguments,
                ctx.now,
                lambda: webhooks.create_endpoint(data, now=ctx.now, actor=ctx.actor).id,
            )
            row = models.WebhookEndpoint.get_by_id(outcome.result_id)
            return WebhookEndpointCreatePayload(
                endpoint=WebhookEndpoint(row=row), secret=row.secret, replayed=outcome.replayed
            )

        return mutation(WebhookEndpointCreatePayload, work)

    @strawberry.mutation(
        description="Change an endpoint's URL, kinds or note, or pause and resume it.",
        permission_classes=gate("Mutation.webhookEndpointUpdate"),
    )
    def webhook_endpoint_update(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        input: Annotated[WebhookEndpointUpdateInput, strawberry.argument(description="Changes.")],
    ) -> WebhookEndpointPayload:
        ctx = info.context

        def work():
            with write_transaction():
                row = webhooks.update_endpoint(
                    _endpoint_id(id), input.to_core(), now=ctx.now, actor=ctx.actor
                )
            return WebhookEndpointPayload(endpoint=WebhookEndpoint(row=row))

        return mutation(WebhookEndpointPayload, work)

    @strawberry.mutation(
        description="Delete an endpoint: nothing more is sent to it, what waited is cancelled.",
        permission_classes=gate("Mutation.webhookEndpointDelete"),
    )
    def webhook_endpoint_delete(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
    ) -> WebhookEndpointPayload:
        ctx = info.context

        def work():
            with write_transaction():
                row = webhooks.delete_endpoint(_endpoint_id(id), now=ctx.now, actor=ctx.actor)
            return WebhookEndpointPayload(endpoint=WebhookEndpoint(row=row))

        return mutation(WebhookEndpointPayload, work)

    @strawberry.mutation(
        description="Send a delivered or failed delivery again, as a new stream of attempts "
        "(retried for 24 hours); a pending one is left to the stream under way.",
        permission_classes=gate("Mutation.webhookRedeliver"),
    )
    def webhook_redeliver(
        self,
        info: Info,
        delivery_id: Annotated[strawberry.ID, strawberry.argument(description="The delivery.")],
    ) -> WebhookDeliveryPayload:
        ctx = info.context

        def work():
            number = ids.decode("delivery", delivery_id, "deliveryId")
            row, replayed = deliveries.redeliver(number, now=ctx.now)
            return WebhookDeliveryPayload(delivery=WebhookDelivery(row=row), replayed=replayed)

        return mutation(WebhookDeliveryPayload, work)
