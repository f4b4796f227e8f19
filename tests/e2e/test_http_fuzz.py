"""Hypothesis at the HTTP byte level against a real server, on SQLite and PostgreSQL.

Bodies (random bytes, JSON of any shape, GraphQL documents whole, cut and spliced,
hostile scalar values), encodings (UTF-16, UTF-32, Latin-1, a BOM), nesting (JSON and
GraphQL thousands deep), NUL and lone surrogates, methods, content types, Accept and
Authorization headers. Whatever arrives: never a 5xx; /graphql always answers JSON with
a documented code on every error and never INTERNAL; no stack trace in the server's
output; the server still answers /healthz; `jifen ledger verify` passes afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS, IN_CI
from tests.e2e.servers import ROOT, Server
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

EXAMPLES = int(os.environ.get("JIFEN_FUZZ_EXAMPLES", "1500"))
CODES = set(re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "docs/errors.md").read_text(), re.M))

PROGRAM = """program "shop" {
  timezone "Asia/Shanghai"
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
campaign "speak" {
  message award 1
}
campaign "daily" {
  checkin award 5
}
"""
SEED = [
    (
        "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }",
        {"s": PROGRAM},
    ),
    ('mutation { memberUpsert(input: {externalId: "ada", community: "fans"}) { created } }', {}),
    ('mutation { memberUpsert(input: {externalId: "bob", community: "fans"}) { created } }', {}),
    (
        'mutation { pointsAdjust(input: {memberId: "mbr_1", points: 5000, reason: "seed", '
        'idempotencyKey: "seed"}) { userErrors { code } } }',
        {},
    ),
    (
        'mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 10, stock: 5}) '
        "{ userErrors { code } } }",
        {},
    ),
]

# Documents that do something, to be sent whole, cut, spliced or with hostile values.
DOCUMENTS = [
    "{ __typename }",
    "{ me { id availablePoints } }",
    "{ members(first: 3) { edges { node { id externalId availablePoints } } } }",
    "query($id: ID!) { member(id: $id) { externalId ledger(first: 2) { edges { node { amount } } }"
    " } }",
    'query($a: Decimal!) { checkoutQuote(memberId: "mbr_1", orderAmount: $a, currency: "CNY") '
    "{ maxPoints } }",
    'query($at: DateTime) { leaderboard(metric: "checkins", period: DAY, at: $at) { rank } }',
    "query($f: DateTime, $t: DateTime) { ledger(filter: {from: $f, to: $t}) { edges { cursor } } }",
    "mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m, points: $p, "
    "reason: $k, idempotencyKey: $k}) { userErrors { code } } }",
    "mutation($m: ID!, $t: DateTime, $k: String!) { checkinRecord(input: {memberId: $m, "
    "occurredAt: $t, idempotencyKey: $k}) { userErrors { code } } }",
    "mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m, type: "
    '"message", idempotencyKey: $k, attributes: $a}) { userErrors { code } } }',
    "mutation($o: String!, $m: ID!, $p: Int!, $a: Decimal!) { checkoutHold(input: {orderId: $o, "
    'memberId: $m, points: $p, orderAmount: $a, currency: "CNY"}) { userErrors { code } } }',
    "mutation($m: ID!, $i: ID!, $q: Int!, $k: String!) { redemptionCreate(input: {memberId: $m, "
    "itemId: $i, quantity: $q, idempotencyKey: $k}) { userErrors { code } } }",
    "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { created } }",
    "{ __schema { types { name fields { name } } } }",
    "query A { __typename } query B { me { id } }",
    'subscription { pointsChanged(memberId: "mbr_1") { at } }',
    "fragment f on Query { ...f } { ...f }",
]
HOSTILE = [
    "1e400",
    "9" * 32,
    "NaN",
    "-Infinity",
    "0." + "1" * 30,
    "-1",
    "0",
    "59.99",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:00:00-12:00",
    "2026-01-10T00:00:00",
    "2026-01-10T00:00:00+08:00",
    "mbr_1",
    "mbr_٣",
    "mbr_03",
    "mbr_³",
    "itm_1",
    "",
    '=HYPERLINK("x")',
    "a\x00b",
    "x" * 5000,
    2147483648,
    -(2**31) - 1,
    2**64,
    1.5,
    True,
    None,
    [],
    {},
    {"text": "hello  world"},
]
PLAUSIBLE = {
    "id": ["mbr_1", "mbr_2"],
    "m": ["mbr_1", "mbr_2"],
    "i": ["itm_1"],
    "p": [5, -5, 100, 1],
    "q": [1, 2],
    "a": ["59.99", "10", "100.00"],
    "at": ["2026-01-10T00:00:00+08:00"],
    "f": ["2026-01-01T00:00:00Z"],
    "t": [None],
    "o": ["order-1", "order-2"],
    "e": ["carol", "dave"],
    "k": ["key-1", "key-2", "key-3"],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
headers_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
).map(str.strip)


@st.composite
def documents(draw):
    """A document whole, cut short, with text spliced in, or nested deep."""
    text = draw(st.sampled_from(DOCUMENTS))
    how = draw(st.sampled_from(["whole"] * 6 + ["cut", "splice", "deep", "deep list"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "splice":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=10)) + text[at:]
    elif how == "deep":
        n = draw(st.integers(1, 1500))
        text = "{" + "a {" * n + "b" + "}" * n + "}"
    elif how == "deep list":
        n = draw(st.integers(1, 1500))
        text = "{ member(id: " + "[" * n + "]" * n + ") { id } }"
    return how, text


@st.composite
def variables(draw, text: str):
    """Values for the variables the document declares: mostly plausible, some hostile."""
    values = {}
    for name in re.findall(r"\$(\w+):", text):
        pick = draw(st.integers(0, 9))
        if pick < 6:
            values[name] = draw(st.sampled_from(PLAUSIBLE.get(name, [None])))
        elif pick < 9:
            values[name] = draw(st.sampled_from(HOSTILE))
        else:
            values[name] = draw(json_values)
    return values


@st.composite
def json_bodies(draw):
    """(category, body bytes) for a JSON request of some shape, in some encoding."""
    how, query = draw(documents())
    body: dict = {}
    if draw(st.integers(0, 9)):
        body["query"] = query if draw(st.integers(0, 9)) else draw(json_values)
    if draw(st.integers(0, 9)):
        body["variables"] = draw(variables(query)) if draw(st.integers(0, 9)) else draw(json_values)
    if draw(st.integers(0, 4)) == 0:
        body["operationName"] = draw(st.sampled_from(["A", "B", None, 1, ""]))
    if draw(st.integers(0, 6)) == 0:
        body["extensions"] = draw(json_values)
    shape = draw(st.sampled_from(["object"] * 12 + ["batch", "scalar"]))
    value = body if shape == "object" else [body] if shape == "batch" else draw(json_values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    trick = draw(st.sampled_from(["none"] * 10 + ["surrogate", "nul", "deep variables"]))
    if trick == "surrogate":
        text = text.replace('"', '"\\ud800', 1) if '"' in text else text
    elif trick == "nul":
        text = text.replace('"', '"\\u0000', 2)
    elif trick == "deep variables":
        n = draw(st.integers(30, 3000))
        text = (
            json.dumps({"query": "{ __typename }"})[:-1]
            + ', "variables": '
            + ('{"a":' * n + "1" + "}" * n + "}")
        )
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["utf-16", "utf-32", "latin-1", "utf-8-sig"]))
    data = text.encode(encoding, errors="replace")
    category = f"json {shape}, document {how}, {trick}, {encoding}"
    return category, data


raw_bodies = st.tuples(st.just("random bytes"), st.binary(min_size=1, max_size=300))

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-16",
    "application/json;charset=latin-1",
    "text/plain",
    "application/graphql",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    "*/*",
]
ACCEPTS = [
    None,
    "application/json",
    "application/graphql-response+json",
    "*/*",
    "text/html",
    "application/graphql-response+json, application/json;q=0.9",
    "image/png",
]


@st.composite
def requests(draw):
    """(category, method, params, headers, body) of one HTTP request to /graphql."""
    method = draw(
        st.sampled_from(["POST"] * 20 + ["GET"] * 5 + ["PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"])
    )
    headers = {}
    content_type = draw(st.sampled_from(CONTENT_TYPES) if draw(st.integers(0, 9)) else headers_text)
    if draw(st.integers(0, 9)) < 7:
        content_type = "application/json"
    if content_type:
        headers["content-type"] = content_type
    accept = draw(st.sampled_from(ACCEPTS) if draw(st.integers(0, 9)) else headers_text)
    if accept is not None:
        headers["accept"] = accept
    who = draw(st.sampled_from(["admin", "member", "none", "garbage"]))
    if draw(st.integers(0, 5)) == 0:
        headers["content-encoding"] = draw(st.sampled_from(["gzip", "br", "identity"]))
    params = None
    if method in ("GET", "HEAD"):
        how, query = draw(documents())
        params = {"query": query}
        if draw(st.booleans()):
            params["variables"] = draw(
                st.one_of(st.builds(json.dumps, variables(query)), st.text(max_size=30))
            )
        if draw(st.integers(0, 3)) == 0:
            params = {k: v for k, v in params.items() if k != "query"}
        category, body = f"document {how}", b""
    else:
        category, body = draw(json_bodies() if draw(st.integers(0, 4)) else raw_bodies)
    return f"{method} {category}", method, params, headers, who, body


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    """A seeded server on each backend: (server, admin key, member token, url of its db)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        yield from _serve(url)
        return
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            yield from _serve(url)
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


def _serve(url):
    # A budget no fuzzing run spends: the budget is tested elsewhere, the input here.
    server = Server(url, JIFEN_COST_BUDGET="100000000").start()
    try:
        key = server.admin_key()
        for query, variables in SEED:
            body = _post(server, key, query, variables)
            assert "errors" not in body, body
        token = _post(
            server, key, 'mutation { memberTokenCreate(memberId: "mbr_1") { token } }', {}
        )["data"]["memberTokenCreate"]["token"]
        server.seen, server.outcomes = Counter(), Counter()
        yield server, key, token, url
    finally:
        stop(server)


def stop(server) -> str:
    """Stop the server and return everything it printed (the server reads its output as
    it comes, tests/e2e/servers.py)."""
    if server.proc.poll() is None:
        server.proc.terminate()
        server.proc.wait(timeout=10)
    return server._output()


def _post(server, key, query, variables):
    return httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ).json()


