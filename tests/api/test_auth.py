"""Every role against every root field, and the member token's limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.api.gate import POLICY
from server.api.schema import schema
from server.core import auth
from server.core.auth import Role
from server.store.db import write_transaction
from server.store.models import ApiKey

# One call per root field. `$self` is the member the member token belongs to.
CALLS = {
    "Query.me": "{ me { id } }",
    "Query.member": '{ member(id: "$self") { id } }',
    "Query.members": "{ members { edges { node { id } } } }",
    "Query.transaction": '{ transaction(id: "txn_1") { id } }',
    "Query.ledger": "{ ledger { edges { node { id } } } }",
    "Query.ledgerSummary": '{ ledgerSummary(from: "2026-01-01T00:00:00Z", '
    'to: "2026-01-02T00:00:00Z") { outstanding } }',
    "Mutation.memberUpsert": 'mutation { memberUpsert(input: {externalId: "x"}) '
    "{ userErrors { code } } }",
    "Mutation.memberLeave": 'mutation { memberLeave(memberId: "$self", community: "c") '
    "{ userErrors { code } } }",
    "Mutation.memberTokenCreate": 'mutation { memberTokenCreate(memberId: "$self") '
    "{ userErrors { code } } }",
    "Query.memberDataExport": '{ memberDataExport(memberId: "$self") }',
    "Mutation.memberErase": 'mutation { memberErase(memberId: "$self", reason: "asked") '
    "{ userErrors { code } } }",
    "Mutation.historyImport": 'mutation { historyImport(input: {source: "", dryRun: true}) '
    "{ records userErrors { code } } }",
    "Mutation.eventRecord": 'mutation { eventRecord(input: {memberId: "$self", '
    'type: "message", idempotencyKey: "k"}) { userErrors { code } } }',
    "Mutation.eventsRecord": 'mutation { eventsRecord(input: {events: [{memberId: "$self", '
    'type: "message", idempotencyKey: "b"}]}) { userErrors { code } } }',
    "Mutation.checkinRecord": 'mutation { checkinRecord(input: {memberId: "$self", '
    'idempotencyKey: "c"}) { userErrors { code } } }',
    "Mutation.pointsAdjust": 'mutation { pointsAdjust(input: {memberId: "$self", points: 1, '
    'reason: "r", idempotencyKey: "p"}) { userErrors { code } } }',
    "Mutation.transactionReverse": "mutation { transactionReverse(input: {transactionId: "
    '"txn_1", reason: "r"}) { userErrors { code } } }',
    "Query.campaigns": "{ campaigns { key } }",
    "Query.rulesValidate": '{ rulesValidate(source: "checkin award 1") { ok } }',
    "Query.reviewQueue": "{ reviewQueue { edges { cursor } } }",
    "Query.rulesSimulate": '{ rulesSimulate(source: "checkin award 1", '
    'from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { points } }',
    "Query.catalogItems": "{ catalogItems { edges { cursor } } }",
    "Query.catalogItem": '{ catalogItem(id: "itm_1") { id } }',
    "Query.redemptions": '{ redemptions(memberId: "$self") { edges { cursor } } }',
    "Mutation.catalogItemCreate": 'mutation { catalogItemCreate(input: {title: "t", '
    "pointsPrice: 5}) { userErrors { code } } }",
    "Mutation.catalogItemUpdate": 'mutation { catalogItemUpdate(id: "itm_1", input: {}) '
    "{ userErrors { code } } }",
    "Mutation.catalogItemRestock": 'mutation { catalogItemRestock(id: "itm_1", quantity: 1) '
    "{ userErrors { code } } }",
    "Mutation.catalogItemRetire": 'mutation { catalogItemRetire(id: "itm_1") '
    "{ userErrors { code } } }",
    "Mutation.redemptionCreate": 'mutation { redemptionCreate(input: {memberId: "$self", '
    'itemId: "itm_1", idempotencyKey: "r"}) { userErrors { code } } }',
    "Mutation.redemptionFulfill": 'mutation { redemptionFulfill(id: "red_1") '
    "{ userErrors { code } } }",
    "Mutation.redemptionCancel": 'mutation { redemptionCancel(id: "red_1", reason: "x") '
    "{ userErrors { code } } }",
    "Query.checkoutQuote": '{ checkoutQuote(memberId: "$self", orderAmount: "10", '
    'currency: "CNY") { maxPoints } }',
    "Query.checkout": '{ checkout(orderId: "o") { status } }',
    "Mutation.checkoutHold": 'mutation { checkoutHold(input: {orderId: "o", memberId: '
    '"$self", points: 1, orderAmount: "10", currency: "CNY"}) { userErrors { code } } }',
    "Mutation.checkoutCapture": 'mutation { checkoutCapture(orderId: "o") '
    "{ userErrors { code } } }",
    "Mutation.checkoutVoid": 'mutation { checkoutVoid(orderId: "o") { userErrors { code } } }',
    "Mutation.checkoutRefund": 'mutation { checkoutRefund(input: {orderId: "o", refundId: '
    '"r", amount: "1"}) { userErrors { code } } }',
    "Query.lotteries": "{ lotteries { edges { cursor } } }",
    "Query.lottery": '{ lottery(id: "lot_1") { id } }',
    "Query.draws": '{ draws(lotteryId: "lot_1", memberId: "$self") { edges { cursor } } }',
    "Mutation.lotteryCreate": 'mutation { lotteryCreate(input: {title: "t", cost: 1, '
    'prizes: [{kind: "consolation", label: "x", weight: 1}]}) { userErrors { code } } }',
    "Mutation.lotteryRetire": 'mutation { lotteryRetire(id: "lot_1") { userErrors { code } } }',
    "Mutation.lotteryDraw": 'mutation { lotteryDraw(input: {lotteryId: "lot_1", memberId: '
    '"$self", idempotencyKey: "d"}) { userErrors { code } } }',
    "Query.badges": "{ badges { key holders } }",
    "Mutation.badgeDescribe": 'mutation { badgeDescribe(input: {key: "b", name: "B"}) '
    "{ userErrors { code } } }",
    "Mutation.streakFreezeBuy": 'mutation { streakFreezeBuy(input: {memberId: "$self", '
    'idempotencyKey: "f"}) { userErrors { code } } }',
    "Mutation.checkinMakeUp": 'mutation { checkinMakeUp(input: {memberId: "$self", '
    'day: "2026-03-01", idempotencyKey: "m"}) { userErrors { code } } }',
    "Query.auditLog": "{ auditLog { edges { node { action } } } }",
    "Query.leaderboard": '{ leaderboard(metric: "messages", period: WEEK) { rank } }',
    "Query.tasks": "{ tasks { edges { cursor } } }",
    "Query.submissions": '{ submissions(memberId: "$self") { edges { cursor } } }',
    "Query.adjustmentRequests": "{ adjustmentRequests { edges { cursor } } }",
    "Mutation.taskCreate": 'mutation { taskCreate(input: {key: "k", title: "t"}) '
    "{ userErrors { code } } }",
    "Mutation.submissionCreate": 'mutation { submissionCreate(input: {taskId: "tsk_1", '
    'memberId: "$self", proof: "p", idempotencyKey: "s"}) { userErrors { code } } }',
    "Mutation.submissionReview": 'mutation { submissionReview(input: {submissionId: "sub_1", '
    "decision: APPROVE}) { userErrors { code } } }",
    "Mutation.adjustmentReview": 'mutation { adjustmentReview(requestId: "adj_1", '
    "decision: APPROVE) { userErrors { code } } }",
    "Mutation.rulesPublish": 'mutation { rulesPublish(input: {source: "checkin award 1"}) '
    "{ userErrors { code } } }",
    "Query.viewer": "{ viewer { role } }",
    "Query.node": '{ node(id: "$self") { id } }',
    "Query.nodes": '{ nodes(ids: ["$self"]) { id } }',
    "Query.program": "{ program { timezone } }",
    "Query.memberSearch": '{ memberSearch(text: "self") { id } }',
    "Query.memberStats": '{ memberStats(from: "2026-01-01T00:00:00Z", '
    'to: "2026-02-01T00:00:00Z") { total } }',
    "Query.walletTotals": "{ walletTotals { available } }",
    "Query.schedulerRuns": "{ schedulerRuns { startedAt } }",
    "Query.rulesInForce": "{ rulesInForce }",
    "Query.rulesFormat": '{ rulesFormat(source: "checkin award 1") { source } }',
    "Mutation.awardReview": 'mutation { awardReview(input: {transactionId: "txn_1", '
    "decision: APPROVE}) { userErrors { code } } }",
    "Query.webhookEndpoints": "{ webhookEndpoints { id } }",
    "Query.webhookDeliveries": "{ webhookDeliveries { edges { node { id } } } }",
    "Mutation.webhookEndpointCreate": "mutation { webhookEndpointCreate(input: "
    '{url: "https://crm.example/h", events: [POINTS_CHANGED]}) { userErrors { code } } }',
    "Mutation.webhookEndpointUpdate": 'mutation { webhookEndpointUpdate(id: "whk_1", '
    "input: {enabled: false}) { userErrors { code } } }",
    "Mutation.webhookEndpointDelete": 'mutation { webhookEndpointDelete(id: "whk_1") '
    "{ userErrors { code } } }",
    "Mutation.webhookRedeliver": 'mutation { webhookRedeliver(deliveryId: "dlv_1") '
    "{ userErrors { code } } }",
    "Query.levels": "{ levels { name } }",
    "Mutation.memberLevelSet": 'mutation { memberLevelSet(input: {memberId: "$self", '
    'level: "gold", until: "2099-01-01T00:00:00Z", reason: "r"}) { userErrors { code } } }',
    "Mutation.levelRequestDecide": 'mutation { levelRequestDecide(input: {levelRequestId: "lvr_1", '
    "approve: true}) { userErrors { code } } }",
}


def refusal(body: dict) -> tuple[str, str]:
    """The code and message of a response's one error."""
    (error,) = body["errors"]
    return error["extensions"]["code"], error["message"]


