"""Crash safety: kill -9 mid-load, restart, replay every request; and a database restart."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest

from server.store.db import bind, open_database
from tests.e2e.servers import Server, graphql

MEMBERS = 12
REQUESTS = 240
SEED = 10_000
ADJUST = """mutation($m: ID!, $k: String!) { pointsAdjust(input: {memberId: $m, points: 3,
  reason: "load", idempotencyKey: $k}) { replayed userErrors { code } } }"""
REDEEM = """mutation($m: ID!, $i: ID!, $k: String!) { redemptionCreate(input: {memberId: $m,
  itemId: $i, idempotencyKey: $k}) { replayed userErrors { code } } }"""


def setup(server: Server, key: str) -> tuple[list[str], str]:
    members = []
    for i in range(MEMBERS):
        mid = graphql(
            server.url,
            key,
            "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id } } }",
            {"e": f"load{i}"},
        )["data"]["memberUpsert"]["member"]["id"]
        body = graphql(
            server.url,
            key,
            "mutation($m: ID!, $k: String!) { pointsAdjust(input: {"
            'memberId: $m, points: 10000, reason: "seed", idempotencyKey: $k}) '
            "{ userErrors { code } } }",
            {"m": mid, "k": f"seed-{i}"},
        )
        assert body["data"]["pointsAdjust"]["userErrors"] == [], body
        members.append(mid)
    item = graphql(
        server.url,
        key,
        'mutation { catalogItemCreate(input: {title: "Sticker", pointsPrice: 5}) { item { id } } }',
    )["data"]["catalogItemCreate"]["item"]["id"]
    return members, item


def plan(members: list[str]) -> list[tuple[str, str, str]]:
    rng = random.Random(5)
    return [
        ("adjust" if rng.random() < 0.6 else "redeem", rng.choice(members), f"req-{n}")
        for n in range(REQUESTS)
    ]


def send(server: Server, key: str, item: str, request) -> str:
    kind, member, ikey = request
    query, variables = (
        (ADJUST, {"m": member, "k": ikey})
        if kind == "adjust"
        else (REDEEM, {"m": member, "i": item, "k": ikey})
    )
    try:
        body = graphql(server.url, key, query, variables, timeout=5)
    except httpx.ConnectError:
        return "refused"  # never reached the server
    except httpx.TransportError:
        return "lost"  # sent; the answer, and whether it committed, are unknown
    if body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code", "error")
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], payload
    return "replayed" if payload["replayed"] else "ok"


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)


def check_replay(before: list[str | None], after: list[str]) -> None:
    """A request answered before replays as `replayed`; one never sent or refused is
    new (`ok`); one whose answer was lost or refused as UNAVAILABLE may have committed."""
    for n, (first, again) in enumerate(zip(before, after, strict=True)):
        if first == "ok":
            assert again == "replayed", (n, first, again)
        elif first in (None, "refused"):
            assert again == "ok", (n, first, again)
        else:
            assert first in ("lost", "UNAVAILABLE") and again in ("ok", "replayed"), (
                n,
                first,
                again,
            )


@pytest.mark.slow
def test_kill_9_mid_load_then_replay_gives_each_key_exactly_one_effect(empty_db_url, tmp_path):
    server = Server(empty_db_url).start()
    key = server.admin_key()
    members, item = setup(server, key)
    requests = plan(members)
    outcomes: list[str | None] = [None] * len(requests)

    def one(n):
        outcomes[n] = send(server, key, item, requests[n])

    def load():
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(REQUESTS)))

    loader = threading.Thread(target=load)
    loader.start()
    wait_until(
        lambda: sum(o is not None for o in outcomes) >= REQUESTS // 4, 60, "a quarter answered"
    )
    server.kill()
    loader.join(timeout=60)
    assert not loader.is_alive()
    assert set(outcomes) <= {"ok", "lost", "refused"}, set(outcomes)
    assert "refused" in outcomes, "the kill did not interrupt the load"
    server = Server(empty_db_url, port=server.port).start()
    replay = [send(server, key, item, r) for r in requests]
    check_replay(outcomes, replay)
    server.stop()
    check_model(empty_db_url, requests)


def check_model(url: str, requests) -> None:
    from server.core.accounts import AccountKind, wallet
    from server.core.verify import verify
    from server.store.models import IdempotencyKey, Member, Redemption

    db = bind(open_database(url))
    try:
        with db.connection_context():
            assert verify().ok, [str(p) for p in verify().problems]
            expected: dict[str, int] = {}
            for kind, member, _ in requests:
                expected[member] = expected.get(member, SEED) + (3 if kind == "adjust" else -5)
            for member_id, balance in expected.items():
                number = int(member_id.split("_")[1])
                assert wallet(number, AccountKind.AVAILABLE).balance == balance, member_id
            assert Redemption.select().count() == sum(1 for r in requests if r[0] == "redeem")
            keys = {k.key for k in IdempotencyKey.select()}
            assert {r[2] for r in requests} <= keys
            assert Member.select().count() == MEMBERS
    finally:
        db.close_all()


def _restart_postgres() -> None:
    version = next(Path("/etc/postgresql").iterdir()).name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.slow
def test_a_postgres_restart_is_unavailable_then_recovers_without_a_server_restart(
    request, tmp_path
):
    from tests.conftest import IN_CI
    from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

    if not Path("/etc/postgresql").is_dir():
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI")
        pytest.skip("no local PostgreSQL cluster to restart")
    try:
        with temporary_postgres(postgres_admin_url()) as url:
            server = Server(url).start()
            try:
                key = server.admin_key()
                members, item = setup(server, key)
                requests = plan(members)
                outcomes: list[str] = []
                stop = threading.Event()

                def load():
                    # A client that backs off a little after each refusal, so the plan's
                    # requests outlast a slow restart of the database.
                    for r in requests:
                        if stop.is_set():
                            break
                        outcomes.append(send(server, key, item, r))
                        if outcomes[-1] == "UNAVAILABLE":
                            stop.wait(0.05)

                def recovered() -> bool:
                    seen = list(outcomes)
                    return "UNAVAILABLE" in seen and seen[-1] == "ok"

                loader = threading.Thread(target=load)
                loader.start()
                wait_until(lambda: "ok" in outcomes, 30, "a first request answered")
                _restart_postgres()
                wait_until(lambda: recovered() or not loader.is_alive(), 120, "recovery")
                stop.set()
                loader.join(timeout=30)
                assert set(outcomes) <= {"ok", "UNAVAILABLE"}, set(outcomes)
                assert "UNAVAILABLE" in outcomes, "no request met the restart"
                assert outcomes[-1] == "ok", "the server did not recover by itself"
                replay = [send(server, key, item, r) for r in requests]
                check_replay([*outcomes, *[None] * (len(requests) - len(outcomes))], replay)
            finally:
                server.stop()
            check_model(url, requests)
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL did not come back: {exc}")
    finally:
        # The suite's own pooled connections died with the restart: drop them.
        pooled = request.getfixturevalue("_postgres_db")
        try:
            pooled.close_all()
        except Exception:  # noqa: BLE001 - they are dead; forget them
            pooled.dispose()
