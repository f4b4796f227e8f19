"""`jifen serve` as a newcomer runs it: a real server process on a fresh database."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from tests.e2e.servers import ROOT, free_port


@pytest.fixture
def server(empty_db_url, tmp_path):
    (tmp_path / "keys").mkdir()
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
        env={
            "DATABASE_URL": empty_db_url,
            "PATH": "/usr/bin",
            "JIFEN_ADMIN_KEY_FILE": str(tmp_path / "keys" / "admin-key"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc)
    yield url, proc, tmp_path / "keys" / "admin-key"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
    if not proc.stdout.closed:
        proc.stdout.close()


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"server did not start: {proc.stdout.read()}")


def test_a_fresh_server_answers_and_hands_out_one_admin_key(server):
    url, proc, key_file = server
    assert httpx.post(f"{url}/graphql", json={"query": "{ __typename }"}).json() == {
        "data": {"__typename": "Query"}
    }
    # The key goes to a file only its owner may read, and nowhere else.
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (key,) = key_file.read_text().split()
    assert re.fullmatch(r"jf_[0-9a-f]{12}_[\w-]+", key)
    me = httpx.post(
        f"{url}/graphql",
        json={"query": "{ auditLog(first: 1) { edges { node { action } } } }"},
        headers={"authorization": f"Bearer {key}"},
    ).json()
    assert "errors" not in me, me
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    assert key not in output and key.split("_", 2)[2] not in output
    assert re.findall(r"jf_[0-9a-f]{12}_[\w-]+", output) == []
    assert str(key_file) in output
    assert "Traceback" not in output


def test_a_second_start_writes_no_new_key(empty_db_url, tmp_path):
    key_file = tmp_path / "admin-key"
    env = {"DATABASE_URL": empty_db_url, "PATH": "/usr/bin", "JIFEN_ADMIN_KEY_FILE": str(key_file)}
    migrate = [sys.executable, "-m", "server.cli", "db", "upgrade"]
    done = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    def start_and_stop() -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.terminate()
        return proc.communicate(timeout=10)[0]

    first = start_and_stop()
    assert key_file.read_text().startswith("jf_") and "First start" in first
    key_file.unlink()
    second = start_and_stop()
    assert not key_file.exists() and "First start" not in second


def test_the_rules_directory_is_in_force_after_start(server):
    url, proc, _ = server
    proc.terminate()
    output = proc.communicate(timeout=10)[0]
    assert "rules from" in output and "daily-checkin v1" in output


def test_graphiql_is_served_to_browsers(server):
    url, _, _ = server
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

    url, proc, key_file = server
    key = key_file.read_text().strip()
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

    url, proc, key_file = server
    key = key_file.read_text().strip()
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
