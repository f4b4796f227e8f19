"""GDPR: a member's data export, and erasure that leaves the books whole."""

from __future__ import annotations

from server.core import auth
from server.core.verify import verify
from server.store.db import is_postgres
from tests.support import GraphQLErrors

RULES = """campaign "welcome" {
  join award 50
}
campaign "invite" {
  referral award 10 until invitee leaves
}
campaign "speak" {
  message award 1
}
"""
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!, $n: String, $b: Date, $c: String, $by: String) {
  memberUpsert(input: {externalId: $e, displayName: $n, birthday: $b, community: $c,
  invitedByExternalId: $by}) { member { id } userErrors { code field } } }"""
LEAVE = """mutation($m: ID!, $c: String!) { memberLeave(memberId: $m, community: $c) {
  userErrors { code } } }"""
MESSAGE = """mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m,
  type: "message", idempotencyKey: $k, attributes: $a}) { userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $r: String!, $k: String!) { pointsAdjust(input: {
  memberId: $m, points: $p, reason: $r, idempotencyKey: $k}) { userErrors { code } } }"""
CHECKIN = """mutation($m: ID!) { checkinRecord(input: {memberId: $m,
  idempotencyKey: "checkin-wx-10001"}) { userErrors { code } } }"""
ERASE = """mutation($m: ID!, $r: String!) { memberErase(memberId: $m, reason: $r) {
  member { id externalId displayName birthday availablePoints }
  replayed userErrors { code field } } }"""
EXPORT = "query($m: ID!) { memberDataExport(memberId: $m) }"
BOOKS = """query($m: ID!) { member(id: $m) { availablePoints pendingPoints
  ledger(first: 100) { edges { node { id amount balanceAfter } } } } }"""
SUMMARY = """{ ledgerSummary(from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z") {
  outstanding rows { group issued spent expired members } } }"""

ADA = "wx-10001"
# Contains ADA's externalId: erasing ADA must leave it whole.
NEIGHBOUR = "wx-100012"


def _member(api, external_id, **extra) -> str:
    variables = {"e": external_id, **extra}
    return api.mutate(UPSERT, variables)["member"]["id"]


def _scenario(api, keys):
    """ADA joins through bob, invites NEIGHBOUR, speaks, checks in, redeems nothing, gets
    an adjustment named after her, acts with her own token, and leaves."""
    api.mutate(PUBLISH, {"s": RULES})
    _member(api, "bob", c="fans")
    ada = _member(api, ADA, n="Ada Lovelace", b="1990-12-10", c="fans", by="bob")
    neighbour = _member(api, NEIGHBOUR, c="fans", by=ADA)
    for n, text in enumerate(["hello from wx-10001", "I am Ada, wx-10001 on the platform"]):
        api.mutate(MESSAGE, {"m": ada, "k": f"msg-{ADA}-{n}", "a": {"text": text, "me": ADA}})
    api.mutate(ADJUST, {"m": ada, "p": 25, "r": f"welcome gift for {ADA}", "k": f"gift-{ADA}"})
    token = api.call("mutation($m: ID!) { memberTokenCreate(memberId: $m) { token } }", {"m": ada})
    member_api = api.as_(token["memberTokenCreate"]["token"])
    member_api.mutate(CHECKIN, {"m": ada})
    api.mutate(LEAVE, {"m": ada, "c": "fans"})  # bob's referral is taken back, naming ADA
    return ada, neighbour, member_api


def _text_cells(db) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text cell of every table in the database."""
    if is_postgres(db):
        columns = db.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN "
            "('text', 'character varying', 'character', 'json', 'jsonb')"
        ).fetchall()
    else:
        columns = []
        tables = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table,) in tables.fetchall():
            for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall():
                columns.append((table, row[1]))
    cells = []
    for table, column in columns:
        for (value,) in db.execute_sql(f'SELECT "{column}" FROM "{table}"').fetchall():
            if isinstance(value, str):
                cells.append((table, column, value))
    assert len(cells) > 100  # the walk did read the database
    return cells


def _mentions(cells, needle: str) -> list[tuple[str, str, str]]:
    return [c for c in cells if needle in c[2].replace(NEIGHBOUR, "")]


