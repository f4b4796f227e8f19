"""Checks that keep the project honest: schema file, descriptions, docs, imports, commands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from server.api.schema import schema, sdl
from server.cli import _parser
from server.core.errors import ErrorCode

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_every_type_field_and_argument_has_a_description():
    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        roots = ("Query", "Mutation", "Subscription")
        if not graphql_type.description and name not in roots:
            missing.append(name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInputObjectType)):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description and name in roots:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(graphql_type, GraphQLEnumType) and not graphql_type.description:
            missing.append(name)
    assert missing == []


def test_every_error_code_is_documented():
    doc = (ROOT / "docs" / "errors.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", doc, re.MULTILINE))
    assert documented == {c.value for c in ErrorCode}


LAYERS = {
    # package: what it may not import
    "dsl": ("server", "peewee", "playhouse", "strawberry", "starlette", "uvicorn"),
    "server/store": (
        "server.core",
        "server.api",
        "server.app",
        "server.cli",
        "strawberry",
        "starlette",
        "uvicorn",
    ),
    "server/core": ("server.api", "server.app", "server.cli", "strawberry", "starlette", "uvicorn"),
    "server/api": ("server.app", "server.cli"),
}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_only_point_down(package):
    crossings = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if any(
                    name == banned or name.startswith(banned + ".") for banned in LAYERS[package]
                ):
                    crossings.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert crossings == []


def test_readme_gives_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    commands = re.findall(r"^```(?:sh|bash)\n(.+?)\n```", readme, re.MULTILINE | re.DOTALL)
    assert commands[:2] == ["make serve", "make test"]


def _commands(parser, prefix=()):
    yield prefix
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


@pytest.mark.parametrize("command", list(_commands(_parser())), ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        _parser().parse_args([*command, "--help"])
    assert done.value.code == 0
    assert "usage: jifen" in capsys.readouterr().out
