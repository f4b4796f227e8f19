"""A walk of the schema: every path from a root type down to the limits, as documents.

Arguments come from a small world (ids by kind, strings by argument name), so a new field
or type is walked without telling the walk about it. Answers are searched for values that
must not come back.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    Lexer,
    Source,
    TokenKind,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)

from server.api.schema import MAX_DEPTH, MAX_TOKENS, schema


@dataclass
class Arguments:
    """Values to try for arguments: ids by kind (`member`, `draw`, ...), strings by name."""

    ids: dict[str, list[str]]
    strings: dict[str, list[str]]


@dataclass
class Secrets:
    """What must not leak: text found anywhere, ids and numbers found as whole values."""

    text: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    numbers: set[int] = field(default_factory=set)

    def all(self) -> set:
        return self.text | self.ids | self.numbers


NODE_DEPTH = 3  # levels below node(id:) and nodes(ids:)
MAX_VISITS = 2  # how often one type may appear on one path (Transaction.reverses, ...)
GQL = schema._schema


@dataclass(frozen=True)
class Sel:
    """One field selection (or inline fragment) with what it selects."""

    head: str  # `name(args)` or `... on Type`
    head_tokens: int
    children: tuple[Sel, ...] = ()

    @property
    def tokens(self) -> int:
        if not self.children:
            return self.head_tokens
        return self.head_tokens + 2 + sum(c.tokens for c in self.children)

    def render(self) -> str:
        if not self.children:
            return self.head
        return f"{self.head} {{ {' '.join(c.render() for c in self.children)} }}"


def count_tokens(text: str) -> int:
    lexer = Lexer(Source(text))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def sel(name: str, args: str = "", children: tuple[Sel, ...] = ()) -> Sel:
    head = f"{name}({args})" if args else name
    return Sel(head, count_tokens(head), children)


def literal(value) -> str:
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class EnumValue:
    name: str


def values_for(world: Arguments, arg_name: str, arg_type, owner_type: str) -> list:
    """Values worth trying for one argument, from the world; [] when nothing fits."""
    named = get_named_type(arg_type)
    if isinstance(named, GraphQLEnumType):
        return [EnumValue(v) for v in named.values]
    if isinstance(named, GraphQLInputObjectType):
        value = {}
        for name, sub in named.fields.items():
            if is_non_null_type(sub.type) and sub.default_value is Undefined:
                options = values_for(world, name, sub.type, owner_type)
                if not options:
                    return []
                value[name] = options[0]
        return [value]
    if named.name == "ID":
        kind = arg_name[:-2].lower() if arg_name.endswith("Id") else None
        if kind not in world.ids:
            kind = next((k for k in world.ids if owner_type.lower().endswith(k)), None)
        if kind is None:
            return sorted({v for values in world.ids.values() for v in values})
        return world.ids[kind]
    if arg_name in world.strings:
        return world.strings[arg_name]
    if named.name == "DateTime":
        return ["2027-01-01T00:00:00Z" if arg_name in ("to", "until") else "2026-01-01T00:00:00Z"]
    return {"String": ["x"], "Int": [1], "Float": [1.0], "Boolean": [True], "Decimal": ["100"]}.get(
        named.name, []
    )


def argument_sets(world: Arguments, gql_field, at_root: bool) -> list[str]:
    """Rendered argument lists to try. At a root, every combination of the world's values
    for required arguments and for optional ones that pick something out (ids, names);
    below it, the first value of each required argument."""
    owner = get_named_type(gql_field.type).name
    choices = []
    for name, arg in gql_field.args.items():
        required = is_non_null_type(arg.type) and arg.default_value is Undefined
        options = values_for(world, name, arg.type, owner)
        picks = get_named_type(arg.type).name == "ID" or name in world.strings
        if required:
            if not options:
                return []
            choices.append([(name, v) for v in (options if at_root else options[:1])])
        elif at_root and picks and options:
            choices.append([None] + [(name, v) for v in options])
    return [
        ", ".join(f"{name}: {literal(v)}" for name, v in filter(None, combo))
        for combo in itertools.product(*choices)
    ]


def selections(world: Arguments, gql_type, visits: Counter, level: int) -> tuple[Sel, ...]:
    """Everything below `gql_type`: leaves, and object fields while depth and visits allow."""
    if is_abstract_type(gql_type):
        return tuple(
            sel(f"... on {t.name}", "", kids)
            for t in GQL.get_possible_types(gql_type)
            if (kids := selections(world, t, visits + Counter({t.name: 1}), level))
        )
    out = []
    for name, gql_field in gql_type.fields.items():
        arg_sets = argument_sets(world, gql_field, at_root=False)
        if not arg_sets:
            continue
        named = get_named_type(gql_field.type)
        if is_leaf_type(named):
            out.append(sel(name, arg_sets[0]))
        elif level < MAX_DEPTH and visits[named.name] < MAX_VISITS:
            kids = selections(world, named, visits + Counter({named.name: 1}), level + 1)
            if kids:
                out.append(sel(name, arg_sets[0], kids))
    return tuple(out)


BUDGET = MAX_TOKENS - 10  # `query { ... }` and a margin


def split(node: Sel, budget: int) -> list[Sel]:
    """`node` as one or more selections of at most `budget` tokens, each a part of it."""
    if node.tokens <= budget:
        return [node]
    room = budget - node.head_tokens - 2
    parts = [part for child in node.children for part in split(child, room)]
    groups: list[list[Sel]] = [[]]
    for part in parts:
        if groups[-1] and sum(p.tokens for p in groups[-1]) + part.tokens > room:
            groups.append([])
        groups[-1].append(part)
    return [Sel(node.head, node.head_tokens, tuple(g)) for g in groups]


def walk(world: Arguments, root_type=GQL.query_type) -> list[str]:
    """Every field of `root_type` with every argument set, down to the limits, as
    documents within the token limit."""
    keyword = "subscription" if root_type is GQL.subscription_type else "query"
    docs = []
    for name, gql_field in root_type.fields.items():
        named = get_named_type(gql_field.type)
        if named.name == "Node":
            docs.extend(node_docs(world, name, gql_field, keyword))
            continue
        for args in argument_sets(world, gql_field, at_root=True):
            kids = () if is_leaf_type(named) else selections(world, named, Counter([named.name]), 1)
            for part in split(sel(name, args, kids), BUDGET):
                docs.append(f"{keyword} {{ {part.render()} }}")
    return docs


def node_docs(world: Arguments, name: str, gql_field, keyword: str) -> list[str]:
    """`node(id:)` with every id of the world, and `nodes(ids:)` with all of them at once,
    selecting what the ids' types have, NODE_DEPTH levels down. (What those types lead to
    is owner-checked on its own type, and walked to the limits from the other roots; every
    id with every type's whole tree would be the walk again per id, for nothing.)"""
    from server.api.node import TYPES

    (arg,) = gql_field.args
    every = [(kind, value) for kind, values in world.ids.items() for value in values]
    if is_list_type(get_nullable_type(gql_field.args[arg].type)):
        calls = [(literal([v for _, v in every]), sorted({TYPES[k] for k, _ in every}))]
    else:
        calls = [(literal(value), [TYPES[kind]]) for kind, value in every]
    docs = []
    for value, type_names in calls:
        for type_name in type_names:
            gql_type = GQL.get_type(type_name)
            kids = selections(world, gql_type, Counter([type_name]), MAX_DEPTH - NODE_DEPTH)
            fragment = (sel(f"... on {type_name}", "", kids),)
            for part in split(sel(name, f"{arg}: {value}", fragment), BUDGET):
                docs.append(f"{keyword} {{ {part.render()} }}")
    return docs


# -- Looking for values -----------------------------------------------------------------


def found(body: dict, secrets: Secrets) -> dict[str, set]:
    """Which secrets came back, by the path (field names) where each was found."""
    out: dict[str, set] = {}

    def visit(value, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                visit(sub, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for sub in value:
                visit(sub, path)
        elif isinstance(value, str):
            hits = {s for s in secrets.text if s in value}
            hits |= {value} & secrets.ids
            if hits:
                out.setdefault(path, set()).update(hits)
        elif isinstance(value, int) and not isinstance(value, bool):
            if value in secrets.numbers:
                out.setdefault(path, set()).add(value)

    visit(body.get("data"), "")
    for error in body.get("errors") or []:
        hits = {s for s in secrets.text if s in error.get("message", "")}
        if hits:
            out.setdefault("errors", set()).update(hits)
    return out
