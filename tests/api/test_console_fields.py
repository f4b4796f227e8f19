"""The fields the operator console reads besides the domain's own: who is asking, the
program, member search and counts, wallet totals, the scheduler's runs, and rule text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import dsl
from server.api.gate import EXPORT_ROLES, POLICY
from server.core import program, rules
from server.core.auth import Role
from server.core.tick import tick
from server.store.db import write_transaction
from tests.support import GraphQLErrors

ROOT = Path(__file__).resolve().parents[2]
UPSERT = """mutation($x: String!, $n: String, $c: String) {
  memberUpsert(input: {externalId: $x, displayName: $n, community: $c}) {
    member { id } userErrors { code message }
  }
}"""
SEARCH = "query($t: String!) { memberSearch(text: $t) { externalId } }"
STATS = "query($f: DateTime!, $t: DateTime!) { memberStats(from: $f, to: $t) { total new } }"
IN_FORCE = "{ rulesInForce }"
FORMAT = """query($s: String!) {
  rulesFormat(source: $s, filename: "draft.rules") { source diagnostics { code line column } }
}"""
PUBLISH = """mutation($s: String!) {
  rulesPublish(input: {source: $s}) {
    campaigns { key version changed retired } userErrors { code }
  }
}"""


def code_of(exc: GraphQLErrors) -> str:
    return exc.args[0][0]["extensions"]["code"]


@pytest.mark.parametrize("role", [r.value for r in Role if r is not Role.MEMBER])
def test_the_viewer_names_its_role_and_exactly_what_the_policy_grants_it(api, role):
    viewer = api.as_(role).call("{ viewer { role name may } }")["viewer"]
    assert viewer["role"] == role and viewer["name"] == f"test {role}"
    granted = sorted(op for op, roles in POLICY.items() if Role(role) in roles)
    export = ["GET /export/ledger.csv"] if Role(role) in EXPORT_ROLES else []
    assert viewer["may"] == granted + export


def test_a_member_token_is_a_member_viewer(api, clock):
    from server.core import auth

    api.mutate(UPSERT, {"x": "self"})
    token = auth.member_token(1, now=clock.now())
    viewer = api.as_(token).call("{ viewer { role may } }")["viewer"]
    assert viewer["role"] == "member"
    assert "Query.ledgerSummary" not in viewer["may"] and "Query.me" in viewer["may"]


def test_the_program_shows_the_published_settings_and_the_servers_clock(api, clock):
    with write_transaction():
        rules.publish(dsl.read_directory(ROOT / "rules"), now=clock.now(), actor="t")
    found = api.call("{ program { name timezone pointsExpireDays now } }")["program"]
    assert found == {
        "name": "Jiaqi fan club",
        "timezone": "Asia/Shanghai",
        "pointsExpireDays": 365,
        "now": clock.now().isoformat(),
    }


def test_member_search_puts_the_exact_external_id_first_then_names_containing_the_text(api):
    for external_id, name in [
        ("wx-ann", "Ann Lee"),
        ("ann", "Someone"),
        ("wx-joann", None),
        ("wx-bob", "Bob ANNA"),
        ("wx-cai", "蔡文姬"),
        ("wx-pct", "100% fan"),
    ]:
        api.mutate(UPSERT, {"x": external_id, "n": name})
    found = [m["externalId"] for m in api.call(SEARCH, {"t": "ann"})["memberSearch"]]
    assert found == ["ann", "wx-bob", "wx-joann", "wx-ann"]  # then newest first
    assert api.call(SEARCH, {"t": "文姬"})["memberSearch"] == [{"externalId": "wx-cai"}]
    # What the operator types is text, not a pattern.
    assert api.call(SEARCH, {"t": "0%"})["memberSearch"] == [{"externalId": "wx-pct"}]
    assert api.call(SEARCH, {"t": "x_a"})["memberSearch"] == []
    assert api.call(SEARCH, {"t": "nobody"})["memberSearch"] == []
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(GraphQLErrors) as refused:
            api.call(SEARCH, {"t": bad})
        assert code_of(refused.value) == "INVALID_INPUT"


def test_member_stats_count_all_members_at_the_end_and_the_new_ones_within(api, clock):
    start = clock.now()
    api.mutate(UPSERT, {"x": "old"})
    clock.advance(days=2)
    api.mutate(UPSERT, {"x": "new-1"})
    api.mutate(UPSERT, {"x": "new-2"})
    clock.advance(days=2)
    api.mutate(UPSERT, {"x": "later"})
    window = {"f": (start + timedelta(days=1)).isoformat(), "t": clock.now().isoformat()}
    assert api.call(STATS, window)["memberStats"] == {"total": 3, "new": 2}
    with pytest.raises(GraphQLErrors) as refused:
        api.call(STATS, {"f": window["t"], "t": window["f"]})
    assert code_of(refused.value) == "INVALID_INPUT"


def test_wallet_totals_add_up_every_members_wallets(api, clock):
    with write_transaction():
        rules.publish(dsl.read_directory(ROOT / "rules"), now=clock.now(), actor="t")
    ids = [api.mutate(UPSERT, {"x": x, "c": "fans"})["member"]["id"] for x in ("a", "b")]
    for n, member in enumerate(ids):
        api.mutate(
            "mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m, "
            "idempotencyKey: $k}) { userErrors { code message } } }",
            {"m": member, "k": f"c{n}"},
        )
    api.mutate(
        'mutation($m: ID!) { pointsAdjust(input: {memberId: $m, points: 7, reason: "r", '
        'idempotencyKey: "p"}) { userErrors { code message } } }',
        {"m": ids[0]},
    )
    # Each check-in pays 2 now and 20 after review (the first within 7 days of joining).
    totals = api.call("{ walletTotals { available pending held } }")["walletTotals"]
    assert totals == {"available": 2 + 2 + 7, "pending": 20 + 20, "held": 0}


def test_every_tick_is_kept_newest_first_up_to_twenty(api, clock):
    assert api.call("{ schedulerRuns { startedAt } }")["schedulerRuns"] == []
    moments = []
    for _ in range(22):
        clock.advance(minutes=1)
        moments.append(clock.now())
        tick(clock.now())
    runs = api.call(
        "{ schedulerRuns(first: 20) { startedAt pointsExpired holdsExpired periodsPaid "
        "birthdays } }"
    )["schedulerRuns"]
    assert [r["startedAt"] for r in runs] == [m.isoformat() for m in reversed(moments[2:])]
    assert runs[0] == {
        "startedAt": moments[-1].isoformat(),
        "pointsExpired": 0,
        "holdsExpired": 0,
        "periodsPaid": 0,
        "birthdays": 0,
    }
    assert len(api.call("{ schedulerRuns { startedAt } }")["schedulerRuns"]) == 10
    for bad in (0, 21):
        with pytest.raises(GraphQLErrors) as refused:
            api.call("query($n: Int) { schedulerRuns(first: $n) { startedAt } }", {"n": bad})
        assert code_of(refused.value) == "INVALID_INPUT"


def test_the_rules_in_force_published_again_change_nothing(api, clock):
    files = dsl.read_directory(ROOT / "rules") + [
        ("custom.rules", 'event share_live\ncampaign "sharing" {\n  share_live award 3\n}\n')
    ]
    with write_transaction():
        rules.publish(files, now=clock.now(), actor="t")
    settings = program.load()
    text = api.call(IN_FORCE)["rulesInForce"]
    assert text.startswith('program "Jiaqi fan club" {\n  timezone "Asia/Shanghai"\n')
    assert "event share_live\n" in text
    assert "  streak freeze costs 50 points, at most 2 per month\n" in text
    assert "  make-up checkin costs 30 points within 3 days, at most 3 per month\n" in text
    assert 'badge "connector" "Connector" description "10 friends invited"\n' in text
    clock.advance(hours=1)
    published = api.mutate(PUBLISH, {"s": text})["campaigns"]
    assert {c["key"] for c in published} == {
        "daily-checkin", "golden-week", "invite", "moments", "speak", "tasks", "sharing",
        "milestones",
    }  # fmt: skip
    assert not any(c["changed"] or c["retired"] for c in published)
    assert program.load() == settings
    assert api.call(IN_FORCE)["rulesInForce"] == text


def test_rules_format_gives_the_canonical_text_or_the_syntax_errors(api):
    draft = 'CAMPAIGN  "a" {\n    Checkin   AWARD 2   # daily\n}\n'
    found = api.call(FORMAT, {"s": draft})["rulesFormat"]
    assert found == {
        "source": 'campaign "a" {\n  checkin award 2  # daily\n}\n',
        "diagnostics": [],
    }
    broken = api.call(FORMAT, {"s": 'campaign "a" {\n  checkin award\n}\n'})["rulesFormat"]
    assert broken["source"] is None
    assert [(d["code"], d["line"]) for d in broken["diagnostics"]] == [("SYNTAX", 2)]
