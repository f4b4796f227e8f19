"""Connections: a full PageInfo on every list, and totalCount where a COUNT is cheap,
counted with the list's own filters and only when asked for."""

from __future__ import annotations

from graphql import GraphQLObjectType

from tests.api.schema_walk import GQL
from tests.statements import recorded

UPSERT = (
    "mutation($e: String!, $c: String) { memberUpsert(input: {externalId: $e, community: $c}) "
    "{ member { id } userErrors { code } } }"
)
ADJUST = (
    "mutation($m: ID!, $k: String!) { pointsAdjust(input: {memberId: $m, points: 5, "
    'reason: "seed", idempotencyKey: $k}) { userErrors { code } } }'
)
MEMBERS = """query($n: Int, $a: String, $c: String) { members(first: $n, after: $a, community: $c) {
  edges { cursor node { id } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
} }"""
MEMBERS_COUNTED = "query($c: String) { members(first: 2, community: $c) { totalCount } }"
LEDGER = """query($f: LedgerFilter, $a: String) { ledger(filter: $f, first: 2, after: $a) {
  totalCount edges { node { id } } pageInfo { hasNextPage hasPreviousPage }
} }"""
OWN_LEDGER = """query($m: ID!) { member(id: $m) { ledger(first: 1, kinds: ["adjustment"]) {
  totalCount edges { node { id } } } } }"""
EVERY_LEDGER = """{ members(first: 10) { edges { node { ledger(first: 1) { totalCount } } } } }"""


def seed(api) -> list[str]:
    members = []
    for n in range(5):
        community = "fans" if n % 2 else None
        member = api.mutate(UPSERT, {"e": f"p{n}", "c": community})["member"]["id"]
        for k in range(n):
            api.mutate(ADJUST, {"m": member, "k": f"{n}-{k}"})
        members.append(member)
    return members


def test_page_info_says_where_each_page_starts_and_ends(api):
    members = seed(api)
    first = api.call(MEMBERS, {"n": 2})["members"]
    cursors = [e["cursor"] for e in first["edges"]]
    assert [e["node"]["id"] for e in first["edges"]] == members[::-1][:2]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": cursors[0],
        "endCursor": cursors[-1],
    }
    last = api.call(MEMBERS, {"n": 3, "a": cursors[-1]})["members"]
    assert [e["node"]["id"] for e in last["edges"]] == members[::-1][2:]
    info = last["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, True)
    assert info["startCursor"] == last["edges"][0]["cursor"]
    empty = api.call(MEMBERS, {"n": 3, "c": "nobody"})["members"]["pageInfo"]
    assert empty == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


def test_every_connection_has_the_whole_page_info():
    connections = [
        t
        for t in GQL.type_map.values()
        if isinstance(t, GraphQLObjectType) and t.name.endswith("Connection")
    ]
    assert len(connections) >= 10
    for connection in connections:
        assert str(connection.fields["pageInfo"].type) == "PageInfo!"
    page_info = GQL.get_type("PageInfo").fields
    assert set(page_info) == {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}


def test_total_count_counts_the_whole_list_with_its_filters(api):
    members = seed(api)
    assert api.call(MEMBERS_COUNTED)["members"]["totalCount"] == 5
    assert api.call(MEMBERS_COUNTED, {"c": "fans"})["members"]["totalCount"] == 2
    everything = api.call(LEDGER, {"f": {"scope": "ALL"}})["ledger"]
    # 10 adjustments, each one entry in a member's wallet and one in the program's account.
    assert everything["totalCount"] == 20
    wallets = {"scope": "MEMBER_WALLETS"}  # the default
    page = api.call(LEDGER)["ledger"]
    assert page["totalCount"] == 10 and page["pageInfo"]["hasNextPage"]
    one = api.call(LEDGER, {"f": {"memberId": members[3]}})["ledger"]
    assert one["totalCount"] == 3
    after = api.call(LEDGER, {"f": wallets, "a": "azoy"})  # any cursor: the count is the list's
    assert after["ledger"]["totalCount"] == 10
    own = api.call(OWN_LEDGER, {"m": members[4]})["member"]["ledger"]
    assert own["totalCount"] == 4 and len(own["edges"]) == 1


def test_total_count_is_counted_only_when_asked_and_once_for_a_page_of_members(api, db):
    seed(api)
    api.call(MEMBERS, {"n": 5})
    with recorded(db) as seen:
        api.call(MEMBERS, {"n": 5})
    assert not [s for s in seen if "COUNT(" in s.upper()]
    api.call(EVERY_LEDGER)
    with recorded(db) as seen:
        listed = api.call(EVERY_LEDGER)["members"]["edges"]
    assert sorted(e["node"]["ledger"]["totalCount"] for e in listed) == [0, 1, 2, 3, 4]
    assert len([s for s in seen if "COUNT(" in s.upper()]) == 1
