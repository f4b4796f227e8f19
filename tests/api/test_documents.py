"""Documents are parsed, measured and validated once per text, in one walk."""

from __future__ import annotations

from server.api import documents
from server.api.documents import Documents
from server.api.schema import schema

MEMBERS = "query($n: Int) { members(first: $n) { edges { node { id } } } }"


def bomb(levels: int) -> str:
    """Fragments spread into each other twice per level: tiny text, 2**levels aliases."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ a: __typename }}"


def test_a_text_is_parsed_measured_and_validated_once(monkeypatch):
    calls = []
    real = documents.validate
    monkeypatch.setattr(documents, "validate", lambda *a: calls.append(1) or real(*a))
    kept = Documents()
    kept.schema = schema.documents.schema
    first = kept.get(MEMBERS)
    assert kept.get(MEMBERS) is first
    assert kept.errors(first) == [] and kept.errors(first) == []
    assert calls == [1]
    # The price is the plan's, evaluated with each request's variables.
    assert first.measure.cost(None, {"n": 2}) == 1 + 2 * 3
    assert first.measure.cost(None, {"n": 50}) == 1 + 50 * 3


def test_long_texts_are_prepared_but_not_kept():
    kept = Documents()
    long = "{ " + "__typename " * 2000 + "}"
    assert len(long) > documents.KEPT_LENGTH
    assert kept.get(long) is not kept.get(long)


def test_fragments_spread_into_each_other_are_refused_for_what_they_expand_to(api):
    body = api.raw(bomb(25))
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Counted, not expanded: each fragment is walked once.
    assert error["message"] == f"{2**25} aliases found. Allowed: {documents.MAX_ALIASES}"
