"""What a query costs before it runs, and a refilling budget per token.

Each field costs 1; a field that takes `first` costs 1 plus `first` times what it
selects (20 when `first` is not given, the default page size). A token has a budget
that refills evenly over a window; a request costing more than what is left is refused
with RATE_LIMITED and the seconds to wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

from server.api.pagination import DEFAULT_PAGE, MAX_PAGE


@lru_cache(maxsize=512)
def _parse(text: str) -> DocumentNode | None:
    try:
        return parse(text)
    except GraphQLError:
        return None  # the schema reports syntax errors itself


def query_cost(
    text: str, variables: dict[str, Any] | None, operation_name: str | None = None
) -> int:
    """The cost of the operation that would run; 0 if the text does not parse."""
    document = _parse(text)
    if document is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0
    return _selection(operations[0].selection_set, fragments, variables or {}, set())


def _selection(selection_set: SelectionSetNode | None, fragments, variables, seen) -> int:
    if selection_set is None:
        return 0
    total = 0
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__"):
                continue
            inner = _selection(node.selection_set, fragments, variables, seen)
            total += 1 + _first(node, variables) * inner + _batch(node, variables)
        elif isinstance(node, InlineFragmentNode):
            total += _selection(node.selection_set, fragments, variables, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in seen:
                total += _selection(
                    fragments[name].selection_set, fragments, variables, seen | {name}
                )
    return total


def _first(field: FieldNode, variables: dict[str, Any]) -> int:
    for arg in field.arguments or ():
        if arg.name.value != "first":
            continue
        value = arg.value
        if isinstance(value, IntValueNode):
            return max(1, min(int(value.value), MAX_PAGE))
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return max(1, min(int(given), MAX_PAGE)) if isinstance(given, int) else DEFAULT_PAGE
        return DEFAULT_PAGE
    return (
        DEFAULT_PAGE
        if any(a.name.value == "after" for a in field.arguments or ()) or _is_connection(field)
        else 1
    )


def _batch(field: FieldNode, variables: dict[str, Any]) -> int:
    """A batch mutation costs one more per item: the length of its `input.events` list."""
    for arg in field.arguments or ():
        if arg.name.value != "input":
            continue
        value = arg.value
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            items = given.get("events") if isinstance(given, dict) else None
            return len(items) if isinstance(items, list) else 0
        if isinstance(value, ObjectValueNode):
            for item in value.fields:
                if item.name.value != "events":
                    continue
                if isinstance(item.value, ListValueNode):
                    return len(item.value.values)
                if isinstance(item.value, VariableNode):
                    given = variables.get(item.value.name.value)
                    return len(given) if isinstance(given, list) else 0
    return 0


def _is_connection(field: FieldNode) -> bool:
    selections = field.selection_set.selections if field.selection_set else ()
    return any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections)


@dataclass
class _Bucket:
    level: float
    at: float


class Budgets:
    """Per-token budgets, refilled evenly; kept in this process."""

    def __init__(self, capacity: int, window_seconds: int) -> None:
        self.capacity = capacity
        self.rate = capacity / max(window_seconds, 1)
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def charge(self, who: str, cost: int, now: float | None = None) -> tuple[bool, float, float]:
        """Take `cost` if there is enough: (allowed, remaining, seconds until affordable)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                bucket = self._buckets[who] = _Bucket(self.capacity, now)
            bucket.level = min(self.capacity, bucket.level + (now - bucket.at) * self.rate)
            bucket.at = now
            if cost <= bucket.level:
                bucket.level -= cost
                return True, bucket.level, 0.0
            wait = (min(cost, self.capacity) - bucket.level) / self.rate
            return False, bucket.level, wait


def has_nul(text: str, variables: dict[str, Any] | None) -> bool:
    """True if any string in the request holds a NUL character, which no database stores
    the same way (PostgreSQL refuses it; SQLite keeps it): such input is refused early."""
    if "\x00" in text:
        return True
    document = _parse(text)
    if document is not None:
        from graphql import StringValueNode, visit
        from graphql.language import Visitor

        found = []

        class Find(Visitor):
            def enter_string_value(self, node: StringValueNode, *_):
                if "\x00" in node.value:
                    found.append(node)

        visit(document, Find())
        if found:
            return True
    return _nul_in(variables)


def _nul_in(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(k) or _nul_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_nul_in(v) for v in value)
    return False
