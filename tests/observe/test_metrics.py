"""/metrics: what Prometheus scrapes after real traffic, named as docs/operations.md says."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from server.app import create_app
from server.config import override
from server.core import members, program, rules
from server.core.program import ProgramSettings
from server.core.tick import tick
from server.store.db import write_transaction

CHECKIN = """
mutation Checkin($input: CheckinRecordInput!) {
  checkinRecord(input: $input) { day userErrors { code } }
}"""
WHO = "query Who { members(first: 1) { edges { cursor } } }"

DOCUMENTED = {
    "jifen_graphql_requests",
    "jifen_graphql_request_duration_seconds",
    "jifen_events_recorded",
    "jifen_points_issued",
    "jifen_points_spent",
    "jifen_points_expired",
    "jifen_subscribers",
    "jifen_scheduler_runs",
    "jifen_scheduler_run_duration_seconds",
    "jifen_scheduler_lag_seconds",
    "jifen_db_pool_connections",
    "jifen_db_pool_max_connections",
    "jifen_campaign_budget_points",
    "jifen_campaign_budget_remaining_points",
    "jifen_database_up",
}


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        samples[(family.name, ())] = 0.0  # the family is there, with or without samples
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def setup_program(clock, budget=51):
    with write_transaction():
        rules.publish(
            [("t.rules", f'campaign "tiny" {{\n budget {budget} points\n checkin award 2\n}}')],
            now=clock.now(),
            actor="t",
        )
        program.save(ProgramSettings(points_expire_days=30))
        return [members.upsert(f"m{i}", now=clock.now()).member.id for i in range(3)]


def test_metrics_count_requests_events_points_and_read_budgets(db, clock, api, client, monkeypatch):
    ids = setup_program(clock)
    before = scrape(client)
    for i in ids:
        body = api.raw(CHECKIN, {"input": {"memberId": f"mbr_{i}", "idempotencyKey": f"k{i}"}})
        assert body["data"]["checkinRecord"]["userErrors"] == [], body
    again = api.raw(CHECKIN, {"input": {"memberId": f"mbr_{ids[0]}", "idempotencyKey": "x"}})
    assert again["data"]["checkinRecord"]["userErrors"] == [{"code": "ALREADY_CHECKED_IN"}]
    assert "errors" in api.as_(None).raw(WHO)  # unauthenticated: the caller's mistake

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(members, "upsert", explode)
    failing = api.raw('mutation Boom { memberUpsert(input: {externalId: "z"}) { created } }')
    assert failing["errors"][0]["extensions"]["code"] == "INTERNAL"

    after = scrape(client)
    missing = DOCUMENTED - {name for name, _ in after}
    assert not missing, f"metrics not exposed: {sorted(missing)}"

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "jifen_graphql_requests_total"
    assert delta(requests, operation="Checkin", type="mutation", outcome="ok") == 3
    assert delta(requests, operation="Checkin", type="mutation", outcome="user_error") == 1
    assert delta(requests, operation="Who", type="query", outcome="user_error") == 1
    assert delta(requests, operation="Boom", type="mutation", outcome="error") == 1
    latency = "jifen_graphql_request_duration_seconds_count"
    assert delta(latency, operation="Checkin", type="mutation") == 4
    assert delta("jifen_events_recorded_total", type="checkin") == 3
    assert delta("jifen_points_issued_total", campaign="tiny") == 6
    # Read from the database at scrape time: the budget and what is left of it.
    assert value(after, "jifen_campaign_budget_points", campaign="tiny") == 51
    assert value(after, "jifen_campaign_budget_remaining_points", campaign="tiny") == 45
    assert value(after, "jifen_database_up") == 1
    assert value(after, "jifen_db_pool_max_connections") > 0
    assert value(after, "jifen_db_pool_connections", state="in_use") >= 1  # this scrape's


def test_expiry_and_scheduler_lag_are_measured(db, clock, api, client):
    ids = setup_program(clock)
    api.call(CHECKIN, {"input": {"memberId": f"mbr_{ids[0]}", "idempotencyKey": "k"}})
    before = scrape(client)
    assert value(before, "jifen_scheduler_lag_seconds") == 0  # nothing due yet
    clock.set(clock.now() + timedelta(days=31))  # a day past the points' expiry
    late = scrape(client)
    assert 23 * 3600 < value(late, "jifen_scheduler_lag_seconds") <= 24 * 3600
    report = tick(clock.now())
    assert report.points_expired == 2
    after = scrape(client)
    assert value(after, "jifen_scheduler_lag_seconds") == 0
    expired = "jifen_points_expired_total"
    assert value(after, expired, campaign="tiny") - value(before, expired, campaign="tiny") == 2
    assert value(after, "jifen_scheduler_last_run_timestamp_seconds") == clock.now().timestamp()


def test_a_metrics_token_is_required_when_set(db, clock):
    with override(metrics_token="s3cret-metrics-token"):
        client = TestClient(create_app(clock=clock))
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"authorization": "Bearer s3cret-metrics-token"})
        assert ok.status_code == 200 and "jifen_database_up 1.0" in ok.text


def test_metrics_can_be_turned_off(db, clock):
    with override(metrics=False):
        assert TestClient(create_app(clock=clock)).get("/metrics").status_code == 404


@pytest.mark.parametrize("count", [1])
def test_operation_names_are_bounded_labels(db, clock, client, monkeypatch, count):
    from server.observe import metrics

    monkeypatch.setattr(metrics, "_children", {})
    monkeypatch.setattr(metrics, "MAX_OPERATIONS", 2)
    for name in ("A", "B", "C", "D"):
        client.post("/graphql", json={"query": f"query {name} {{ __typename }}"})
    after = scrape(client)
    labels = {
        dict(labels)["operation"]
        for (name, labels) in after
        if name == "jifen_graphql_requests_total" and dict(labels).get("type") == "query"
    }
    assert {"A", "B", "other"} <= labels and not {"C", "D"} & labels


def test_live_subscriptions_are_counted_while_they_last(db, clock, client, keys):
    def subscribers() -> float:
        return value(scrape(client), "jifen_subscribers", topic="activity")

    before = subscribers()
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {keys['admin']}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { activity { kind } }"},
            }
        )
        deadline = time.monotonic() + 10
        while subscribers() != before + 1:
            assert time.monotonic() < deadline, "the subscription was never counted"
            time.sleep(0.02)
        ws.send_json({"id": "1", "type": "complete"})
        while subscribers() != before:
            assert time.monotonic() < deadline, "the ended subscription is still counted"
            time.sleep(0.02)
