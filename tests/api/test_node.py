"""Global ids: every object with an id is a Node, and node(id:)/nodes(ids:) fetch it again
for whoever its own root field answers, and nobody else."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, get_named_type, is_non_null_type

from server.api import ids
from server.api.documents import prepare
from server.api.node import GATES, MAX_NODES, TYPES
from server.app import create_app
from server.config import Config
from tests.api.schema_walk import GQL
from tests.api.test_ownership import build_world

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
TYPENAMES = {
    "member": "Member",
    "transaction": "Transaction",
    "entry": "LedgerEntry",
    "event": "Event",
    "item": "CatalogItem",
    "redemption": "Redemption",
    "lottery": "Lottery",
    "draw": "Draw",
    "task": "Task",
    "submission": "Submission",
    "endpoint": "WebhookEndpoint",
}


def codes(body: dict) -> list:
    return [(tuple(e["path"]), e["extensions"]["code"]) for e in body.get("errors") or []]


def test_every_object_type_with_an_id_is_a_node():
    node = GQL.get_type("Node")
    with_id = {
        t.name
        for t in GQL.type_map.values()
        if isinstance(t, GraphQLObjectType)
        and "id" in t.fields
        and is_non_null_type(t.fields["id"].type)
        and get_named_type(t.fields["id"].type).name == "ID"
    }
    implementing = {t.name for t in GQL.get_possible_types(node)}
    assert with_id == implementing
    # Every kind of id has its type and the root field whose gate it follows.
    assert set(GATES) == set(TYPES) == set(ids.PREFIXES)
    assert set(TYPES.values()) == implementing


def test_nodes_is_priced_by_how_many_ids_it_is_given():
    literal = prepare('{ nodes(ids: ["mbr_1", "txn_2", "itm_3"]) { id } }').measure
    assert literal.cost(None, None) == 1 + 3
    variable = prepare("query($ids: [ID!]!) { nodes(ids: $ids) { id } }").measure
    assert variable.cost(None, {"ids": [f"mbr_{n}" for n in range(1, 51)]}) == 1 + 50


@pytest.fixture
def app(db, clock):
    return create_app(clock=clock, config=Config(cost_budget=10**9))


@pytest.fixture
def world(api):
    return build_world(api)


def test_an_admin_fetches_every_kind_again_by_its_id(api, world):
    every = [(kind, value) for kind, values in world.ids.items() for value in values]
    assert {kind for kind, _ in every} >= set(TYPENAMES)
    for kind, value in every:
        found = api.call(NODE, {"id": value})["node"]
        assert found == {"__typename": TYPENAMES[kind], "id": value}
    listed = api.call(NODES, {"ids": [v for _, v in every]})["nodes"]
    assert [(n["__typename"], n["id"]) for n in listed] == [(TYPENAMES[k], v) for k, v in every]


def test_a_missing_id_is_null_and_a_foreign_one_an_error_at_its_place(api, world):
    member = world.member_ids["alpha"]
    assert api.call(NODE, {"id": "mbr_999999"}) == {"node": None}
    body = api.raw(NODES, {"ids": [member, "mbr_999999", "xyz_1", "mbr_01"]})
    assert body["data"]["nodes"] == [{"__typename": "Member", "id": member}, None, None, None]
    assert codes(body) == [(("nodes", 2), "INVALID_ID"), (("nodes", 3), "INVALID_ID")]
    body = api.raw(NODE, {"id": "nope"})
    assert body["data"] == {"node": None} and codes(body) == [(("node",), "INVALID_ID")]


def test_too_many_ids_are_refused(api):
    body = api.raw(NODES, {"ids": [f"mbr_{n}" for n in range(1, MAX_NODES + 2)]})
    assert codes(body) == [(("nodes",), "INVALID_INPUT")]


def test_a_member_token_reads_its_own_objects_and_public_ones_only(api, world):
    alpha, bravo = world.member_ids["alpha"], world.member_ids["bravo"]
    member = api.as_(world.token)
    # Its own member, draw, redemption and submission; anyone's item, lottery and task.
    own = [alpha, world.ids["draw"][0], world.ids["redemption"][0], world.ids["submission"][0]]
    public = [world.ids["item"][0], world.ids["lottery"][0], world.ids["task"][0]]
    listed = member.call(NODES, {"ids": own + public})["nodes"]
    assert [n["id"] for n in listed] == own + public
    # Another member's, or one that does not exist: refused alike (as member(id:) does).
    theirs = [bravo, world.ids["draw"][1], world.ids["redemption"][1], world.ids["submission"][1]]
    for value in [*theirs, "mbr_999999", "drw_999999"]:
        body = member.raw(NODE, {"id": value})
        assert body["data"] == {"node": None}, value
        assert codes(body) == [(("node",), "FORBIDDEN")], value
    # What its own root fields refuse a member token (transaction(id:), ledger), even its own.
    for value in (world.ids["transaction"][0], world.ids["entry"][0], world.ids["event"][0]):
        body = member.raw(NODE, {"id": value})
        assert body["data"] == {"node": None} and codes(body) == [(("node",), "FORBIDDEN")]
    body = member.raw(NODES, {"ids": [alpha, bravo, world.ids["item"][0]]})
    assert [n and n["id"] for n in body["data"]["nodes"]] == [alpha, None, world.ids["item"][0]]
    assert codes(body) == [(("nodes", 1), "FORBIDDEN")]
    # A missing public object is simply null.
    assert member.call(NODE, {"id": "itm_999999"}) == {"node": None}


def test_a_role_reads_by_node_what_its_root_field_lets_it_read(api, world):
    reviewer = api.as_("reviewer")
    body = reviewer.raw(NODE, {"id": world.ids["transaction"][0]})  # transaction(id:) refuses
    assert codes(body) == [(("node",), "FORBIDDEN")]
    submission = world.ids["submission"][0]
    assert reviewer.call(NODE, {"id": submission})["node"]["id"] == submission
    assert codes(api.as_(None).raw(NODE, {"id": submission})) == [(("node",), "UNAUTHENTICATED")]


PRIVATE = "query($id: ID!) { node(id: $id) { ... on Member { id externalId availablePoints } } }"


def test_private_fields_reached_through_node_still_check_their_owner(api, world):
    alpha = world.member_ids["alpha"]
    found = api.as_(world.token).call(PRIVATE, {"id": alpha})["node"]
    assert found["externalId"] == "alpha-ext-5cf1"


def test_objects_are_not_type_checked_one_by_one():
    """Node's resolve_type names each object's type: no per-object is_type_of call is
    added to every page by implementing Node."""
    for gql_type in GQL.get_possible_types(GQL.get_type("Node")):
        assert gql_type.is_type_of is None, gql_type.name
