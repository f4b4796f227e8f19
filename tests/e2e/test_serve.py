"""`jifen serve` as a newcomer runs it: a real server process on a fresh database."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(empty_db_url, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(port),
            "--rules",
            str(ROOT / "rules"),
        ],
        cwd=ROOT,
        env={"DATABASE_URL": empty_db_url, "PATH": "/usr/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stdout.read()}")
    yield url, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
    if not proc.stdout.closed:
        proc.stdout.close()


def test_a_fresh_server_answers_and_hands_out_one_admin_key(server):
    url, proc = server
    assert httpx.post(f"{url}/graphql", json={"query": "{ __typename }"}).json() == {
        "data": {"__typename": "Query"}
    }
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    keys = re.findall(r"jf_[0-9a-f]{12}_[\w-]+", output)
    assert len(keys) == 1, output
    assert "Traceback" not in output


def test_the_rules_directory_is_in_force_after_start(server):
    url, proc = server
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    assert "rules from" in output and "daily-checkin v1" in output


def test_graphiql_is_served_to_browsers(server):
    url, _ = server
    page = httpx.get(f"{url}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_serve_refuses_a_missing_rules_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--rules", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_two_members_racing_over_http_for_the_last_item(server):
    import threading

    url, proc = server
    deadline = time.monotonic() + 10
    key = None
    while key is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.findall(r"jf_[0-9a-f]{12}_[\w-]+", line)
        key = found[0] if found else None
    headers = {"authorization": f"Bearer {key}"}

    def gql(query, variables=None):
        body = httpx.post(
            f"{url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    ids = []
    for name in ("ann", "ben"):
        ids.append(
            gql(
                "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id } } }",
                {"e": name},
            )["memberUpsert"]["member"]["id"]
        )
        gql(
            "mutation($m: ID!, $k: String!) { pointsAdjust(input: {memberId: $m, points: 500, "
            'reason: "seed", idempotencyKey: $k}) { userErrors { code } } }',
            {"m": ids[-1], "k": f"seed-{name}"},
        )
    item = gql(
        'mutation { catalogItemCreate(input: {title: "Signed album", pointsPrice: 300, '
        "stock: 1}) { item { id } } }"
    )["catalogItemCreate"]["item"]["id"]
    barrier = threading.Barrier(2)
    results = []

    def redeem(member_id):
        barrier.wait(timeout=10)
        results.append(
            gql(
                "mutation($m: ID!, $i: ID!, $k: String!) { redemptionCreate(input: {memberId: $m, "
                "itemId: $i, idempotencyKey: $k}) { redemption { id } userErrors { code } } }",
                {"m": member_id, "i": item, "k": f"race-{member_id}"},
            )["redemptionCreate"]
        )

    threads = [threading.Thread(target=redeem, args=(m,)) for m in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(bool(r["redemption"]) for r in results) == [False, True]
    assert [e["code"] for r in results for e in r["userErrors"]] == ["OUT_OF_STOCK"]
    stock = gql("query($i: ID!) { catalogItem(id: $i) { stock } }", {"i": item})
    assert stock == {"catalogItem": {"stock": 0}}
    points = sorted(
        gql("query($m: ID!) { member(id: $m) { availablePoints } }", {"m": m})["member"][
            "availablePoints"
        ]
        for m in ids
    )
    assert points == [200, 500]


def test_secrets_never_reach_the_logs(server):
    from server.core import auth

    url, proc = server
    key = None
    deadline = time.monotonic() + 10
    while key is None and time.monotonic() < deadline:
        found = re.findall(r"jf_[0-9a-f]{12}_[\w-]+", proc.stdout.readline())
        key = found[0] if found else None
    bogus = key[:-6] + "AAAAAA"
    member = httpx.post(
        f"{url}/graphql",
        headers={"authorization": f"Bearer {key}"},
        json={"query": 'mutation { memberUpsert(input: {externalId: "ada"}) { member { id } } }'},
    )
    token = httpx.post(
        f"{url}/graphql",
        headers={"authorization": f"Bearer {key}"},
        json={"query": 'mutation { memberTokenCreate(memberId: "mbr_1") { token } }'},
    ).json()["data"]["memberTokenCreate"]["token"]
    assert member.status_code == 200 and token.startswith(auth.TOKEN_PREFIX)
    for bearer in (key, bogus, token, token + "x"):
        httpx.post(
            f"{url}/graphql",
            headers={"authorization": f"Bearer {bearer}"},
            json={"query": "{ me { id } }"},
        )
        httpx.get(
            f"{url}/export/ledger.csv",
            headers={"authorization": f"Bearer {bearer}"},
            params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        )
    proc.terminate()
    logs = proc.communicate(timeout=10)[0]
    secret = key.split("_", 2)[2]
    assert secret not in logs and bogus.split("_", 2)[2] not in logs
    assert token.split(".")[-1] not in logs
