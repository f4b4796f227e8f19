"""Request limits kept in the database, so that every server process shares them."""

from __future__ import annotations

from peewee import CharField, DoubleField

from server.store.models.ledger import BaseModel


class RateBucket(BaseModel):
    """What is left of one caller's query-cost budget, as of `at` (0011)."""

    who = CharField(max_length=200, primary_key=True)  # "role:name:member" or "address:ip"
    level = DoubleField()  # cost points left at `at`; refills evenly up to the capacity
    at = DoubleField(index=True)  # seconds since the epoch, by the database's clock

    class Meta:
        table_name = "rate_bucket"
