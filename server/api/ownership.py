"""Ownership on the type: a member token reads its own member's private data, nobody else's.

A type that carries what one member owns is declared with `@owned`: every field of it is
private unless the declaration names it public. A private field checks the caller wherever
the object is reached — a root field, a leaderboard row, a draw's member, a transaction's
entries, a mutation's payload — so a new path to the type, or a new field on it, is
covered without anyone remembering to check. Staff keys pass (the root fields decide what
each role may reach); a member token passes for its own member; for another member's
object the field answers FORBIDDEN: null, with an error at its path.

The check wraps each private field's resolver once, when the schema is built: no field
extension and no query per field, since the owner's id is already on the object. Whether
the caller is staff is decided once per request (`Context.reads_all`): a page of 50
ledger entries has about 400 private fields, and for a staff key each costs one test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, default_field_resolver

Owner = Callable[[Any], int | None]  # the owning member's id, from the object


@dataclass(frozen=True)
class Ownership:
    owner: Owner
    public: frozenset[str]  # GraphQL field names anyone who reaches the object may read


OWNED: dict[str, Ownership] = {}  # GraphQL type name -> its ownership


def owned(owner: Owner, public: tuple[str, ...] = ()):
    """Declare whose a type's objects are and which of its fields are public; apply it
    above `@strawberry.type`."""

    def declare(cls):
        OWNED[cls.__strawberry_definition__.name] = Ownership(owner, frozenset(public))
        return cls

    return declare


def enforce(schema: GraphQLSchema) -> None:
    """Put the owner check in front of every private field of every owned type."""
    for name, ownership in OWNED.items():
        graphql_type = schema.get_type(name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise TypeError(f"owned type {name} is not an object type of the schema")
        unknown = ownership.public - set(graphql_type.fields)
        if unknown:
            raise TypeError(f"{name} names public fields it does not have: {sorted(unknown)}")
        for field_name, field in graphql_type.fields.items():
            if field_name not in ownership.public:
                field.resolve = _guarded(field.resolve or default_field_resolver, ownership.owner)


def _guarded(resolve: Callable[..., Any], owner: Owner) -> Callable[..., Any]:
    reads = getattr(resolve, "reads", None)  # a plain attribute (server/api/plain.py)
    if reads is not None:
        read, name = reads

        def guarded_attribute(source: Any, info: Any) -> Any:
            context = info.context
            if not context.reads_all():
                context.check_member(owner(source))
            return read(source, name)

        return guarded_attribute

    def guarded(source: Any, info: Any, **kwargs: Any) -> Any:
        context = info.context
        if not context.reads_all():
            context.check_member(owner(source))
        return resolve(source, info, **kwargs)

    return guarded
