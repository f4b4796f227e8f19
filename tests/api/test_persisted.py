"""Automatic persisted queries (Apollo's protocol): by hash once known, the text with its
hash to make it known, the hash checked; over POST and GET; a bounded cache."""

from __future__ import annotations

import hashlib
import json

import pytest

from server.api.persisted import KEPT_LENGTH, PersistedQueries
from server.api.request import InputRefused, Params, RequestRefused

QUERY = "query Who { viewer { role } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
MUTATION = 'mutation { taskCreate(input: {key: "share", title: "Share"}) { userErrors { code } } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


def persisted(digest: str = HASH, version=1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def post(client, keys, body: dict, accept: str = "application/json"):
    headers = {"authorization": f"Bearer {keys['admin']}", "accept": accept}
    return client.post("/graphql", json=body, headers=headers)


def get(client, keys, params: dict):
    headers = {"authorization": f"Bearer {keys['admin']}", "accept": "application/json"}
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return client.get("/graphql", params=encoded, headers=headers)


def test_an_unknown_hash_is_not_found_then_the_text_makes_it_known(client, keys):
    response = post(client, keys, {"extensions": persisted()})
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ],
    }
    # The newer media type: the request did not run, so 400.
    response = post(client, keys, {"extensions": persisted()}, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = post(client, keys, {"query": QUERY, "extensions": persisted()})
    assert registered.json()["data"] == {"viewer": {"role": "admin"}}
    again = post(client, keys, {"extensions": persisted(), "operationName": "Who"})
    assert again.json()["data"] == {"viewer": {"role": "admin"}}
    upper = post(client, keys, {"extensions": persisted(HASH.upper())})
    assert upper.json()["data"] == {"viewer": {"role": "admin"}}


def test_a_text_whose_hash_differs_is_refused_and_not_kept(client, keys):
    other = "{ viewer { name } }"
    response = post(client, keys, {"query": other, "extensions": persisted()})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert "SHA-256" in error["message"]
    missing = post(client, keys, {"extensions": persisted()}).json()
    assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extension, words",
    [
        ({"persistedQuery": {"version": 2, "sha256Hash": HASH}}, "version must be 1"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}, "64 hex digits"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "z" * 64}}, "64 hex digits"),
        ({"persistedQuery": {"version": 1}}, "64 hex digits"),
        ({"persistedQuery": "yes"}, "must be an object"),
        ({"persistedQuery": None}, "no GraphQL query"),
    ],
)
def test_a_malformed_persisted_query_is_refused_saying_what(client, keys, extension, words):
    response = post(client, keys, {"extensions": extension})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert words in error["message"] and error["extensions"]["code"] == "INVALID_INPUT"


def test_a_document_that_does_not_parse_is_not_kept(client, keys):
    broken = "{ viewer { role "
    digest = hashlib.sha256(broken.encode()).hexdigest()
    first = post(client, keys, {"query": broken, "extensions": persisted(digest)}).json()
    assert first["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    second = post(client, keys, {"extensions": persisted(digest)}).json()
    assert second["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_get_runs_a_known_query_by_hash_and_never_a_mutation(client, keys):
    assert get(client, keys, {"extensions": persisted()}).json()["errors"][0]["extensions"] == {
        "code": "PERSISTED_QUERY_NOT_FOUND"
    }
    assert get(client, keys, {"query": QUERY, "extensions": persisted()}).status_code == 200
    response = get(client, keys, {"extensions": persisted(), "variables": {}})
    assert response.json()["data"] == {"viewer": {"role": "admin"}}
    digest = hashlib.sha256(MUTATION.encode()).hexdigest()
    kept = post(client, keys, {"query": MUTATION, "extensions": persisted(digest)})
    assert kept.json()["data"]["taskCreate"]["userErrors"] == []
    refused = get(client, keys, {"extensions": persisted(digest)})
    assert refused.status_code == 405


def params(text: str | None, digest: str) -> Params:
    return Params(text, None, None, persisted(digest))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_cache_keeps_the_most_recently_used_within_its_bounds():
    cache = PersistedQueries(kept=2, kept_chars=100)
    texts = ["{ a }", "{ b }", "{ c }"]
    for text in texts[:2]:
        cache.keep(cache.resolve(params(text, sha(text))), text)
    cache.resolve(params(None, sha(texts[0])))  # used: the other one goes first
    cache.keep(cache.resolve(params(texts[2], sha(texts[2]))), texts[2])
    assert len(cache) == 2
    with pytest.raises(InputRefused):
        cache.resolve(params(None, sha(texts[1])))
    found = params(None, sha(texts[0]))
    cache.resolve(found)
    assert found.query == texts[0]
    long = "{ " + "x " * 45 + "}"  # 93 characters: past kept_chars with both others
    cache.keep(sha(long), long)
    assert len(cache) == 2
    with pytest.raises(InputRefused):  # the least recently used went
        cache.resolve(params(None, sha(texts[2])))
    cache.resolve(params(None, sha(texts[0])))
    huge = "#" * (KEPT_LENGTH + 1) + "\n{ a }"
    cache.keep(sha(huge), huge)
    with pytest.raises(InputRefused):
        cache.resolve(params(None, sha(huge)))
    with pytest.raises(RequestRefused):
        cache.resolve(params("{ a }", sha("{ b }")))
