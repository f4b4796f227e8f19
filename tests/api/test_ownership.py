"""Ownership on the type: one member never reads another member's private data, by any path.

The walk is generated from the schema: every field of every type reachable from each root
Query field, down to the depth limit (a type at most twice on one path), with arguments
filled in from a small world of two members, A and B, each seeded with values found
nowhere else. A walks it with its own member token: none of B's values may come back, and
every one of A's must. An admin key walks it too and does see B's values, so the walk
reaches them. A new field or type is walked without editing this file.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import typing
from dataclasses import dataclass

import pytest
from peewee import ForeignKeyField

from server.api import ids
from server.api.ownership import OWNED
from server.app import create_app
from server.config import Config
from server.core import notify
from server.core.levels_notice import level_topic
from server.store import models
from tests.api.schema_walk import GQL, Arguments, Secrets, found, walk

TASK = (
    'mutation { taskCreate(input: {key: "share", title: "Share"}) '
    "{ task { id } userErrors { code } } }"
)
RULES = """
program "Ownership" {
  timezone "UTC"
  redeem rate 100 points = 1.00 CNY
  deduct at most 50% of order
}
event visit
campaign "daily" "Daily" {
  checkin award 3
}
campaign "talk" "Talk" {
  message award 5 after review
}
campaign "visits" "Visits" {
  visit award 2
}
campaign "work" "Work" {
  task "share" award 30 after review
}
"""
PUBLISH = (
    "mutation($s: String!) { rulesPublish(input: {source: $s}) { userErrors { code message } } }"
)
ITEM = (
    'mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 200, community: "fans"}) '
    "{ item { id } userErrors { code } } }"
)
LOTTERY = (
    'mutation { lotteryCreate(input: {title: "Spin", cost: 41, prizes: [{kind: "consolation", '
    'label: "Thanks", weight: 1}]}) { lottery { id } userErrors { code } } }'
)
UPSERT = (
    "mutation($i: MemberUpsertInput!) { memberUpsert(input: $i) "
    "{ member { id } userErrors { code message } } }"
)
ADJUST = (
    "mutation($i: PointsAdjustInput!) { pointsAdjust(input: $i) "
    "{ transaction { id } userErrors { code message } } }"
)
CHECKIN = (
    "mutation($m: ID!, $k: String!) { checkinRecord(input: {memberId: $m, idempotencyKey: $k}) "
    "{ userErrors { code message } } }"
)
EVENT = (
    "mutation($i: EventRecordInput!) { eventRecord(input: $i) "
    "{ event { id } userErrors { code message } } }"
)
WEBHOOK = (
    'mutation { webhookEndpointCreate(input: {url: "https://crm.example/hooks", '
    "events: [POINTS_CHANGED, REDEMPTION_CREATED, CHECKOUT_CAPTURED]}) "
    "{ endpoint { id } userErrors { code } } }"
)
REDEEM = (
    "mutation($i: RedemptionCreateInput!) { redemptionCreate(input: $i) "
    "{ redemption { id } userErrors { code message } } }"
)
DRAW = (
    "mutation($i: LotteryDrawInput!) { lotteryDraw(input: $i) "
    "{ draw { id } userErrors { code message } } }"
)
HOLD = (
    "mutation($i: CheckoutHoldInput!) { checkoutHold(input: $i) "
    "{ checkout { orderId } userErrors { code message } } }"
)
SUBMIT = (
    "mutation($i: SubmissionCreateInput!) { submissionCreate(input: $i) "
    "{ submission { id } userErrors { code message } } }"
)
TOKEN = (
    "mutation($m: ID!) { memberTokenCreate(memberId: $m, ttlSeconds: 86400) "
    "{ token userErrors { code } } }"
)
OWN = """query($m: ID!) { member(id: $m) {
  availablePoints heldPoints
  ledger(first: 100) { edges { node { id transaction { id event { id } } } } }
} }"""


@dataclass(frozen=True)
class Person:
    """One member of the world and the values only they have."""

    name: str
    external_id: str
    display_name: str | None
    birthday: str
    adjust: int
    reason: str
    order_id: str
    held: int
    note: str
    proof: str
    link: str
    community: str


ALPHA = Person(
    name="alpha",
    external_id="alpha-ext-5cf1",
    display_name="Alpha Shown",
    birthday="1984-06-07",
    adjust=6101,
    reason="alpha-reason-a1c3",
    order_id="alpha-order-2d4e",
    held=271,
    note="alpha-note-90b1",
    proof="alpha-proof-6e0a",
    link="https://alpha.example/proof-6e0a",
    community="alpha-club",
)
# B has no display name: where others see a name, they must not see B's externalId instead.
BRAVO = Person(
    name="bravo",
    external_id="bravo-ext-4b7d",
    display_name=None,
    birthday="1979-11-23",
    adjust=7919,
    reason="bravo-reason-8e1f",
    order_id="bravo-order-31c9",
    held=313,
    note="bravo-note-5e2d",
    proof="bravo-proof-77aa",
    link="https://bravo.example/proof-77aa",
    community="bravo-club",
)


@dataclass
class World(Arguments):
    member_ids: dict[str, str]  # person name -> mbr_N
    secrets: dict[str, Secrets]  # person name -> their private values
    token: str  # A's member token


def build_world(api) -> World:
    """Two members with a bit of everything, made through the API as an admin."""
    task_id = api.mutate(TASK)["task"]["id"]
    assert api.call(PUBLISH, {"s": RULES})["rulesPublish"]["userErrors"] == []
    item_id = api.mutate(ITEM)["item"]["id"]
    lottery_id = api.mutate(LOTTERY)["lottery"]["id"]
    # Every change below is also written for this endpoint: its deliveries carry both
    # members' data, which only staff keys may read.
    endpoint_id = api.mutate(WEBHOOK)["endpoint"]["id"]
    member_ids: dict[str, str] = {}
    secrets: dict[str, Secrets] = {}
    kinds: dict[str, list[str]] = {
        "task": [task_id],
        "item": [item_id],
        "lottery": [lottery_id],
        "endpoint": [endpoint_id],
    }
    for p in (ALPHA, BRAVO):
        mid = api.mutate(
            UPSERT,
            {
                "i": {
                    "externalId": p.external_id,
                    "displayName": p.display_name,
                    "birthday": p.birthday,
                    "community": "fans",
                }
            },
        )["member"]["id"]
        api.mutate(UPSERT, {"i": {"externalId": p.external_id, "community": p.community}})
        member_ids[p.name] = mid
        adjust = api.mutate(
            ADJUST,
            {
                "i": {
                    "memberId": mid,
                    "points": p.adjust,
                    "reason": p.reason,
                    "idempotencyKey": f"{p.name}-adjust",
                }
            },
        )["transaction"]["id"]
        api.mutate(CHECKIN, {"m": mid, "k": f"{p.name}-checkin"})
        api.mutate(
            EVENT,
            {
                "i": {
                    "memberId": mid,
                    "type": "message",
                    "idempotencyKey": f"{p.name}-message",
                    "attributes": {"length": 20},
                }
            },
        )
        visit = api.mutate(
            EVENT,
            {
                "i": {
                    "memberId": mid,
                    "type": "visit",
                    "idempotencyKey": f"{p.name}-visit",
                    "attributes": {"note": p.note},
                }
            },
        )["event"]["id"]
        redemption = api.mutate(
            REDEEM, {"i": {"memberId": mid, "itemId": item_id, "idempotencyKey": f"{p.name}-r"}}
        )["redemption"]["id"]
        draw = api.mutate(
            DRAW, {"i": {"memberId": mid, "lotteryId": lottery_id, "idempotencyKey": f"{p.name}-d"}}
        )["draw"]["id"]
        api.mutate(
            HOLD,
            {
                "i": {
                    "orderId": p.order_id,
                    "memberId": mid,
                    "points": p.held,
                    "orderAmount": "500.00",
                    "currency": "CNY",
                }
            },
        )
        submission = api.mutate(
            SUBMIT,
            {
                "i": {
                    "taskId": task_id,
                    "memberId": mid,
                    "proof": p.proof,
                    "links": [p.link],
                    "idempotencyKey": f"{p.name}-s",
                }
            },
        )["submission"]["id"]
        own = api.call(OWN, {"m": mid})["member"]
        nodes = [e["node"] for e in own["ledger"]["edges"]]
        events = {n["transaction"]["event"]["id"] for n in nodes if n["transaction"]["event"]}
        secrets[p.name] = Secrets(
            text={
                p.external_id,
                p.birthday,
                p.reason,
                p.order_id,
                p.note,
                p.proof,
                p.link,
                p.community,
            },
            ids={redemption, draw, submission, adjust, visit}
            | {n["id"] for n in nodes}
            | {n["transaction"]["id"] for n in nodes}
            | events,
            numbers={p.adjust, p.held, own["availablePoints"]},
        )
        assert own["heldPoints"] == p.held
        adjust_entry = next(n["id"] for n in nodes if n["transaction"]["id"] == adjust)
        for kind, value in (
            ("member", mid),
            ("transaction", adjust),
            ("entry", adjust_entry),
            ("event", visit),
            ("redemption", redemption),
            ("draw", draw),
            ("submission", submission),
        ):
            kinds.setdefault(kind, []).append(value)
    token = api.mutate(TOKEN, {"m": member_ids["alpha"]})["token"]
    strings = {
        "externalId": [ALPHA.external_id, BRAVO.external_id],
        "orderId": [ALPHA.order_id, BRAVO.order_id],
        "metric": ["checkins"],
        "community": ["fans"],
        "currency": ["CNY"],
        "source": ["checkin award 1"],
    }
    return World(kinds, strings, member_ids, secrets, token)


EXPECTED = {"FORBIDDEN", "INVALID_INPUT"}  # refusals, and `member` given both or neither id


def run(api, docs: list[str], token: str | None) -> list[dict]:
    """Each document's answer; any error but a refusal means part of the walk did not run."""
    client = api.as_(token) if token else api
    bodies = []
    for doc in docs:
        body = client.raw(doc)
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        assert codes <= EXPECTED, (doc, body["errors"])
        bodies.append(body)
    return bodies


