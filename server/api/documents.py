"""A GraphQL document prepared once per text, then kept: parsed, measured against the
limits, priced and validated, so a request that repeats a text repeats none of that work.

The limits and the price come from one walk over the document (`measure`): how deep its
selections nest, how many aliases it uses, and a cost plan that only needs the request's
variables to give the price. Each fragment is walked once however often it is spread, so
a document that spreads fragments into each other many times over costs no more to
measure than it is long (and is refused for what it would expand to).

Pricing: each field costs 1; a field that takes `first` costs 1 plus `first` times what it
selects (20 when `first` is not given, the default page size), `nodes(ids:)` 1 plus the
number of ids times what it selects; `eventsRecord` costs 1 more
per event; introspection is priced by what it reads: `__schema` (the whole schema) 1,000,
`__type` 10.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.language import Visitor
from graphql.validation import NoSchemaIntrospectionCustomRule

from server.api.pagination import DEFAULT_PAGE, MAX_PAGE

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
INTROSPECTION_COST = {"__schema": 1000, "__type": 10}
KEPT = 512  # documents kept per schema
KEPT_LENGTH = 20_000  # longer texts are prepared each time, never kept


class Plan:
    """The cost of a selection set: a constant part and the fields whose price depends
    on the request's variables (`first: $n`, `input: $batch`)."""

    __slots__ = ("fixed", "terms")

    def __init__(self) -> None:
        self.fixed = 0
        # (first, batch, inner); first None: a fragment's selections, added as they are
        self.terms: list[tuple[Any, Any, Plan]] = []

    def cost(self, variables: dict[str, Any], done: dict[int, int] | None = None) -> int:
        if not self.terms:
            return self.fixed
        done = {} if done is None else done  # a fragment's plan is priced once
        if id(self) in done:
            return done[id(self)]
        total = self.fixed
        for first, batch, inner in self.terms:
            if first is None:  # a fragment spread: its selections, as they are
                total += inner.cost(variables, done)
                continue
            pages = _first_of(first, variables)
            total += 1 + pages * inner.cost(variables, done) + _batch_of(batch, variables)
        done[id(self)] = total
        return total

    @property
    def is_fixed(self) -> bool:
        return not self.terms


_EMPTY = Plan()


@dataclass
class Measure:
    """What one walk found: per operation its depth and cost plan; aliases in all."""

    depths: dict[str | None, int] = field(default_factory=dict)
    plans: dict[str | None, Plan] = field(default_factory=dict)
    aliases: int = 0

    def errors(self) -> list[GraphQLError]:
        """The limits the document breaks, if any."""
        out = [
            GraphQLError(f"'{name or 'anonymous'}' exceeds maximum operation depth of {MAX_DEPTH}")
            for name, depth in self.depths.items()
            if depth > MAX_DEPTH
        ]
        if self.aliases > MAX_ALIASES:
            out.append(GraphQLError(f"{self.aliases} aliases found. Allowed: {MAX_ALIASES}"))
        return out

    def cost(self, operation_name: str | None, variables: dict[str, Any] | None) -> int:
        """The price of the operation that would run (the only one, or the one named)."""
        if operation_name is None and len(self.plans) == 1:
            (plan,) = self.plans.values()
        else:
            plan = self.plans.get(operation_name)
        return plan.cost(variables or {}) if plan is not None else 0