def test_erasure_removes_the_external_id_everywhere_and_keeps_the_books(api, keys, db):
    ada, neighbour, _ = _scenario(api, keys)
    before = {m: api.call(BOOKS, {"m": m}) for m in (ada, neighbour)}
    summary = api.call(SUMMARY)
    cells = _text_cells(db)
    assert {t for t, _, _ in _mentions(cells, ADA)} >= {
        "member",
        "event",
        "ledger_transaction",
        "audit_entry",
        "idempotency_key",
    }
    assert _mentions(cells, "Ada Lovelace")

    erased = api.mutate(ERASE, {"m": ada, "r": f"request of {ADA} under GDPR art. 17"})
    number = ada.removeprefix("mbr_")
    assert erased["member"] == {
        "id": ada,
        "externalId": f"erased-{number}",
        "displayName": None,
        "birthday": None,
        "availablePoints": before[ada]["member"]["availablePoints"],
    }
    assert erased["replayed"] is False

    cells = _text_cells(db)
    assert _mentions(cells, ADA) == []
    assert _mentions(cells, "Ada Lovelace") == []
    assert _mentions(cells, "I am Ada") == []
    # The neighbour's own externalId, which contains ADA's, is untouched.
    assert any(value == NEIGHBOUR for t, c, value in cells if (t, c) == ("member", "external_id"))
    # The books: every balance, entry and total as before, and every invariant holds.
    assert {m: api.call(BOOKS, {"m": m}) for m in (ada, neighbour)} == before
    assert api.call(SUMMARY) == summary
    report = verify()
    assert report.ok, report.problems
    log = api.call("{ auditLog(first: 5) { edges { node { action target details } } } }")
    last = log["auditLog"]["edges"][0]["node"]
    assert last == {
        "action": "member.erase",
        "target": number,
        "details": {"reason": f"request of erased-{number} under GDPR art. 17"},
    }


def test_a_second_erasure_replays_and_changes_nothing(api, keys, db):
    ada, _, _ = _scenario(api, keys)
    first = api.mutate(ERASE, {"m": ada, "r": "asked"})
    audit_rows = db.execute_sql("SELECT count(*) FROM audit_entry").fetchone()[0]
    again = api.mutate(ERASE, {"m": ada, "r": "asked again"})
    assert again["replayed"] is True and again["member"] == first["member"]
    assert db.execute_sql("SELECT count(*) FROM audit_entry").fetchone()[0] == audit_rows


def test_only_an_admin_erases_and_bad_input_changes_nothing(api, keys):
    ada = _member(api, ADA, n="Ada")
    for role in ("operator", "service", "analyst", "reviewer"):
        body = api.as_(role).raw(ERASE, {"m": ada, "r": "no"})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
    refused = api.call(ERASE, {"m": ada, "r": "  "})["memberErase"]
    assert refused["userErrors"] == [{"code": "INVALID_INPUT", "field": "reason"}]
    missing = api.call(ERASE, {"m": "mbr_999999", "r": "x"})["memberErase"]
    assert missing["userErrors"] == [{"code": "MEMBER_NOT_FOUND", "field": "memberId"}]
    name = api.call("query($m: ID!) { member(id: $m) { externalId displayName } }", {"m": ada})
    assert name == {"member": {"externalId": ADA, "displayName": "Ada"}}


def test_a_member_exports_everything_stored_about_them(api, keys):
    ada, neighbour, member_api = _scenario(api, keys)
    document = member_api.call(EXPORT, {"m": ada})["memberDataExport"]
    assert document["member"]["id"] == ada
    assert document["member"]["external_id"] == ADA
    assert document["member"]["display_name"] == "Ada Lovelace"
    assert document["member"]["birthday"] == "1990-12-10"
    assert document["erased"] is False
    tables = document["tables"]
    assert {"membership", "event", "checkin", "account", "ledger_transaction", "posting"} <= set(
        tables
    )
    texts = [e["attributes"].get("text") for e in tables["event"] if e["type"] == "message"]
    assert texts == ["hello from wx-10001", "I am Ada, wx-10001 on the platform"]
    assert all(e["id"].startswith("evt_") and e["member"] == ada for e in tables["event"])
    assert all(
        p["id"].startswith("ent_") and p["txn"].startswith("txn_") for p in tables["posting"]
    )
    ledger = api.call(BOOKS, {"m": ada})["member"]["ledger"]["edges"]
    assert sorted(p["id"] for p in tables["posting"]) == sorted(e["node"]["id"] for e in ledger)
    # Nothing of another member's own rows.
    assert all(row.get("member") in (ada, None) for rows in tables.values() for row in rows)
    # An admin gets the same document.
    assert api.call(EXPORT, {"m": ada})["memberDataExport"] == document
    # Another member's token, and staff other than admin, get nothing.
    other = auth.member_token(int(neighbour.removeprefix("mbr_")), now=_now(api))
    for who in (other, "operator", "analyst", "service"):
        body = api.as_(who).raw(EXPORT, {"m": ada})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who


def test_the_export_of_an_erased_member_holds_nothing_that_named_them(api, keys):
    ada, _, _ = _scenario(api, keys)
    api.mutate(ERASE, {"m": ada, "r": "asked"})
    document = api.call(EXPORT, {"m": ada})["memberDataExport"]
    assert document["erased"] is True
    assert ADA not in str(document).replace(NEIGHBOUR, "")
    assert all(e["attributes"] == {} for e in document["tables"]["event"])


def test_an_unknown_member_cannot_be_exported(api):
    body = api.raw(EXPORT, {"m": "mbr_424242"})
    assert body["errors"][0]["extensions"]["code"] == "MEMBER_NOT_FOUND"
    try:
        api.call(EXPORT, {"m": "member-1"})
    except GraphQLErrors as errors:
        assert errors.args[0][0]["extensions"]["code"] == "INVALID_ID"
    else:
        raise AssertionError("a malformed id was accepted")


def _now(api):
    return api.client.app.state.clock.now()
