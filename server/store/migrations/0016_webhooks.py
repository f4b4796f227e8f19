"""Webhooks: endpoints, and an outbox (events, and a delivery per event and endpoint)
written in the same transaction as the change it tells about."""

from peewee import *
from server.store.fields import JsonField
from server.store.fields import UtcDateTimeField


def up(migrator, db):
    class WebhookEndpoint(Model):
        id = BigAutoField()
        url = CharField(max_length=2000)
        description = CharField(max_length=500, default="")
        events = JsonField(default=list)
        secret = CharField(max_length=100)
        enabled = BooleanField(default=True)
        created_at = UtcDateTimeField()
        updated_at = UtcDateTimeField()
        deleted_at = UtcDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "webhook_endpoint"

    class WebhookEvent(Model):
        id = BigAutoField()
        kind = CharField(max_length=64)
        payload = JsonField()
        created_at = UtcDateTimeField()
        once_key = CharField(max_length=200, null=True, unique=True)

        class Meta:
            database = db
            table_name = "webhook_event"

    class WebhookDelivery(Model):
        id = BigAutoField()
        event = ForeignKeyField(WebhookEvent, on_delete="CASCADE")
        endpoint = ForeignKeyField(WebhookEndpoint)
        status = CharField(max_length=16, default="pending")
        attempts = IntegerField(default=0)
        stream = IntegerField(default=1)
        stream_started_at = UtcDateTimeField()
        next_attempt_at = UtcDateTimeField(null=True)
        last_attempt_at = UtcDateTimeField(null=True)
        last_status_code = IntegerField(null=True)
        last_error = TextField(null=True)
        delivered_at = UtcDateTimeField(null=True)
        created_at = UtcDateTimeField()

        class Meta:
            database = db
            table_name = "webhook_delivery"
            indexes = (
                (("event", "endpoint"), True),
                (("status", "next_attempt_at"), False),
                (("endpoint", "id"), False),
            )

    db.create_tables([WebhookEndpoint, WebhookEvent, WebhookDelivery])


def down(migrator, db):
    migrator.migrate(
        migrator.drop_table("webhook_delivery"),
        migrator.drop_table("webhook_event"),
        migrator.drop_table("webhook_endpoint"),
    )