def measure(document: DocumentNode) -> Measure:
    """Depth, aliases and cost plans of every operation, in one walk."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(fragments)
    found = Measure()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            depth, aliases, plan = walk.selections(definition.selection_set)
            name = definition.name.value if definition.name else None
            found.depths[name] = max(found.depths.get(name, 0), depth)
            found.plans.setdefault(name, plan)
            found.aliases += aliases
    return found


class _Walk:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, tuple[int, int, Plan]] = {}
        self.busy: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> tuple[int, int, Plan]:
        """(how deep it nests, aliases in it, its cost plan)."""
        plan = Plan()
        depth = aliases = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                if node.alias is not None:
                    aliases += 1
                name = node.name.value
                inner = _EMPTY
                if node.selection_set is not None:
                    inner_depth, inner_aliases, inner = self.selections(node.selection_set)
                    aliases += inner_aliases
                if name.startswith("__"):
                    # Introspection: priced by what it reads, its depth not counted.
                    plan.fixed += INTROSPECTION_COST.get(name, 0)
                    continue
                if node.selection_set is not None:
                    depth = max(depth, 1 + inner_depth)
                first, batch = _first_spec(node), _batch_spec(node)
                if isinstance(first, int) and isinstance(batch, int) and inner.is_fixed:
                    plan.fixed += 1 + first * inner.fixed + batch
                else:
                    plan.terms.append((first, batch, inner))
            else:
                if isinstance(node, InlineFragmentNode):
                    inner_depth, inner_aliases, inner = self.selections(node.selection_set)
                elif isinstance(node, FragmentSpreadNode):
                    inner_depth, inner_aliases, inner = self.fragment(node.name.value)
                else:  # pragma: no cover - the grammar has no other selection
                    continue
                depth = max(depth, inner_depth)
                aliases += inner_aliases
                if inner.is_fixed:
                    plan.fixed += inner.fixed
                else:
                    plan.terms.append((None, None, inner))
        return depth, aliases, plan

    def fragment(self, name: str) -> tuple[int, int, Plan]:
        if name in self.done:
            return self.done[name]
        if name in self.busy or name not in self.fragments:
            return 0, 0, Plan()  # a cycle or an unknown name: validation reports it
        self.busy.add(name)
        self.done[name] = self.selections(self.fragments[name].selection_set)
        self.busy.discard(name)
        return self.done[name]


def _first_spec(node: FieldNode) -> int | str:
    """How many items a field lists: a number, or the variable that says."""
    for arg in node.arguments or ():
        if arg.name.value == "ids":  # nodes(ids:): one object per id
            if isinstance(arg.value, ListValueNode):
                return max(1, min(len(arg.value.values), MAX_PAGE))
            if isinstance(arg.value, VariableNode):
                return arg.value.name.value
        if arg.name.value != "first":
            continue
        value = arg.value
        if isinstance(value, IntValueNode):
            return max(1, min(int(value.value), MAX_PAGE))
        if isinstance(value, VariableNode):
            return value.name.value
        return DEFAULT_PAGE
    if any(a.name.value == "after" for a in node.arguments or ()):
        return DEFAULT_PAGE
    selections = node.selection_set.selections if node.selection_set else ()
    if any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections):
        return DEFAULT_PAGE
    return 1


def _first_of(spec: int | str, variables: dict[str, Any]) -> int:
    if isinstance(spec, int):
        return spec
    given = variables.get(spec)
    if isinstance(given, int) and not isinstance(given, bool):
        return max(1, min(given, MAX_PAGE))
    if isinstance(given, list):  # `ids: $ids`
        return max(1, min(len(given), MAX_PAGE))
    return DEFAULT_PAGE


def _batch_spec(node: FieldNode) -> int | tuple[str, str]:
    """A batch mutation's extra: the length of `input.events`, or where to find it."""
    for arg in node.arguments or ():
        if arg.name.value != "input":
            continue
        value = arg.value
        if isinstance(value, VariableNode):
            return ("input", value.name.value)
        if isinstance(value, ObjectValueNode):
            for item in value.fields:
                if item.name.value != "events":
                    continue
                if isinstance(item.value, ListValueNode):
                    return len(item.value.values)
                if isinstance(item.value, VariableNode):
                    return ("events", item.value.name.value)
    return 0


def _batch_of(spec: int | tuple[str, str], variables: dict[str, Any]) -> int:
    if isinstance(spec, int):
        return spec
    kind, name = spec
    given = variables.get(name)
    if kind == "input":
        given = given.get("events") if isinstance(given, dict) else None
    return len(given) if isinstance(given, list) else 0


@dataclass
class Prepared:
    """One document text, done with once."""

    document: DocumentNode | None
    error: GraphQLError | None = None  # why it does not parse
    operations: list[OperationDefinitionNode] = field(default_factory=list)
    bad_strings: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    measure: Measure = field(default_factory=Measure)
    limit_errors: list[GraphQLError] = field(default_factory=list)
    validation: list[GraphQLError] | None = None  # filled on first use


class Documents:
    """Prepared documents of one schema: the last `KEPT` texts prepared are kept."""

    def __init__(self, rules=None) -> None:
        self.schema: GraphQLSchema | None = None
        self.rules = list(rules or specified_rules)
        self._kept: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def without_introspection(cls) -> Documents:
        return cls([*specified_rules, NoSchemaIntrospectionCustomRule])

    def get(self, text: str) -> Prepared:
        """The prepared document for this text (parsed within the token limit)."""
        prepared = self._kept.get(text)
        if prepared is not None:
            return prepared
        prepared = prepare(text)
        if len(text) <= KEPT_LENGTH:
            with self._lock:
                self._kept[text] = prepared
                if len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        return prepared

    def errors(self, prepared: Prepared) -> list[GraphQLError]:
        """The limits it breaks, else what validation finds (both kept with it)."""
        if prepared.limit_errors:
            return list(prepared.limit_errors)
        if prepared.validation is None:
            assert self.schema is not None and prepared.document is not None
            prepared.validation = validate(self.schema, prepared.document, self.rules)
        return list(prepared.validation)


def prepare(text: str) -> Prepared:
    try:
        document = parse(text, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        return Prepared(None, error)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    try:
        found = measure(document)
        limit_errors = found.errors()
    except RecursionError:  # fragments spread into each other hundreds deep
        found, limit_errors = Measure(), [GraphQLError("the document nests too deeply")]
    return Prepared(
        document,
        operations=operations,
        bad_strings=_bad_strings(document),
        measure=found,
        limit_errors=limit_errors,
    )


def _bad_strings(document: DocumentNode) -> list[tuple[str, str]]:
    """String literals no database stores (NUL, lone surrogates), with the argument."""
    found: list[tuple[str, str]] = []

    class Strings(Visitor):
        def enter_argument(self, node, *_):
            self.argument = node.name.value

        def enter_string_value(self, node: StringValueNode, *_):
            if "\x00" in node.value or has_surrogate(node.value):
                where = getattr(self, "argument", None)
                found.append((f"argument `{where}`" if where else "a string", node.value))

    visit(document, Strings())
    return found


def has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)
