"""The naive baseline: what a team would write in a day for a check-in.

strawberry + peewee, no caching, no tuning: store the event, add a ledger row, update a
balance. Run: python -m bench.baseline.app PORT DATABASE_FILE
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import strawberry
import uvicorn
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, SqliteDatabase
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

db = SqliteDatabase(None, pragmas={"journal_mode": "wal"})


class Member(Model):
    external_id = CharField(unique=True)
    balance = IntegerField(default=0)

    class Meta:
        database = db


class Event(Model):
    member = ForeignKeyField(Member)
    type = CharField()
    key = CharField(unique=True)
    at = DateTimeField()

    class Meta:
        database = db


class LedgerRow(Model):
    member = ForeignKeyField(Member)
    event = ForeignKeyField(Event)
    points = IntegerField()

    class Meta:
        database = db


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    def checkin_record(self, member_id: int, idempotency_key: str) -> int:
        with db.atomic():
            member = Member.get_by_id(member_id)
            event = Event.create(
                member=member, type="checkin", key=idempotency_key, at=datetime.now(UTC)
            )
            LedgerRow.create(member=member, event=event, points=2)
            Member.update(balance=Member.balance + 2).where(Member.id == member.id).execute()
        return Member.get_by_id(member_id).balance


def prepare(path: str, members: int) -> None:
    db.init(path)
    db.create_tables([Member, Event, LedgerRow])
    with db.atomic():
        Member.insert_many([{"external_id": f"m{i}"} for i in range(members)]).execute()
    db.close()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    db.init(path)
    app = Starlette(routes=[Route("/graphql", GraphQL(strawberry.Schema(Query, Mutation)))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