def test_no_bytes_make_the_server_fail(live):
    server, key, token, url = live
    tokens = {"admin": key, "member": token, "garbage": "jfm_AAAA.BBBB", "none": None}

    with httpx.Client(base_url=server.url, timeout=30) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(requests())
        def attack(request):
            category, method, params, headers, who, body = request
            if tokens[who]:
                headers = {**headers, "authorization": f"Bearer {tokens[who]}"}
            server.seen.update(category.split(", "))
            response = client.request(
                method, "/graphql", params=params, headers=headers, content=body or None
            )
            assert response.status_code < 500, (category, body[:200], response.text[:300])
            if method == "HEAD" or response.headers.get("content-type", "").startswith("text/html"):
                return
            assert response.headers["content-type"].startswith(
                ("application/json", "application/graphql-response+json")
            ), (category, response.headers)
            answer = response.json()
            server.outcomes[response.status_code] += 1
            server.outcomes["ran" if "data" in answer and answer["data"] else "refused"] += 1
            for error in answer.get("errors") or ():
                code = error["extensions"]["code"]
                server.outcomes[code] += 1
                assert code in CODES and code != "INTERNAL", (category, body[:200], error)

        attack()
        assert client.get("/healthz").status_code == 200
    tried = sum(n for kind, n in server.seen.items() if kind.split()[0].isupper())
    print(f"\n{tried} requests by kind: {dict(sorted(server.seen.items()))}")
    print(f"outcomes: {dict(sorted(server.outcomes.items(), key=str))}")
    assert tried >= EXAMPLES
    verified = subprocess.run(
        [sys.executable, "-m", "server.cli", "ledger", "verify"],
        env={"DATABASE_URL": url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert verified.returncode == 0, verified.stderr
    output = stop(server)
    assert "Traceback" not in output, output[-3000:]
