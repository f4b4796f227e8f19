"""An event older than the first rules earns nothing, and its answer says so."""

from __future__ import annotations

from datetime import timedelta

from server.store.models import Event, LedgerTransaction

RULES = 'campaign "speak" {\n  message award 1\n}\n'
PUBLISH = "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code } } }"
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
EVENT = """mutation($m: ID!, $k: String!, $at: DateTime, $strict: Boolean! = false) {
  eventRecord(input: {memberId: $m, type: "message", idempotencyKey: $k, occurredAt: $at,
  refuseWithoutRules: $strict}) { event { id } warnings { code field message }
  userErrors { code field } } }"""
BATCH = """mutation($in: EventsRecordInput!) { eventsRecord(input: $in) { recorded failed
  results { warnings { code } userErrors { code field } } } }"""


def test_an_event_before_the_first_publish_is_recorded_with_a_warning(api, clock):
    service = api.as_("service")
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    before = clock.now()
    clock.advance(hours=2)
    api.mutate(PUBLISH, {"s": RULES})
    early = (before + timedelta(hours=1)).isoformat()
    late = service.call(EVENT, {"m": ada, "k": "a", "at": early})["eventRecord"]
    assert late["userErrors"] == []
    [warning] = late["warnings"]
    assert (warning["code"], warning["field"]) == ("NO_RULES_IN_FORCE", "occurredAt")
    assert "jifen import" in warning["message"]
    assert not LedgerTransaction.select().where(LedgerTransaction.kind == "award").exists()
    now = service.call(EVENT, {"m": ada, "k": "b"})["eventRecord"]
    assert (now["warnings"], now["userErrors"]) == ([], [])
    assert LedgerTransaction.select().where(LedgerTransaction.kind == "award").count() == 1


def test_asked_for_strictness_such_an_event_is_refused(api, clock):
    service = api.as_("service")
    ada = api.mutate(UPSERT, {"e": "ada"})["member"]["id"]
    early = (clock.now() + timedelta(minutes=10)).isoformat()
    clock.advance(hours=2)
    api.mutate(PUBLISH, {"s": RULES})
    refused = service.call(EVENT, {"m": ada, "k": "a", "at": early, "strict": True})
    assert refused["eventRecord"]["userErrors"] == [
        {"code": "NO_RULES_IN_FORCE", "field": "occurredAt"}
    ]
    assert Event.select().where(Event.type == "message").count() == 0
    batch = service.call(
        BATCH,
        {
            "in": {
                "events": [
                    {
                        "memberId": ada,
                        "type": "message",
                        "idempotencyKey": "x",
                        "occurredAt": early,
                    },
                    {
                        "memberId": ada,
                        "type": "message",
                        "idempotencyKey": "y",
                        "occurredAt": early,
                        "refuseWithoutRules": True,
                    },
                ]
            }
        },
    )["eventsRecord"]
    assert (batch["recorded"], batch["failed"]) == (1, 1)
    assert batch["results"][0]["warnings"] == [{"code": "NO_RULES_IN_FORCE"}]
    assert batch["results"][1]["userErrors"] == [
        {"code": "NO_RULES_IN_FORCE", "field": "events.1.occurredAt"}
    ]