def root_fields() -> set[str]:
    out = set()
    for type_name in ("Query", "Mutation", "Subscription"):
        graphql_type = schema._schema.get_type(type_name)
        if graphql_type is not None:
            out |= {f"{type_name}.{name}" for name in graphql_type.fields}
    return out


def test_every_root_field_has_a_policy_and_a_call_in_this_table():
    assert set(POLICY) == root_fields()
    # Subscriptions are checked over WebSocket (tests/e2e/test_realtime.py).
    assert set(CALLS) == {f for f in root_fields() if not f.startswith("Subscription.")}


@pytest.fixture
def member_token(api, clock):
    api.mutate(
        'mutation { memberUpsert(input: {externalId: "self"}) '
        "{ member { id } userErrors { code } } }"
    )
    return auth.member_token(1, now=clock.now())


@pytest.mark.parametrize("who", [r.value for r in Role] + [None])
def test_each_role_reaches_exactly_what_the_policy_grants(api, member_token, who):
    client = api.as_(member_token if who == "member" else who)
    for operation, text in CALLS.items():
        body = client.raw(text.replace("$self", "mbr_1"))
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if who is None:
            assert codes == ["UNAUTHENTICATED"], operation
        elif Role(who) in POLICY[operation]:
            assert not {"FORBIDDEN", "UNAUTHENTICATED", "INTERNAL"} & set(codes), (operation, body)
        else:
            assert codes == ["FORBIDDEN"], (operation, who, body)


