"""GraphQL over HTTP's two media types: `application/graphql-response+json` when the
client accepts it, with 4xx for a request that did not run; `application/json` otherwise,
200 with the errors in the body."""

from __future__ import annotations

import pytest

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
OK = "{ viewer { role } }"
RAN_WITH_ERROR = "{ viewer { role } auditLog(first: 1) { edges { cursor } } }"  # reviewer
PARSE = "{ viewer { role "
INVALID = "{ viewer { nothing } }"
VARIABLE = "query($n: Int) { members(first: $n) { edges { cursor } } }"


@pytest.mark.parametrize(
    "accept, query, variables, status, media, has_data",
    [
        (None, OK, None, 200, JSON, True),
        (JSON, PARSE, None, 200, JSON, True),  # "data": null, for older clients
        (JSON, INVALID, None, 200, JSON, True),
        (GRAPHQL_RESPONSE, OK, None, 200, GRAPHQL_RESPONSE, True),
        (GRAPHQL_RESPONSE, RAN_WITH_ERROR, None, 200, GRAPHQL_RESPONSE, True),
        (GRAPHQL_RESPONSE, PARSE, None, 400, GRAPHQL_RESPONSE, False),
        (GRAPHQL_RESPONSE, INVALID, None, 400, GRAPHQL_RESPONSE, False),
        (GRAPHQL_RESPONSE, VARIABLE, {"n": "ten"}, 400, GRAPHQL_RESPONSE, False),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", PARSE, None, 400, GRAPHQL_RESPONSE, False),
    ],
)
def test_the_media_type_and_status_follow_the_accept_header(
    client, keys, accept, query, variables, status, media, has_data
):
    headers = {"authorization": f"Bearer {keys['reviewer']}"}
    if accept is not None:
        headers["accept"] = accept
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == media
    assert ("data" in response.json()) is has_data


def test_a_malformed_request_is_refused_in_the_media_type_accepted(client):
    for accept, media in ((GRAPHQL_RESPONSE, GRAPHQL_RESPONSE), (JSON, JSON)):
        response = client.post(
            "/graphql",
            content=b"{not json",
            headers={"content-type": JSON, "accept": accept},
        )
        assert response.status_code == 400
        assert response.headers["content-type"].split(";")[0] == media
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