def leak_report(leaks: dict[str, set]) -> str:
    lines = [f"{path}: {sorted(map(str, hits))}" for path, hits in sorted(leaks.items())]
    return f"another member's private data came back at {len(lines)} paths:\n" + "\n".join(
        lines[:40]
    )


@pytest.fixture
def app(db, clock):
    # The walk sends deep documents in quick succession; the per-token budget is not under test.
    return create_app(clock=clock, config=Config(cost_budget=10**9))


@pytest.fixture
def world(api) -> World:
    return build_world(api)


def test_a_member_reads_no_other_members_private_data_by_any_path(api, world):
    alpha, bravo = world.secrets["alpha"], world.secrets["bravo"]
    leaks: dict[str, set] = {}
    own: set = set()
    for body in run(api, walk(world), world.token):
        for path, hits in found(body, bravo).items():
            leaks.setdefault(path, set()).update(hits)
        for hits in found(body, alpha).values():
            own |= hits
    assert not leaks, leak_report(leaks)
    assert own == alpha.all(), f"A cannot read its own {sorted(map(str, alpha.all() - own))}"


def test_a_staff_key_walking_the_same_paths_sees_both_members(api, world):
    """The walk does reach every private value: a staff key reading them is not a leak."""
    seen: set = set()
    for body in run(api, walk(world), None):
        for hits in found(body, world.secrets["bravo"]).values():
            seen |= hits
    assert seen == world.secrets["bravo"].all()


