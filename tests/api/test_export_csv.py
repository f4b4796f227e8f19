"""The ledger export: ids as the API writes them, a date-only range in the program's time
zone over HTTP as in the command line, and error hints that are themselves accepted."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.api import ids
from server.core import history, program
from server.core.program import ProgramSettings
from server.store.db import write_transaction

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) {
  member { id } userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "r", idempotencyKey: $k}) { transaction { id } userErrors { code } } }"""
CHECKIN = """mutation($m: ID!) { checkinRecord(input: {memberId: $m, idempotencyKey: "c"}) {
  event { id transactions { id } } userErrors { code } } }"""
REVERSE = """mutation($t: ID!) { transactionReverse(input: {transactionId: $t, reason: "oops"})
  { reversal { id } userErrors { code } } }"""
LEDGER = """query($m: ID!) { member(id: $m) { ledger(first: 50) { edges { node { id
  transaction { id } } } } } }"""


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _export(client, key, since, until):
    return client.get(
        "/export/ledger.csv",
        params={"from": since, "to": until},
        headers={"authorization": f"Bearer {key}"},
    )


def test_the_export_writes_ids_as_the_api_does(api, client, keys):
    api.mutate(PUBLISH, {"s": 'campaign "daily" {\n  checkin award 5\n}\n'})
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    adjusted = api.mutate(ADJUST, {"m": ada, "p": 30, "k": "a"})["transaction"]["id"]
    checkin = api.mutate(CHECKIN, {"m": ada})["event"]
    reversal = api.mutate(REVERSE, {"t": adjusted})["reversal"]["id"]

    response = _export(client, keys["analyst"], "2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z")
    assert response.status_code == 200
    rows = _rows(response.text)
    wallet = [r for r in rows if r["member_id"]]
    ledger = api.call(LEDGER, {"m": ada})["member"]["ledger"]["edges"]
    assert {(r["entry_id"], r["transaction_id"]) for r in wallet} == {
        (e["node"]["id"], e["node"]["transaction"]["id"]) for e in ledger
    }
    assert {r["member_id"] for r in wallet} == {ada}
    assert all(re.fullmatch(r"ent_\d+", r["entry_id"]) for r in rows)
    assert all(re.fullmatch(r"txn_\d+", r["transaction_id"]) for r in rows)
    award = [r for r in rows if r["transaction_kind"] == "award"]
    assert {r["event_id"] for r in award} == {checkin["id"]}
    assert {r["transaction_id"] for r in award} == {t["id"] for t in checkin["transactions"]}
    undone = [r for r in rows if r["transaction_id"] == reversal]
    assert {r["reverses_transaction_id"] for r in undone} == {adjusted}
    assert all(r["reverses_transaction_id"] == "" for r in rows if r not in undone)
    # Program accounts' entries name no member.
    assert all(r["member_id"] == "" for r in rows if r not in wallet)


def test_the_export_prefixes_are_the_apis():
    assert history.ID_PREFIXES == {
        kind: ids.PREFIXES[kind] for kind in ("entry", "transaction", "member", "event")
    }


def _shanghai_and_two_adjustments(api, clock):
    """Entries at 23:30 on 1 March and 00:30 on 2 March, Shanghai time."""
    with write_transaction():
        program.save(ProgramSettings(timezone="Asia/Shanghai"))
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    clock.set(datetime(2026, 3, 1, 15, 30, tzinfo=UTC))
    late = api.mutate(ADJUST, {"m": ada, "p": 1, "k": "late"})["transaction"]["id"]
    clock.set(datetime(2026, 3, 1, 16, 30, tzinfo=UTC))
    early = api.mutate(ADJUST, {"m": ada, "p": 2, "k": "early"})["transaction"]["id"]
    return late, early


def test_a_date_only_range_is_midnight_in_the_programs_time_zone_over_http(
    api, client, keys, clock
):
    late, early = _shanghai_and_two_adjustments(api, clock)
    response = _export(client, keys["analyst"], "2026-03-02", "2026-03-03")
    assert response.status_code == 200, response.text
    assert {r["transaction_id"] for r in _rows(response.text)} == {early}
    before = _export(client, keys["analyst"], "2026-03-01", "2026-03-02")
    assert {r["transaction_id"] for r in _rows(before.text)} == {late}
    assert "ledger-20260302-20260303.csv" in response.headers["content-disposition"]


def test_the_command_line_reads_a_date_the_same_way(api, keys, clock, db_url, tmp_path):
    late, early = _shanghai_and_two_adjustments(api, clock)
    out = tmp_path / "march.csv"
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "export", "ledger"]
        + ["--from", "2026-03-02", "--to", "2026-03-03", "-o", str(out)],
        cwd=ROOT,
        env={"PATH": "/usr/bin", "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert {r["transaction_id"] for r in _rows(out.read_text())} == {early}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("2026-03-02T00:00", "`from` needs a time zone offset, e.g. 2026-03-02T00:00:00+00:00"),
        ("2026-03-02 00:00:00", "`from` needs a time zone offset, e.g. 2026-03-02T00:00:00+00:00"),
        ("yesterday", "`from` is not an ISO 8601 date or date-time: 'yesterday'"),
        ("", "`from` is required"),
    ],
)
def test_every_hint_the_export_gives_is_itself_accepted(client, keys, given, message):
    refused = _export(client, keys["analyst"], given, "2026-03-03")
    assert refused.status_code == 400
    text = refused.json()["message"]
    assert text.startswith(message), text
    examples = re.findall(r"e\.g\. (\S+?)(?: or |$|;)", text)
    assert examples, text
    for example in examples:
        assert _export(client, keys["analyst"], example, "2026-03-03").status_code == 200, example
