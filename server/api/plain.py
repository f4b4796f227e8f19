"""Plain attributes, read straight off the object.

A field without a resolver, an extension or a permission class is what strawberry calls a
basic field: it answers with the config's `default_resolver` (`getattr`) on the field's
Python name. strawberry still reaches it through three calls of its own per value
(`_get_basic_result`, `StrawberryField.get_result` and two property look-ups), and a
page of 50 ledger entries resolves about 450 of them. `read_directly` gives each such
field a resolver that makes the one call strawberry would end with: the same attribute,
the same answer, without the calls in between.

A resolver method that takes the object alone (no arguments, no `info`, no extension or
permission class, not async) is called the same way: strawberry would build an `Info` it
never passes, convert no arguments and run no extension before the one call
`method(obj)` (a page's 50 `LedgerEntry.transaction`). Every other field is left as
strawberry built it, and so is every field of a schema with exception handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.types.field import StrawberryField

# strawberry's GraphQLField.extensions key for the field it was converted from.
DEFINITION = "strawberry-definition"


def read_directly(schema: strawberry.Schema) -> None:
    """Answer every basic field of `schema`'s object types with one attribute read, and
    every field resolved by a method of the object alone with one call."""
    read = schema.config.default_resolver
    handled = bool(schema.exception_handlers)
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field in graphql_type.fields.values():
            definition = field.extensions.get(DEFINITION)
            # strawberry marks the resolver it gives a basic field; a field it wrapped
            # for any reason (exception handlers, say) keeps strawberry's resolver.
            if (
                isinstance(definition, StrawberryField)
                and definition.is_basic_field
                and getattr(field.resolve, "_is_default", False)
            ):
                field.resolve = _attribute(read, definition.python_name)
            elif not handled and isinstance(definition, StrawberryField) and _of_object(definition):
                field.resolve = _method(definition.base_resolver.wrapped_func)


def _of_object(definition: StrawberryField) -> bool:
    resolver = definition.base_resolver
    return (
        resolver is not None
        and isinstance(resolver.wrapped_func, FunctionType)  # not a static or class method
        and resolver.self_parameter is not None
        and not (resolver.info_parameter or resolver.root_parameter or resolver.parent_parameter)
        and not resolver.is_async
        and not definition.arguments
        and not definition.extensions
        and not definition.is_subscription
    )


def _attribute(read: Callable[[Any, str], Any], name: str) -> Callable[..., Any]:
    def attribute(source: Any, info: Any) -> Any:
        return read(source, name)

    # Still strawberry's default resolver, for whoever asks `is_default_resolver` (its
    # tracing extension makes no span for one).
    attribute._is_default = True  # type: ignore[attr-defined]
    # What it reads, for a wrapper that would rather read it itself (server/api/ownership.py).
    attribute.reads = (read, name)  # type: ignore[attr-defined]
    return attribute


def _method(method: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(source: Any, info: Any) -> Any:
        return method(source)

    return call