LEADERBOARD = """{ leaderboard(metric: "checkins", period: DAY) { rank score member {
  id displayName externalId availablePoints ledger(first: 5) { edges { cursor } } } } }"""


def test_another_members_place_shows_only_its_public_fields(api, world):
    body = api.as_(world.token).raw(LEADERBOARD)
    rows = body["data"]["leaderboard"]
    places = {row["member"]["id"]: (n, row) for n, row in enumerate(rows)}
    n, bravo = places[world.member_ids["bravo"]]
    assert bravo["score"] == 1
    assert bravo["member"] == {
        "id": world.member_ids["bravo"],
        "displayName": None,
        "externalId": None,
        "availablePoints": None,
        "ledger": None,
    }
    assert sorted(tuple(e["path"]) for e in body["errors"]) == [
        ("leaderboard", n, "member", name) for name in ("availablePoints", "externalId", "ledger")
    ]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    _, alpha = places[world.member_ids["alpha"]]
    assert alpha["member"]["externalId"] == ALPHA.external_id
    assert alpha["member"]["ledger"]["edges"]


def member_owned(model) -> bool:
    if model is models.Member:
        return True
    meta = getattr(model, "_meta", None)
    if meta is not None:
        return isinstance(meta.fields.get("member"), ForeignKeyField)
    # A plain row (server/core/entries.py) names its member by id.
    return "member_id" in getattr(model, "__dataclass_fields__", {})


