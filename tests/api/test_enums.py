"""Every enum value of the exported schema says what it means; the error codes say it in
the words of docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import GraphQLEnumType, build_schema

from server.api.error_codes import MEANINGS
from server.api.schema import sdl
from server.core.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]


def test_no_enum_value_of_the_exported_schema_lacks_a_description():
    exported = build_schema(sdl())
    enums = [
        t
        for name, t in exported.type_map.items()
        if isinstance(t, GraphQLEnumType) and not name.startswith("__")
    ]
    assert {"ErrorCode", "AccountKind", "Period"} <= {e.name for e in enums}
    missing = [
        f"{e.name}.{name}"
        for e in enums
        for name, value in e.values.items()
        if not (value.description or "").strip()
    ]
    assert missing == []


def test_error_codes_are_described_as_docs_errors_md_explains_them():
    doc = (ROOT / "docs" / "errors.md").read_text()
    meanings = dict(re.findall(r"^\| `([A-Z_]+)` \| [^|]+ \| (.+) \|$", doc, re.MULTILINE))
    assert {code.value: text for code, text in MEANINGS.items()} == meanings
    assert set(MEANINGS) == set(ErrorCode)
    described = build_schema(sdl()).get_type("ErrorCode").values
    assert described["OUT_OF_STOCK"].description == meanings["OUT_OF_STOCK"]