def test_without_a_token_only_the_schema_answers(api):
    anonymous = api.as_(None)
    assert anonymous.call("{ __typename }") == {"__typename": "Query"}
    names = anonymous.call("{ __schema { queryType { name } } }")
    assert names["__schema"]["queryType"]["name"] == "Query"
    body = anonymous.raw("{ members { edges { node { id } } } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_member_token_cannot_touch_another_member(api, clock):
    for ext in ("self", "other"):
        api.mutate(
            "mutation($e: String!) { memberUpsert(input: {externalId: $e}) "
            "{ userErrors { code } } }",
            {"e": ext},
        )
    token = api.call(
        'mutation { memberTokenCreate(memberId: "mbr_1", ttlSeconds: 600) '
        "{ token expiresAt userErrors { code } } }"
    )["memberTokenCreate"]["token"]
    me = api.as_(token)
    assert me.call("{ me { externalId } }") == {"me": {"externalId": "self"}}
    for text in (
        '{ member(id: "mbr_2") { id } }',
        '{ member(externalId: "other") { id } }',
        '{ member(id: "mbr_99") { id } }',
        'mutation { checkinRecord(input: {memberId: "mbr_2", idempotencyKey: "x"}) '
        "{ userErrors { code } } }",
    ):
        body = me.raw(text)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", text
    ok = me.call(
        'mutation { checkinRecord(input: {memberId: "mbr_1", idempotencyKey: "y"}) '
        "{ userErrors { code } event { member { externalId } } } }"
    )
    assert ok["checkinRecord"]["event"]["member"]["externalId"] == "self"


def test_member_tokens_expire_and_cannot_be_altered(api, clock):
    api.mutate('mutation { memberUpsert(input: {externalId: "self"}) { userErrors { code } } }')
    api.mutate('mutation { memberUpsert(input: {externalId: "other"}) { userErrors { code } } }')
    token = auth.member_token(1, now=clock.now(), ttl=timedelta(minutes=5))
    assert api.as_(token).call("{ me { externalId } }")["me"]["externalId"] == "self"
    # Swap the member id inside the token: the signature no longer matches.
    forged_body = auth._b64(b'{"m":2,"iat":0,"exp":99999999999,"n":"00"}')
    forged = f"{auth.TOKEN_PREFIX}{forged_body}.{token.split('.')[1]}"
    body = api.as_(forged).raw("{ me { externalId } }")
    assert refusal(body) == (
        "UNAUTHENTICATED",
        "not authenticated: member token signature does not match",
    )
    clock.advance(minutes=6)
    body = api.as_(token).raw("{ me { externalId } }")
    assert refusal(body) == ("UNAUTHENTICATED", "not authenticated: member token has expired")


def test_keys_are_stored_hashed_and_revocable(api, keys, clock):
    plain = keys["operator"]
    row = ApiKey.get(ApiKey.role == "operator")
    secret = plain[len(auth.KEY_PREFIX) + len(row.prefix) + 1 :]  # may itself contain "_"
    # 32 random bytes, URL-safe base64: 43 characters; only a SHA-256 hex digest is kept.
    assert len(secret) == 43 and secret not in row.secret_hash and len(row.secret_hash) == 64
    assert api.as_("operator").call("{ members { edges { cursor } } }") == {
        "members": {"edges": []}
    }
    with write_transaction():
        assert auth.revoke_key(row.prefix, now=clock.now())
    body = api.as_("operator").raw("{ members { edges { cursor } } }")
    assert refusal(body) == ("UNAUTHENTICATED", "not authenticated: this API key has been revoked")
    wrong = plain[:-4] + "AAAA"
    assert (
        api.as_(wrong).raw("{ members { edges { cursor } } }")["errors"][0]["extensions"]["code"]
        == "UNAUTHENTICATED"
    )


def test_the_first_start_creates_one_admin_key(db, clock):
    first = auth.bootstrap_admin(now=clock.now())
    assert first and first.startswith(auth.KEY_PREFIX)
    assert auth.bootstrap_admin(now=clock.now()) is None
    assert ApiKey.select().where(ApiKey.role == "admin").count() == 1
    assert auth.authenticate(first, now=clock.now()).role is Role.ADMIN
