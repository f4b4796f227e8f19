"""What a board counts: its own `where`, else its campaign's rule for the event; never spam.

Members who flood, or post long messages in the bot channel, top the raw message count;
the campaign's board counts only the messages its rule pays for, so its prize goes to the
one who spoke where it matters; a board with a `where` of its own counts what that
`where` lets through; messages set aside as spam count nowhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from server.core.tick import tick
from server.store.models import LedgerTransaction, Member

RULES = """
program "Boards" {
  timezone "Asia/Shanghai"
}
campaign "speak" "Speak up" {
  message where length >= 5 and channel != "bot" award 1
  every week top 1 by messages award 50
}
campaign "bots" "Bot corner" {
  every week top 1 by messages where channel = "bot" award 5
}
"""
PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "boards.rules"})
  { userErrors { code message line } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
MESSAGE = """mutation($m: ID!, $k: String!, $a: JSON) { eventRecord(input: {memberId: $m,
  type: "message", idempotencyKey: $k, attributes: $a}) { userErrors { code } } }"""
BOARD = """query($c: String) { leaderboard(metric: "messages", period: WEEK, campaign: $c) {
  member { externalId } score } }"""
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_campaigns_board_counts_what_its_rule_pays_for(api, clock, db):
    monday = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
    clock.set(monday - timedelta(days=1))
    api.mutate(PUBLISH, {"s": RULES})
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    bot = api.mutate(UPSERT, {"e": "spammer"})["member"]["id"]
    flood = api.mutate(UPSERT, {"e": "flooder"})["member"]["id"]
    for n in range(3):  # three real messages, an hour apart
        clock.set(monday + timedelta(hours=n))
        api.mutate(
            MESSAGE,
            {"m": ada, "k": f"ada{n}", "a": {"length": 12, "channel": "main", "text": f"hi {n}"}},
        )
    for n in range(8):  # eight long messages, all in the bot channel
        clock.set(monday + timedelta(hours=4, minutes=n))
        attributes = {"length": 40, "channel": "bot", "text": f"buy now {n}"}
        api.mutate(MESSAGE, {"m": bot, "k": f"bot{n}", "a": attributes})
    clock.set(monday + timedelta(hours=6))
    for n in range(30):  # short messages, all in one minute: after the tenth, a flood
        api.mutate(MESSAGE, {"m": flood, "k": f"f{n}", "a": {"length": 3, "text": f"x{n}"}})
    everyone = api.call(BOARD, {})["leaderboard"]
    assert [(e["member"]["externalId"], e["score"]) for e in everyone] == [
        ("flooder", 10),
        ("spammer", 8),
        ("ada", 3),
    ]
    speak = api.call(BOARD, {"c": "speak"})["leaderboard"]
    assert [(e["member"]["externalId"], e["score"]) for e in speak] == [("ada", 3)]
    bots = api.call(BOARD, {"c": "bots"})["leaderboard"]
    assert [(e["member"]["externalId"], e["score"]) for e in bots] == [("spammer", 8)]

    # The week closes: each board pays its own winner, once.
    tick(datetime(2026, 3, 9, 0, 5, tzinfo=SHANGHAI))
    prizes = {
        (Member.get_by_id(t.member_id).external_id, t.campaign, t.rule_text)
        for t in LedgerTransaction.select().where(LedgerTransaction.kind == "leaderboard")
    }
    assert prizes == {
        ("ada", "speak", "every week top 1 by messages award 50"),
        ("spammer", "bots", 'every week top 1 by messages where channel = "bot" award 5'),
    }


def test_a_board_by_points_cannot_have_a_where(api):
    body = api.call(
        PUBLISH,
        {"s": 'campaign "c" {\n  every week top 3 by points where channel = "x" award 1\n}\n'},
    )
    assert body["rulesPublish"]["userErrors"][0]["code"] == "RULES_INVALID"
