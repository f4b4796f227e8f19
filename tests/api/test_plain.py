"""Plain attributes are read straight off the object, with the answers strawberry gives."""

from __future__ import annotations

import strawberry
from strawberry.permission import BasePermission
from strawberry.resolvers import is_default_resolver

from server.api.plain import read_directly
from server.api.schema import schema as served

QUERY = "{ thing { count longName computed guarded named times(by: 3) } }"


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

    @strawberry.field
    def named(self, info: strawberry.Info) -> str:
        return info.field_name

    @strawberry.field
    def times(self, by: int) -> int:
        return self.count * by


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


def _resolver(schema: strawberry.Schema, field: str) -> str:
    return schema._schema.type_map["Thing"].fields[field].resolve.__name__


def test_only_basic_fields_and_methods_of_the_object_alone_are_direct():
    schema = _built(direct=True)
    assert _resolver(schema, "count") == _resolver(schema, "longName") == "attribute"
    assert _resolver(schema, "computed") == "call"
    # strawberry's own: a permission class is an extension; `info` and arguments are given.
    assert {_resolver(schema, f) for f in ("guarded", "named", "times")} == {"_resolver"}


def test_a_direct_read_is_still_a_default_resolver_and_a_method_is_not():
    # strawberry's tracing makes a span of each field whose resolver is not the default.
    plain, direct = (_built(d)._schema.type_map["Thing"].fields for d in (False, True))
    for name in ("count", "longName", "computed", "guarded", "named", "times"):
        expected = is_default_resolver(plain[name].resolve)
        assert is_default_resolver(direct[name].resolve) is expected, name


def test_direct_reads_answer_as_strawberry_does():
    plain, direct = (_built(d).execute_sync(QUERY) for d in (False, True))
    assert direct.data == plain.data
    assert direct.data == {
        "thing": {
            "count": 3,
            "longName": "three",
            "computed": 6,
            "guarded": None,
            "named": "named",
            "times": 9,
        }
    }
    assert [e.message for e in direct.errors or ()] == [e.message for e in plain.errors or ()]
    assert [e.path for e in direct.errors or ()] == [e.path for e in plain.errors or ()]


def test_the_served_schema_reads_a_ledger_pages_scalars_directly():
    entry, transaction = (served._schema.type_map[t] for t in ("LedgerEntry", "Transaction"))
    # Ownership's check wraps the read (server/api/ownership.py); the read is still direct.
    for graphql_type, name in [(entry, "amount"), (entry, "createdAt"), (transaction, "kind")]:
        resolve = graphql_type.fields[name].resolve
        assert resolve.__name__ == "guarded_attribute", name


def test_the_served_schema_calls_an_entrys_transaction_method_directly():
    resolve = served._schema.type_map["LedgerEntry"].fields["transaction"].resolve
    assert resolve.__name__ == "guarded"  # ownership's check, around the direct call
    inner = {c.cell_contents.__name__ for c in resolve.__closure__ if callable(c.cell_contents)}
    assert "call" in inner