def test_every_type_built_on_a_members_rows_declares_its_owner():
    """A new type over a member's rows is private by default only once it says whose it is."""
    built_on_members_rows = set()
    for gql_type in GQL.type_map.values():
        definition = (getattr(gql_type, "extensions", None) or {}).get("strawberry-definition")
        annotation = getattr(getattr(definition, "origin", None), "__annotations__", {}).get("row")
        if annotation is None:
            continue
        origin = definition.origin
        model = typing.get_args(eval(annotation, vars(sys.modules[origin.__module__])))[0]
        if member_owned(model):
            built_on_members_rows.add(gql_type.name)
    assert {"Member", "LedgerEntry", "Transaction", "Draw"} <= built_on_members_rows
    assert built_on_members_rows - set(OWNED) == set()


# -- Subscriptions ----------------------------------------------------------------------

MARKER = "Marker Lamp"  # an item only A redeems, after B has acted: A's last notice
MARKER_ITEM = (
    f'mutation {{ catalogItemCreate(input: {{title: "{MARKER}", pointsPrice: 10, '
    'community: "fans"}) { item { id } userErrors { code } } }'
)


class Inbox:
    """A WebSocket's messages, read in a thread so that every wait can have a deadline."""

    def __init__(self, ws) -> None:
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(ws,), daemon=True).start()

    def _read(self, ws) -> None:
        try:
            while True:
                self.messages.put(ws.receive_json())
        except Exception:  # the session was closed: nothing more to read
            return

    def get(self, deadline: float, wait: float = 1.0) -> dict | None:
        timeout = min(wait, deadline - time.monotonic())
        assert timeout > 0, "no answer before the deadline"
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None


def error_codes(message: dict) -> set:
    payload = message.get("payload")
    errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or []
    return {e.get("extensions", {}).get("code") for e in errors}


def redeem(api, member: str, item: str, key: str) -> None:
    api.mutate(REDEEM, {"i": {"memberId": member, "itemId": item, "idempotencyKey": key}})


def test_subscriptions_carry_nothing_of_another_member(api, client, world):
    """A subscribes to everything it may (and to what it may not), B acts, then A acts:
    every subscription either was refused or hears A, and none carries B's data."""
    docs = walk(world, GQL.subscription_type)
    marker_item = api.mutate(MARKER_ITEM)["item"]["id"]
    alpha, bravo = world.member_ids["alpha"], world.member_ids["bravo"]
    topics = [notify.activity_topic(None), notify.activity_topic("fans")] + [
        topic(ids.decode("member", m, "member"))
        for m in (alpha, bravo)
        for topic in (notify.points_topic, level_topic)
    ]
    answers: dict[str, list[dict]] = {str(n): [] for n in range(len(docs))}
    live: set[str] = set()
    deadline = time.monotonic() + 60

    def take(wait: float) -> None:
        message = inbox.get(deadline, wait)
        if message is not None and "id" in message:
            answers[message["id"]].append(message)

    def listening() -> int:
        return sum(notify.broker.subscribers(t) for t in topics)

    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        inbox = Inbox(ws)
        auth = {"authorization": f"Bearer {world.token}"}
        ws.send_json({"type": "connection_init", "payload": auth})
        assert inbox.get(deadline, 30) == {"type": "connection_ack"}
        for n, text in enumerate(docs):
            before = listening()
            ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": text}})
            while not answers[str(n)] and listening() == before:  # refused, or listening
                take(0.05)
            if not answers[str(n)]:
                live.add(str(n))
        redeem(api, bravo, world.ids["item"][0], "bravo-again")
        adjust = {"memberId": bravo, "points": 1, "reason": BRAVO.reason, "idempotencyKey": "b"}
        api.mutate(ADJUST, {"i": adjust})
        redeem(api, alpha, marker_item, "alpha-marker")  # after B's: the last notice each hears
        # This world has no ladder: a level subscription hears nothing (tests/api/
        # test_levels.py has A's own level notice, and B's refused).
        hearing = {n for n in live if "levelChanged" not in docs[int(n)]}
        while any(MARKER not in json.dumps(answers[n]) for n in hearing):
            take(1.0)
    refused = set(answers) - live
    for n in refused:
        assert set().union(*map(error_codes, answers[n])) == {"FORBIDDEN"}, docs[int(n)]
    assert live and refused, (live, refused)
    leaks: dict[str, set] = {}
    for messages in answers.values():
        for message in messages:
            payload = message.get("payload")
            for path, hits in found(
                payload if isinstance(payload, dict) else {}, world.secrets["bravo"]
            ).items():
                leaks.setdefault(path, set()).update(hits)
    assert not leaks, leak_report(leaks)
