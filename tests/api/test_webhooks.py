"""Webhooks against a real HTTP receiver: a change is delivered once and signed, a failing
receiver is retried as the clock moves and gets it once it recovers, a delivery is replayed
on demand, and two workers at once never send the same attempt twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from server.config import override
from server.core import deliveries
from server.core.verify import verify
from server.store.models import WebhookDelivery, WebhookEvent
from tests.receiver import receiver, verify_signature

CREATE = """mutation($in: WebhookEndpointCreateInput!, $k: String) {
  webhookEndpointCreate(input: $in, idempotencyKey: $k) {
    endpoint { id url events enabled description } secret replayed
    userErrors { code field message } } }"""
UPDATE = """mutation($id: ID!, $in: WebhookEndpointUpdateInput!) {
  webhookEndpointUpdate(id: $id, input: $in) { endpoint { id url events enabled }
  userErrors { code field message } } }"""
DELETE = """mutation($id: ID!) { webhookEndpointDelete(id: $id) { endpoint { id deletedAt }
  userErrors { code field } } }"""
ENDPOINTS = "{ webhookEndpoints { id url events enabled } }"
DELIVERIES = """query($e: ID, $s: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $e, status: $s, first: $first, after: $after) {
  edges { node { id eventId kind status attempts redeliveries lastStatusCode lastError
  lastAttemptAt nextAttemptAt deliveredAt payload endpoint { id } } }
  pageInfo { hasNextPage endCursor } } }"""
REDELIVER = """mutation($d: ID!) { webhookRedeliver(deliveryId: $d) {
  delivery { id status attempts redeliveries nextAttemptAt } replayed
  userErrors { code field } } }"""
UPSERT = """mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id }
  userErrors { code } } }"""
ADJUST = """mutation($m: ID!, $p: Int!, $k: String!) { pointsAdjust(input: {memberId: $m,
  points: $p, reason: "goodwill", idempotencyKey: $k}) { transaction { id }
  userErrors { code } } }"""


@pytest.fixture
def hook():
    with receiver() as r:
        yield r


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as c:
        yield deliveries.http_post(c)


def register(api, url: str, events=("POINTS_CHANGED",)) -> dict:
    return api.mutate(CREATE, {"in": {"url": url, "events": list(events), "description": "crm"}})


def member_with(api, points: int, name: str = "ann") -> str:
    mid = api.mutate(UPSERT, {"e": name})["member"]["id"]
    api.mutate(ADJUST, {"m": mid, "p": points, "k": f"{name}-{points}"})
    return mid


def deliveries_of(api, **filters) -> list[dict]:
    page = api.call(DELIVERIES, filters)["webhookDeliveries"]
    return [e["node"] for e in page["edges"]]


def deliver(clock, http) -> dict[str, int]:
    return deliveries.deliver_due(clock.now, http)


def test_a_change_is_delivered_once_and_signed(api, clock, hook, http):
    created = register(api, hook.url)
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["endpoint"]["events"] == ["POINTS_CHANGED"]
    mid = member_with(api, 40)

    assert deliver(clock, http) == {"delivered": 1}
    assert deliver(clock, http) == {}  # nothing twice
    (request,) = hook.received
    assert request.path == "/hooks/jifen"
    assert verify_signature(
        secret, request.headers["jifen-signature"], request.body, int(clock.now().timestamp())
    )
    assert not verify_signature("whsec_other", request.headers["jifen-signature"], request.body, 0)
    event = request.json
    assert event["type"] == "points.changed"
    assert event["id"] == request.headers["jifen-event-id"]
    assert event["data"]["memberId"] == mid
    assert event["data"]["delta"] == 40 and event["data"]["available"] == 40
    assert event["data"]["reason"] == "goodwill"
    assert request.headers["content-type"] == "application/json"
    (row,) = deliveries_of(api)
    assert request.headers["jifen-delivery-id"] == row["id"]
    assert row["status"] == "DELIVERED" and row["attempts"] == 1
    assert row["lastStatusCode"] == 200 and row["nextAttemptAt"] is None
    assert row["payload"] == event and row["endpoint"]["id"] == created["endpoint"]["id"]
    assert verify().problems == []


def test_nothing_is_written_for_kinds_nobody_subscribes_to(api, hook):
    member_with(api, 10, "before")
    assert WebhookEvent.select().count() == 0
    register(api, hook.url, events=("REDEMPTION_CREATED",))
    member_with(api, 10, "after")
    assert WebhookEvent.select().count() == 0
    assert WebhookDelivery.select().count() == 0


def test_a_failing_receiver_is_retried_as_time_passes_and_gets_it_when_it_recovers(
    api, clock, hook, http
):
    register(api, hook.url)
    member_with(api, 5)
    hook.status = 500
    assert deliver(clock, http) == {"pending": 1}
    (row,) = deliveries_of(api)
    assert row["status"] == "PENDING" and row["attempts"] == 1
    assert row["lastStatusCode"] == 500 and "receiver is down" in row["lastError"]
    assert deliver(clock, http) == {}  # not due yet: the retry waits 30 s (+ up to 25%)
    clock.advance(seconds=38)
    assert deliver(clock, http) == {"pending": 1}  # second failure; now waits about a minute
    clock.advance(seconds=30)
    assert deliver(clock, http) == {}
    hook.status = 200
    clock.advance(seconds=46)
    assert deliver(clock, http) == {"delivered": 1}
    assert len(hook.received) == 3
    assert len(set(hook.events())) == 1  # the same event each time
    assert [r.headers["jifen-attempt"] for r in hook.received] == ["1", "2", "3"]
    (row,) = deliveries_of(api)
    assert row["status"] == "DELIVERED" and row["attempts"] == 3 and row["lastError"] is None


def test_a_receiver_down_for_a_day_fails_the_delivery_then_a_redelivery_gets_through(
    api, clock, hook, http
):
    register(api, hook.url)
    member_with(api, 5)
    hook.status = 503
    started = clock.now()
    while deliver(clock, http).get("pending"):
        clock.set(WebhookDelivery.get().next_attempt_at)
    (row,) = deliveries_of(api)
    assert row["status"] == "FAILED" and row["nextAttemptAt"] is None
    assert clock.now() - started <= timedelta(hours=24)  # the last attempt, within the day
    assert len(hook.received) == row["attempts"]
    # Jitter makes waits up to 25% longer: between the schedule's count shrunk that much
    # and the schedule's own count (plus the first attempt).
    assert len(deliveries.schedule()) * 0.75 <= row["attempts"] <= len(deliveries.schedule()) + 1

    hook.status = 200
    replay = api.mutate(REDELIVER, {"d": row["id"]})
    assert replay["replayed"] is False
    assert replay["delivery"]["status"] == "PENDING" and replay["delivery"]["redeliveries"] == 1
    assert deliver(clock, http) == {"delivered": 1}
    assert len(set(hook.events())) == 1
    assert verify().problems == []


def test_redeliver_replays_a_delivered_event_on_demand(api, clock, hook, http):
    register(api, hook.url)
    member_with(api, 5)
    deliver(clock, http)
    (row,) = deliveries_of(api)
    first = api.mutate(REDELIVER, {"d": row["id"]})
    again = api.mutate(REDELIVER, {"d": row["id"]})  # still pending: the same stream
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["delivery"]["redeliveries"] == 1
    assert deliver(clock, http) == {"delivered": 1}
    assert hook.events() == [hook.events()[0]] * 2
    assert [r.headers["jifen-attempt"] for r in hook.received] == ["1", "1"]
    (row,) = deliveries_of(api)
    assert row["status"] == "DELIVERED" and row["redeliveries"] == 1


def test_redeliver_refuses_what_does_not_exist(api):
    body = api.raw(REDELIVER, {"d": "dlv_999"})["data"]["webhookRedeliver"]
    assert body["userErrors"] == [{"code": "WEBHOOK_DELIVERY_NOT_FOUND", "field": "deliveryId"}]
    body = api.raw(REDELIVER, {"d": "mbr_1"})["data"]["webhookRedeliver"]
    assert body["userErrors"] == [{"code": "INVALID_ID", "field": "deliveryId"}]


def test_two_workers_at_once_send_each_delivery_once(api, clock, hook, http):
    register(api, hook.url)
    register(api, hook.url.replace("/jifen", "/second"))
    for n in range(15):
        member_with(api, n + 1, f"m{n}")
    assert WebhookDelivery.select().count() == 30
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def worker() -> None:
        with httpx.Client(timeout=5) as c:
            post = deliveries.http_post(c)
            barrier.wait(timeout=10)
            for _ in range(10):
                results.append(deliveries.deliver_due(clock.now, post, limit=3))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sent = [(r.path, r.headers["jifen-event-id"]) for r in hook.received]
    assert len(sent) == 30 and len(set(sent)) == 30
    assert sum(r.get("delivered", 0) for r in results) == 30
    assert {r.status for r in WebhookDelivery.select()} == {"delivered"}


def test_a_paused_endpoint_gets_nothing_new_and_a_deleted_one_loses_what_waited(
    api, clock, hook, http
):
    endpoint = register(api, hook.url)["endpoint"]["id"]
    paused = api.mutate(UPDATE, {"id": endpoint, "in": {"enabled": False}})["endpoint"]
    assert paused["enabled"] is False
    member_with(api, 5, "while-paused")
    assert WebhookDelivery.select().count() == 0
    api.mutate(UPDATE, {"id": endpoint, "in": {"enabled": True}})
    member_with(api, 6, "after")
    assert WebhookDelivery.select().count() == 1
    api.mutate(DELETE, {"id": endpoint})
    assert deliver(clock, http) == {}
    assert hook.received == []
    (row,) = deliveries_of(api)
    assert row["status"] == "CANCELLED"
    assert api.call(ENDPOINTS)["webhookEndpoints"] == []
    body = api.raw(REDELIVER, {"d": row["id"]})["data"]["webhookRedeliver"]
    assert body["userErrors"] == [{"code": "INVALID_STATE", "field": "deliveryId"}]
    gone = api.raw(UPDATE, {"id": endpoint, "in": {"enabled": True}})["data"]
    assert gone["webhookEndpointUpdate"]["userErrors"][0]["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"
    assert verify().problems == []


def test_deliveries_page_by_endpoint_and_status(api, clock, hook, http):
    first = register(api, hook.url)["endpoint"]["id"]
    second = register(api, hook.url.replace("/jifen", "/b"))["endpoint"]["id"]
    for n in range(3):
        member_with(api, n + 1, f"m{n}")
    assert len(deliveries_of(api, e=first)) == 3
    page = api.call(DELIVERIES, {"e": second, "first": 2})["webhookDeliveries"]
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"]
    rest = api.call(DELIVERIES, {"e": second, "after": page["pageInfo"]["endCursor"]})
    assert len(rest["webhookDeliveries"]["edges"]) == 1
    hook.answers = [200, 200, 200, 500, 500, 500]
    deliver(clock, http)
    assert len(deliveries_of(api, s="DELIVERED")) == 3
    assert len(deliveries_of(api, s="PENDING")) == 3


BAD_URLS = [
    ("", "is required"),
    ("ftp://example.com/hook", "must start with https:// or http://"),
    ("example.com/hook", "must start with https:// or http://"),
    ("https:///hook", "has no host"),
    ("https://user:pw@example.com/hook", "user name or password"),
    ("https://example.com/hook#part", "#fragment"),
    ("https://example.com:99999/hook", "not a valid URL"),
    ("https://exa mple.com/hook", "spaces"),
    ("https://example.com/" + "a" * 2000, "longer than 2000"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_a_bad_url_is_refused_clearly_and_nothing_is_registered(api, url, message):
    body = api.raw(CREATE, {"in": {"url": url, "events": ["POINTS_CHANGED"]}})
    payload = body["data"]["webhookEndpointCreate"]
    (error,) = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "url")
    assert message in error["message"]
    assert payload["endpoint"] is None and payload["secret"] is None
    assert api.call(ENDPOINTS)["webhookEndpoints"] == []


def test_no_event_kind_is_refused(api, hook):
    payload = api.raw(CREATE, {"in": {"url": hook.url, "events": []}})["data"]
    (error,) = payload["webhookEndpointCreate"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "events")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/h",
        "http://localhost/h",
        "http://10.1.2.3/h",
        "http://[::1]/h",
        "http://169.254.169.254/latest",
    ],
)
def test_private_addresses_are_refused_when_the_setting_says_so(api, url):
    with override(webhook_private_addresses=False):
        payload = api.raw(CREATE, {"in": {"url": url, "events": ["POINTS_CHANGED"]}})["data"]
    (error,) = payload["webhookEndpointCreate"]["userErrors"]
    assert error["field"] == "url" and "JIFEN_WEBHOOK_PRIVATE_ADDRESSES" in error["message"]


def test_a_delivery_to_a_private_address_is_not_sent_once_they_are_refused(api, clock, hook, http):
    register(api, hook.url)
    member_with(api, 5)
    with override(webhook_private_addresses=False):
        assert deliver(clock, http) == {"pending": 1}
    assert hook.received == []
    (row,) = deliveries_of(api)
    assert "not sent" in row["lastError"] and row["lastStatusCode"] is None


def test_the_secret_is_shown_only_when_created(api, hook):
    created = api.mutate(
        CREATE, {"in": {"url": hook.url, "events": ["POINTS_CHANGED"]}, "k": "once"}
    )
    replay = api.mutate(
        CREATE, {"in": {"url": hook.url, "events": ["POINTS_CHANGED"]}, "k": "once"}
    )
    assert replay["replayed"] and replay["secret"] == created["secret"]  # the same caller
    listed = api.raw("{ webhookEndpoints { id url } }")
    assert created["secret"] not in str(listed)
    assert len(api.call(ENDPOINTS)["webhookEndpoints"]) == 1


@pytest.mark.parametrize("who", ["reviewer", "analyst", "service"])
def test_only_operators_and_admins_reach_webhooks(api, hook, who):
    register(api, hook.url)
    for doc in (ENDPOINTS, "{ webhookDeliveries { edges { node { id } } } }"):
        body = api.as_(who).raw(doc)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = api.as_("operator").raw(ENDPOINTS)
    assert len(body["data"]["webhookEndpoints"]) == 1


def test_a_member_token_is_refused(api, hook):
    register(api, hook.url)
    mid = member_with(api, 5)
    token = api.mutate(
        "mutation($m: ID!) { memberTokenCreate(memberId: $m) { token userErrors { code } } }",
        {"m": mid},
    )["token"]
    for doc in (ENDPOINTS, "{ webhookDeliveries { edges { node { id payload } } } }"):
        body = api.as_(token).raw(doc)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = api.as_(token).raw(CREATE, {"in": {"url": hook.url, "events": ["POINTS_CHANGED"]}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_verify_finds_deliveries_in_a_state_that_cannot_be(api, clock, hook, http):
    register(api, hook.url)
    member_with(api, 5)
    WebhookDelivery.update(status="delivered").execute()  # no answer on record
    problems = [str(p) for p in verify().problems]
    assert any("is delivered but" in p for p in problems), problems


PUBLISH = """mutation($s: String!) { rulesPublish(input: {source: $s, filename: "hooks.rules"}) {
  campaigns { key } userErrors { code message } } }"""
RULES = """
program "Hooks" {
  timezone "UTC"
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
campaign "showup" "Show up" {
  checkin award 2 after review
}
"""
CHECKIN = """mutation($m: ID!) { checkinRecord(input: {memberId: $m, idempotencyKey: "c1"}) {
  event { id } userErrors { code } } }"""
ITEM = """mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 10}) { item { id }
  userErrors { code } } }"""
REDEEM = """mutation($m: ID!, $i: ID!) { redemptionCreate(input: {memberId: $m, itemId: $i,
  idempotencyKey: "r1"}) { redemption { id } userErrors { code } } }"""
HOLD = """mutation($m: ID!) { checkoutHold(input: {orderId: "o-1", memberId: $m, points: 20,
  orderAmount: "100.00", currency: "CNY"}) { checkout { status } userErrors { code } } }"""
CAPTURE = """mutation { checkoutCapture(orderId: "o-1") { checkout { status }
  userErrors { code } } }"""
REFUND = """mutation { checkoutRefund(input: {orderId: "o-1", refundId: "r-1",
  amount: "50.00"}) { pointsReturned userErrors { code } } }"""


def test_each_kind_is_sent_to_the_endpoints_that_asked_for_it(api, clock, hook, http):
    api.mutate(PUBLISH, {"s": RULES})
    kinds = ["AWARD_PENDING_REVIEW", "REDEMPTION_CREATED", "CHECKOUT_CAPTURED", "CHECKOUT_REFUNDED"]
    register(api, hook.url, events=kinds)
    mid = member_with(api, 100)
    api.mutate(CHECKIN, {"m": mid})
    item = api.mutate(ITEM)["item"]["id"]
    redemption = api.mutate(REDEEM, {"m": mid, "i": item})["redemption"]["id"]
    api.mutate(HOLD, {"m": mid})
    api.mutate(CAPTURE)
    api.mutate(REFUND)
    assert deliver(clock, http) == {"delivered": 4}
    sent = {r.json["type"]: r.json["data"] for r in hook.received}
    assert set(sent) == {
        "award.pending_review",
        "redemption.created",
        "checkout.captured",
        "checkout.refunded",
    }
    assert sent["award.pending_review"]["points"] == 2
    assert sent["award.pending_review"]["campaign"] == "showup"
    assert sent["redemption.created"]["redemptionId"] == redemption
    assert sent["redemption.created"]["itemId"] == item
    assert sent["checkout.captured"]["points"] == 20
    assert sent["checkout.refunded"]["pointsReturned"] == 10
    assert {d["memberId"] for d in sent.values()} == {mid}


BUDGET_RULES = """
program "Hooks" {
  timezone "UTC"
}
campaign "speak" "Speak up" {
  budget 100 points
  message award 30
}
"""
MESSAGE = """mutation($m: ID!, $k: String!) { eventRecord(input: {memberId: $m, type: "message",
  idempotencyKey: $k, attributes: {length: 20}}) { event { id } userErrors { code } } }"""


def test_a_budget_nearly_spent_is_told_once(api, clock, hook, http):
    api.mutate(PUBLISH, {"s": BUDGET_RULES})
    register(api, hook.url, events=("BUDGET_NEARLY_SPENT",))
    mid = api.mutate(UPSERT, {"e": "talker"})["member"]["id"]
    for n in range(3):  # 30, 60, 90 of 100 spent: the third leaves 10%
        clock.advance(minutes=1)
        api.mutate(MESSAGE, {"m": mid, "k": f"m{n}"})
        assert WebhookEvent.select().count() == (1 if n == 2 else 0)
    clock.advance(minutes=1)
    api.mutate(MESSAGE, {"m": mid, "k": "m3"})  # the last 10: still one event
    assert deliver(clock, http) == {"delivered": 1}
    (request,) = hook.received
    assert request.json["type"] == "budget.nearly_spent"
    assert request.json["data"] == {
        "campaign": "speak",
        "budget": 100,
        "spent": 90,
        "left": 10,
        "at": request.json["data"]["at"],
    }


LEVEL_RULES = """
program "Hooks" {
  timezone "UTC"
}
levels "Hook levels" {
  qualify by points earned in last 30 days
  level "silver" at 100
  level "gold" at 1000
  keep for 7 days after falling short
}
campaign "speak" "Speak up" {
  message award 1
}
"""
LEVEL_SET = """mutation($m: ID!) { memberLevelSet(input: {memberId: $m, level: "gold",
  until: "2099-01-01T00:00:00Z", reason: "vip"}) { level { key } userErrors { code } } }"""


def test_a_level_change_is_sent(api, clock, hook, http):
    api.mutate(PUBLISH, {"s": LEVEL_RULES})
    register(api, hook.url, events=("LEVEL_CHANGED",))
    mid = api.mutate(UPSERT, {"e": "vip"})["member"]["id"]
    api.mutate(LEVEL_SET, {"m": mid})
    assert deliver(clock, http) == {"delivered": 1}
    (request,) = hook.received
    assert request.json["type"] == "level.changed"
    data = request.json["data"]
    assert (data["memberId"], data["from"], data["to"]) == (mid, None, "gold")


def test_the_signature_check_in_the_operations_guide_works():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    section = doc.split("**Checking the signature**", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the guide's own example, run as a receiver would
    body = b'{"id":"wev_1"}'
    header = deliveries.sign("whsec_test", int(time.time()), body)
    assert scope["verify"]("whsec_test", header, body)
    assert not scope["verify"]("whsec_other", header, body)
    assert not scope["verify"]("whsec_test", header, body + b" ")
    stale = deliveries.sign("whsec_test", int(time.time()) - 3600, body)
    assert not scope["verify"]("whsec_test", stale, body)


BADGE_RULES = """
program "Hooks" {
  timezone "UTC"
}
badge "first" "First words" description "a first message"
campaign "speak" "Speak up" {
  message total 1 badge "first"
}
"""


def test_a_badge_earned_is_sent_once(api, clock, hook, http):
    api.mutate(PUBLISH, {"s": BADGE_RULES})
    register(api, hook.url, events=("BADGE_EARNED",))
    mid = api.mutate(UPSERT, {"e": "talker"})["member"]["id"]
    for n in range(2):
        clock.advance(minutes=1)
        api.mutate(MESSAGE, {"m": mid, "k": f"b{n}"})
    assert deliver(clock, http) == {"delivered": 1}
    (request,) = hook.received
    assert request.json["type"] == "badge.earned"
    data = request.json["data"]
    assert (data["memberId"], data["badge"], data["campaign"]) == (mid, "first", "speak")
