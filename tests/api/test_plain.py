"""Plain attributes are read straight off the object, with the answers strawberry gives."""

from __future__ import annotations

import strawberry
from strawberry.permission import BasePermission

from server.api.plain import read_directly
from server.api.schema import schema as served

QUERY = "{ thing { count longName computed guarded } }"


class Nobody(BasePermission):
    message = "nobody"

    def has_permission(self, source, info, **kwargs) -> bool:
        return False


@strawberry.type
class Thing:
    count: int
    long_name: str = strawberry.field(name="longName")
    guarded: int | None = strawberry.field(default=7, permission_classes=[Nobody])

    @strawberry.field
    def computed(self) -> int:
        return self.count * 2


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(count=3, long_name="three")


def _built(direct: bool) -> strawberry.Schema:
    schema = strawberry.Schema(query=Query)
    if direct:
        read_directly(schema)
    return schema


def _reads(schema: strawberry.Schema, field: str) -> bool:
    return hasattr(schema._schema.type_map["Thing"].fields[field].resolve, "reads")


def test_only_basic_fields_are_read_directly():
    schema = _built(direct=True)
    assert _reads(schema, "count") and _reads(schema, "longName")
    assert not _reads(schema, "computed")  # a resolver of its own
    assert not _reads(schema, "guarded")  # a permission class is an extension


def test_direct_reads_answer_as_strawberry_does():
    plain, direct = (_built(d).execute_sync(QUERY) for d in (False, True))
    assert direct.data == plain.data
    assert direct.data == {
        "thing": {"count": 3, "longName": "three", "computed": 6, "guarded": None}
    }
    assert [e.message for e in direct.errors or ()] == [e.message for e in plain.errors or ()]
    assert [e.path for e in direct.errors or ()] == [e.path for e in plain.errors or ()]


def test_the_served_schema_reads_a_ledger_pages_scalars_directly():
    entry, transaction = (served._schema.type_map[t] for t in ("LedgerEntry", "Transaction"))
    # Ownership's check wraps the read (server/api/ownership.py); the read is still direct.
    for graphql_type, name in [(entry, "amount"), (entry, "createdAt"), (transaction, "kind")]:
        resolve = graphql_type.fields[name].resolve
        assert resolve.__name__ == "guarded_attribute", name
