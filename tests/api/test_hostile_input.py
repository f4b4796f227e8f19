"""Hostile input, one row per attack: never a 5xx, never INTERNAL, always JSON with a code
from docs/errors.md, nothing changed, and no stack trace in the server log."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from server.core import accounts, auth
from server.core.accounts import AccountKind
from server.store.models import Checkin, Member

PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
PROGRAM = """program "shop" {
  timezone "Asia/Shanghai"
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
campaign "speak" {
  message award 1
}
"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e, community: "fans"})
  { member { id } userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: $k, idempotencyKey: $k}) { userErrors { code } } }"""
QUOTE = """query($a: Decimal!) { checkoutQuote(memberId: "mbr_1", orderAmount: $a,
  currency: "CNY") { maxPoints } }"""
HOLD = """mutation($input: CheckoutHoldInput!) { checkoutHold(input: $input) {
  checkout { status } userErrors { code } } }"""
CHECKIN = """mutation($t: DateTime) { checkinRecord(input: {memberId: "mbr_1",
  idempotencyKey: "c1", occurredAt: $t}) { userErrors { code field } } }"""
LEDGER = """query($f: DateTime) { ledger(filter: {from: $f}) { edges { cursor } } }"""
BOARD = """query($at: DateTime) { leaderboard(metric: "checkins", period: DAY, at: $at)
  { rank } }"""
MEMBER = "query($id: ID!) { member(id: $id) { externalId } }"
ITEM = """mutation($input: CatalogItemInput!) { catalogItemCreate(input: $input) {
  item { id cashPrice tags } userErrors { code field } } }"""
MESSAGE = """mutation($k: String!, $t: String!) { eventRecord(input: {memberId: "mbr_1",
  type: "message", idempotencyKey: $k, attributes: {text: $t}}) { event { attributes }
  userErrors { code } } }"""


@pytest.fixture
def shop(api, clock):
    clock.set(datetime(2026, 1, 10, 2, tzinfo=UTC))
    api.mutate(PUBLISH, {"s": PROGRAM})
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    api.mutate(ADJUST, {"m": ada, "p": 5000, "k": "seed"})
    return api


@pytest.fixture
def quiet_log(caplog):
    """Fails the test if anything logged a stack trace."""
    yield caplog
    traced = [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.message]
    assert traced == []


def post(api, body: bytes, content_type: str = "application/json", **headers):
    """A raw POST; an empty `content_type` sends none."""
    if content_type:
        headers["content-type"] = content_type
    headers["authorization"] = f"Bearer {api.token}"
    return api.client.post("/graphql", content=body, headers=headers)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# Finding 5 (HTTP 500 without a token) and the plain-text refusals of finding 8.
BAD_REQUESTS = [
    ("a JSON string", b'"x"', "application/json", 400, "JSON object"),
    ("JSON null", b"null", "application/json", 400, "JSON object"),
    ("a JSON number", b"42", "application/json", 400, "JSON object"),
    ("a batch", b'[{"query": "{ __typename }"}]', "application/json", 400, "batches"),
    ("an empty batch", b"[]", "application/json", 400, "batches"),
    ("not UTF-8", b'{"query": "{ \xff }"}', "application/json", 400, "not UTF-8"),
    ("not JSON", b"{not json", "application/json", 400, "not JSON"),
    ("an empty body", b"", "application/json", 400, "empty"),
    ("no query", b'{"nothing": 1}', "application/json", 400, "no GraphQL query"),
    ("a query that is a number", b'{"query": 1}', "application/json", 400, "`query`"),
    ("variables that are a list", b'{"query": "{a}", "variables": [1]}', None, 400, "`variables`"),
    ("a numeric operationName", b'{"query": "{a}", "operationName": 1}', None, 400, "operation"),
    ("extensions that are text", b'{"query": "{a}", "extensions": "x"}', None, 400, "extensions"),
    (
        "variables nested 400 deep",
        b'{"query": "{ __typename }", "variables": ' + nested(400) + b"}",
        None,
        400,
        "nest deeper",
    ),
    (
        "variables nested 2000 deep",
        b'{"query": "{a}", "variables": ' + nested(2000) + b"}",
        None,
        400,
        "not JSON",
    ),
    (
        "a number beyond a double",
        b'{"query": "{a}", "variables": {"a": 1e400}}',
        None,
        400,
        "not JSON",
    ),
    (
        "a lone surrogate",
        b'{"query": "{ __typename }", "variables": {"e": "\\ud800"}}',
        None,
        400,
        "lone surrogate at variables.e",
    ),
    ("text/plain", b'{"query": "{ __typename }"}', "text/plain", 415, "Content-Type"),
    ("no content type", b'{"query": "{ __typename }"}', "", 415, "Content-Type"),
    (
        "a Latin-1 charset",
        b'{"query": "{ __typename }"}',
        "application/json; charset=latin-1",
        415,
        "UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [row[1:] for row in BAD_REQUESTS],
    ids=[row[0] for row in BAD_REQUESTS],
)
def test_malformed_requests_get_a_coded_json_refusal(
    api, quiet_log, body, content_type, status, words
):
    response = post(api, body, "application/json" if content_type is None else content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert words in error["message"]


def test_mutations_over_get_are_refused_with_405(api, quiet_log):
    response = api.client.get(
        "/graphql",
        params={"query": 'mutation { memberUpsert(input: {externalId: "g"}) { created } }'},
        headers={"authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert Member.select().count() == 0


def test_other_methods_get_a_json_405(api, quiet_log):
    response = api.client.put("/graphql", content=b'{"query": "{ __typename }"}')
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


# Finding 8: every top-level error carries a code, by the step that refused it.
DEEP = (
    "{ members { edges { node { ledger { edges { node { transaction { entries { "
    "transaction { entries { transaction { id } } } } } } } } } } } }"
)
CODED = [
    ("bad syntax", "{ __typename ", {}, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
    ("an unknown field", "{ nothing }", {}, "GRAPHQL_VALIDATION_FAILED", "nothing"),
    ("too deep", DEEP, {}, "GRAPHQL_VALIDATION_FAILED", "maximum operation depth"),
    (
        "too many aliases",
        "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "aliases",
    ),
    (
        "too many tokens",
        "{ " + " ".join("__typename" for _ in range(3000)) + " }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "tokens",
    ),
    (
        "an Int out of range",
        ADJUST,
        {"m": "mbr_1", "p": 2147483648, "k": "k"},
        "BAD_USER_INPUT",
        "$p",
    ),
    ("a missing variable", ADJUST, {"m": "mbr_1", "k": "k"}, "BAD_USER_INPUT", "$p"),
    (
        "two operations, none named",
        'query A { __typename } mutation B { memberUpsert(input: {externalId: "x"}) { created } }',
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "operationName",
    ),
    (
        "only a fragment",
        "fragment f on Query { __typename }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "no operation",
    ),
    ("a NUL in a variable", UPSERT, {"e": "a\x00b"}, "INVALID_INPUT", "NUL"),
    (
        "a NUL in a literal",
        'mutation { memberUpsert(input: {externalId: "a\\u0000b"}) { created } }',
        {},
        "INVALID_INPUT",
        "argument `input`",
    ),
    (
        "a subscription over HTTP",
        'subscription { pointsChanged(memberId: "mbr_1") { at } }',
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "WebSocket",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "code", "words"),
    [row[1:] for row in CODED],
    ids=[row[0] for row in CODED],
)
def test_every_request_error_has_a_code_and_runs_nothing(
    api, quiet_log, query, variables, code, words
):
    body = api.raw(query, variables)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]][:1] == [code], body
    assert words in body["errors"][0]["message"]
    assert Member.select().count() == 0


def test_a_named_operation_of_several_runs_alone(api):
    response = api.client.post(
        "/graphql",
        json={
            "query": 'query A { __typename } mutation B { memberUpsert(input: {externalId: "x"})'
            " { created } }",
            "operationName": "A",
        },
        headers={"authorization": f"Bearer {api.token}"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    assert Member.select().count() == 0


# Finding 6: scalars outside what the domain can hold are the caller's fault.
SCALARS = [
    ("an amount of 1e400", QUOTE, {"a": "1e400"}, "$a"),
    ("a 32-digit amount", QUOTE, {"a": "9" * 32}, "$a"),
    ("an amount of NaN", QUOTE, {"a": "NaN"}, "finite"),
    ("an amount of -Infinity", QUOTE, {"a": "-Infinity"}, "finite"),
    ("an amount with 30 decimals", QUOTE, {"a": "0." + "1" * 30}, "after the decimal"),
    (
        "a literal amount of 1e400",
        QUOTE.replace("$a: Decimal!", "").replace("()", "").replace("$a", '"1e400"'),
        {},
        "argument `orderAmount`",
    ),
    (
        "a hold of 1e400",
        HOLD,
        {
            "input": {
                "orderId": "o1",
                "memberId": "mbr_1",
                "points": 10,
                "orderAmount": "1e400",
                "currency": "CNY",
            }
        },
        "orderAmount",
    ),
    ("a check-in in year 0", CHECKIN, {"t": "0001-01-01T00:00:00+14:00"}, "supported range"),
    ("a check-in without an offset", CHECKIN, {"t": "2026-01-10T00:00:00"}, "offset"),
    (
        "an event without an offset",
        MESSAGE.replace("attributes: {text: $t}", "occurredAt: $t").replace(
            "$t: String!", "$t: DateTime"
        ),
        {"k": "e1", "t": "2026-01-10T00:00:00"},
        "offset",
    ),
    ("a ledger from year 0", LEDGER, {"f": "0001-01-01T00:00:00+14:00"}, "$f"),
    ("a ledger from a naive time", LEDGER, {"f": "2026-01-01T00:00:00"}, "offset"),
    ("a board at year 10000", BOARD, {"at": "9999-12-31T23:00:00-12:00"}, "$at"),
    (
        "a literal board time at year 10000",
        '{ leaderboard(metric: "checkins", period: DAY, at: "9999-12-31T23:00:00-12:00")'
        " { rank } }",
        {},
        "argument `at`",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "words"),
    [row[1:] for row in SCALARS],
    ids=[row[0] for row in SCALARS],
)
def test_scalars_the_domain_cannot_hold_are_bad_user_input(
    shop, quiet_log, query, variables, words
):
    body = shop.raw(query, variables)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert words in error["message"]
    assert Checkin.select().count() == 0


def test_a_lone_surrogate_in_any_string_argument_is_refused(shop, quiet_log):
    for query, variables in [
        (UPSERT, {"e": "\ud800"}),
        (MESSAGE, {"k": "k", "t": "hi \udc00"}),
        (ADJUST, {"m": "mbr_1", "p": 5, "k": "\udbff"}),
    ]:
        text = json.dumps({"query": query, "variables": variables})  # escapes as \udXXX
        response = post(shop, text.encode())
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert "lone surrogate at variables." in error["message"]
    assert Member.select().count() == 1


def test_the_export_refuses_a_range_it_cannot_stream(shop, quiet_log):
    headers = {"authorization": f"Bearer {shop.token}"}
    response = shop.client.get(
        "/export/ledger.csv",
        params={"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T00:00:00+00:00"},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_INPUT"
    assert "`from`" in response.json()["message"]
    whole = shop.client.get(
        "/export/ledger.csv",
        params={"from": "0002-01-01T00:00:00+00:00", "to": "9998-12-31T00:00:00+00:00"},
        headers=headers,
    )
    assert whole.status_code == 200
    assert len(list(csv.reader(io.StringIO(whole.text)))) == 3  # header and the seed's two


# Finding 11, the parts about input.
@pytest.mark.parametrize("given", ["mbr_٣", "mbr_03", "mbr_³", "mbr_3 ", "mbr_+3", "mbr_๓"])
def test_ids_take_only_canonical_ascii_digits(shop, quiet_log, given):
    shop.mutate(UPSERT, {"e": "b"})
    shop.mutate(UPSERT, {"e": "c"})
    (error,) = shop.raw(MEMBER, {"id": given})["errors"]
    assert error["extensions"]["code"] == "INVALID_ID"
    assert shop.call(MEMBER, {"id": "mbr_3"})["member"] == {"externalId": "c"}


def _flip_unused_bits(part: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(part) * 6 % 8, "this part has no unused bits"
    last = alphabet.index(part[-1])
    return part[:-1] + alphabet[last ^ 1]


def test_member_tokens_are_refused_unless_byte_for_byte_as_signed(shop, clock, quiet_log):
    token = auth.member_token(1, now=clock.now(), ttl=timedelta(hours=1))
    prefix = token[: len(auth.TOKEN_PREFIX)]
    body, signature = token[len(auth.TOKEN_PREFIX) :].split(".")
    assert base64.urlsafe_b64decode(_flip_unused_bits(signature) + "=") == base64.urlsafe_b64decode(
        signature + "="
    )
    forged = [
        f"{prefix}{body}.{_flip_unused_bits(signature)}",
        f"{prefix}{body}.{signature}=",
        f"{prefix}{body}.{signature[:10]}!{signature[10:]}",
        f"{prefix}{body[:5]} {body[5:]}.{signature}",
    ]
    assert shop.as_(token).call("{ me { externalId } }") == {"me": {"externalId": "ada"}}
    for attempt in forged:
        (error,) = shop.as_(attempt).raw("{ me { externalId } }")["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", attempt


ITEMS = [
    ({"cashPrice": "1000000000.01"}, "cashPrice"),
    ({"cashPrice": "10.001"}, "cashPrice"),
    ({"cashPrice": "-1"}, "cashPrice"),
    ({"tags": ["a"] * 21}, "tags"),
    ({"tags": [""] * 1000}, "tags"),
    ({"tags": ["x" * 41]}, "tags"),
    ({"tags": ["bell\u0007"]}, "tags"),
]


@pytest.mark.parametrize(("change", "field"), ITEMS, ids=[str(c)[:40] for c, _ in ITEMS])
def test_catalog_prices_and_tags_are_bounded(shop, quiet_log, change, field):
    item = {"title": "Mug", "pointsPrice": 10, "currency": "CNY", **change}
    result = shop.call(ITEM, {"input": item})["catalogItemCreate"]
    assert result["item"] is None
    assert result["userErrors"] == [{"code": "INVALID_INPUT", "field": field}]


def test_a_cash_price_is_kept_in_the_currency_s_minor_unit(shop):
    item = {"title": "Mug", "pointsPrice": 10, "currency": "CNY", "cashPrice": "1E+2"}
    created = shop.mutate(ITEM, {"input": {**item, "tags": ["Red", "red ", "blue"]}})["item"]
    assert created["cashPrice"] == "100.00"
    assert created["tags"] == ["blue", "red"]


def test_the_csv_export_escapes_formulas(shop, quiet_log):
    for reason in ['=HYPERLINK("http://evil.example","x")', "+1+1", "@SUM(A1)", "-2+3"]:
        shop.mutate(ADJUST, {"m": "mbr_1", "p": 1, "k": reason})
    text = shop.client.get(
        "/export/ledger.csv",
        params={"from": "2026-01-01T00:00:00+00:00", "to": "2027-01-01T00:00:00+00:00"},
        headers={"authorization": f"Bearer {shop.token}"},
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    reasons = {r["reason"] for r in rows}
    assert '\'=HYPERLINK("http://evil.example","x")' in reasons
    assert {"'+1+1", "'@SUM(A1)", "'-2+3", "seed"} <= reasons
    cells = [v for r in rows for v in r.values()]
    assert not [v for v in cells if v[:1] in ("=", "+", "@") and not v.lstrip("+-").isdigit()]
    assert {r["amount"] for r in rows} >= {"-1", "1"}  # numbers stay numbers


@pytest.mark.parametrize(
    "again",
    ["hello  world", " Hello world ", "HELLO\tWORLD", "hello\u3000world", "ｈｅｌｌｏ world"],
)
def test_a_repeated_message_earns_nothing_however_it_is_spaced(shop, quiet_log, again):
    first = shop.call(MESSAGE, {"k": "m1", "t": "hello world"})["eventRecord"]
    assert "ignored" not in first["event"]["attributes"]
    repeat = shop.call(MESSAGE, {"k": "m2", "t": again})["eventRecord"]
    assert repeat["event"]["attributes"]["ignored"] == "duplicate"


ORDER = """mutation($k: String!, $a: JSON) { eventRecord(input: {memberId: "mbr_1",
  type: "order", idempotencyKey: $k, attributes: $a}) { event { id }
  userErrors { code field } } }"""
ORDERS = """mutation($a: JSON) { eventsRecord(input: {events: [{memberId: "mbr_1", type: "order",
  idempotencyKey: "o-bulk", attributes: $a}]}) { results { event { id } userErrors { code field } }
  userErrors { code } } }"""
PER_AMOUNT = """campaign "shop" {
  order award 100 per 1 amount
}
"""


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"amount": 1e15}, "attributes.amount"),
        ({"amount": 1e27}, "attributes.amount"),
        ({"amount": -1e16}, "attributes.amount"),
        ({"amount": 10**15}, "attributes.amount"),
        ({"cart": {"lines": [{"amount": 1e16}]}}, "attributes.cart.lines.0.amount"),
    ],
)
def test_event_attributes_must_be_finite_bounded_and_storable(shop, quiet_log, attributes, field):
    shop.mutate(PUBLISH, {"s": PROGRAM + PER_AMOUNT})
    result = shop.as_("service").call(ORDER, {"k": f"o-{field}", "a": attributes})["eventRecord"]
    assert (result["event"], result["userErrors"]) == (
        None,
        [{"code": "INVALID_INPUT", "field": field}],
    )
    bulk = shop.as_("service").call(ORDERS, {"a": attributes})["eventsRecord"]
    [one] = bulk["results"]
    assert one["userErrors"] == [{"code": "INVALID_INPUT", "field": f"events.0.{field}"}]


def test_nan_in_a_request_body_is_refused(shop, quiet_log):
    body = (
        b'{"query": "mutation { eventRecord(input: {memberId: \\"mbr_1\\", type: \\"order\\", '
        b'idempotencyKey: \\"nan\\", attributes: {amount: 1}}) { userErrors { code } } }",'
        b' "variables": {"a": NaN}}'
    )
    response = post(shop.as_("service"), body)
    assert response.status_code < 500
    assert "INTERNAL" not in response.text


def test_an_award_from_the_largest_amount_is_capped_at_the_largest_posting(shop, quiet_log):
    """`award 100 per 1 amount` of an order of a trillion would be 10^14 points: one
    posting holds at most 10^9, and that is what is awarded."""
    shop.mutate(PUBLISH, {"s": PROGRAM + PER_AMOUNT})
    result = shop.as_("service").call(
        ORDER, {"k": "big", "a": {"amount": 10**12, "ms": 1732780000000}}
    )
    assert result["eventRecord"]["userErrors"] == []
    ada = Member.get(Member.external_id == "ada")
    assert accounts.wallet(ada.id, AccountKind.AVAILABLE).balance == 5000 + 10**9
