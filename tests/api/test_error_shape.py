"""The shape of errors clients rely on: userErrors in payloads, coded top-level errors."""

from __future__ import annotations

from server.core import members

ADJUST = """
mutation($input: PointsAdjustInput!) {
  pointsAdjust(input: $input) { transaction { id } userErrors { code message field line column } }
}"""


def test_user_errors_have_code_message_and_field(api):
    body = api.raw(
        ADJUST,
        {"input": {"memberId": "mbr_404", "points": 5, "reason": "x", "idempotencyKey": "k"}},
    )
    assert "errors" not in body
    assert body["data"]["pointsAdjust"] == {
        "transaction": None,
        "userErrors": [
            {
                "code": "MEMBER_NOT_FOUND",
                "message": "no member with id 404",
                "field": "memberId",
                "line": None,
                "column": None,
            }
        ],
    }


def test_top_level_errors_carry_a_code_and_the_request_id(client):
    response = client.post("/graphql", json={"query": "{ members { edges { cursor } } }"})
    (error,) = response.json()["errors"]
    assert set(error) == {"message", "locations", "path", "extensions"}
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "requestId": request_id}
    assert error["path"] == ["members"]


def test_unexpected_failures_are_masked_for_clients_and_logged(api, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("secret detail: password=hunter2")

    monkeypatch.setattr(members, "upsert", explode)
    body = api.raw('mutation { memberUpsert(input: {externalId: "a"}) { created } }')
    (error,) = body["errors"]
    assert error["message"] == "Internal error; it has been logged."
    assert error["extensions"]["code"] == "INTERNAL"
    assert set(error["extensions"]) == {"code", "requestId"}
    assert "hunter2" not in str(body)
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [(type(e), str(e)) for e in logged] == [
        (RuntimeError, "secret detail: password=hunter2")
    ]


def test_malformed_requests_are_rejected_with_400(client):
    assert (
        client.post(
            "/graphql", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/graphql", json={"nothing": 1}).status_code == 400


def test_depth_aliases_and_size_are_bounded(api):
    deep = (
        "{ members { edges { node { ledger { edges { node { transaction { entries { "
        "transaction { entries { transaction { id } } } } } } } } } } } }"
    )
    assert "exceeds maximum operation depth" in api.raw(deep)["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"
    assert "aliases" in api.raw(aliases)["errors"][0]["message"]
    huge = "{ " + " ".join("__typename" for _ in range(3000)) + " }"
    assert "token" in api.raw(huge)["errors"][0]["message"].lower()
