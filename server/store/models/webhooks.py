"""Webhooks: the endpoints operators register, and the outbox of what to deliver to them."""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BooleanField,
    CharField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from server.store.fields import JsonField, UtcDateTimeField
from server.store.models.ledger import BaseModel


class WebhookEndpoint(BaseModel):
    """A URL that receives signed POSTs for the event kinds it subscribes to (0016)."""

    id = BigAutoField()
    url = CharField(max_length=2000)
    description = CharField(max_length=500, default="")
    events = JsonField(default=list)  # kind names, e.g. ["points.changed"]
    secret = CharField(max_length=100)  # the signing key: needed in clear to sign
    enabled = BooleanField(default=True)
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    deleted_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "webhook_endpoint"


class WebhookEvent(BaseModel):
    """One change to tell endpoints about, written in the change's own transaction."""

    id = BigAutoField()
    kind = CharField(max_length=64)
    payload = JsonField()
    created_at = UtcDateTimeField()
    # Set for changes announced at most once (a budget nearly spent): a second
    # transaction that sees the same thing writes nothing.
    once_key = CharField(max_length=200, null=True, unique=True)

    class Meta:
        table_name = "webhook_event"


class WebhookDelivery(BaseModel):
    """One event to one endpoint: its attempt stream, retried until delivered or given up."""

    id = BigAutoField()
    event = ForeignKeyField(WebhookEvent, on_delete="CASCADE")
    endpoint = ForeignKeyField(WebhookEndpoint)
    status = CharField(max_length=16, default="pending")  # pending, delivered, failed, cancelled
    attempts = IntegerField(default=0)  # in the current stream
    stream = IntegerField(default=1)  # 1, then one more for each redelivery
    stream_started_at = UtcDateTimeField()
    next_attempt_at = UtcDateTimeField(null=True)  # set while pending
    last_attempt_at = UtcDateTimeField(null=True)
    last_status_code = IntegerField(null=True)
    last_error = TextField(null=True)
    delivered_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "webhook_delivery"
        indexes = (
            (("event", "endpoint"), True),
            (("status", "next_attempt_at"), False),
            (("endpoint", "id"), False),
        )
