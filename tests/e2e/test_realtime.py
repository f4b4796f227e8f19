"""Subscriptions over graphql-transport-ws: across server processes, and who may listen."""

from __future__ import annotations

import asyncio
import time

import httpx2 as httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from server.core import adjustments, auth, members, notify
from server.core.program import ProgramSettings
from server.store.db import write_transaction
from tests.e2e.servers import Server, free_port

POINTS = gql("""subscription($m: ID!) { pointsChanged(memberId: $m) {
  memberId delta available kind reason } }""")
ACTIVITY = gql("subscription { activity { kind text memberName } }")


def transport(base: str, token: str | None) -> WebsocketsTransport:
    init = {"authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(
        url=base.replace("http", "ws") + "/graphql",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload=init,
        connect_timeout=10,
    )


@pytest.fixture
def two_servers(postgres_url_fresh):
    first = Server(postgres_url_fresh).start()
    second = Server(postgres_url_fresh).start()
    yield first.url, second.url, first
    second.stop()
    first.stop()


@pytest.fixture
def postgres_url_fresh(request):
    from tests.conftest import IN_CI
    from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

    try:
        with temporary_postgres(postgres_admin_url()) as url:
            yield url
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


def test_a_change_made_through_one_process_reaches_a_subscriber_of_another(two_servers):
    base_a, base_b, first = two_servers
    key = first.admin_key()
    headers = {"authorization": f"Bearer {key}"}

    def call(query, variables):
        body = httpx.post(
            f"{base_b}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=10,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    member = call(
        "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { member { id } } }",
        {"e": "ada"},
    )["memberUpsert"]["member"]["id"]

    async def scenario():
        async with Client(transport=transport(base_a, key)) as session:
            received = []

            async def listen():
                async for result in session.subscribe(
                    GraphQLRequest(POINTS, variable_values={"m": member})
                ):
                    received.append((time.monotonic(), result["pointsChanged"]))
                    return

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.5)  # the subscription is registered
            sent = time.monotonic()
            await asyncio.to_thread(
                call,
                "mutation($m: ID!) { pointsAdjust(input: {memberId: "
                '$m, points: 25, reason: "hello", idempotencyKey: "k"}) '
                "{ userErrors { code } } }",
                {"m": member},
            )
            await asyncio.wait_for(listener, timeout=5)
            return sent, received

    sent, received = asyncio.run(scenario())
    ((arrived, change),) = received
    assert change == {
        "memberId": member,
        "delta": 25,
        "available": 25,
        "kind": "adjustment",
        "reason": "hello",
    }
    assert arrived - sent < 1.0


def test_subscriptions_need_a_token_and_a_member_only_hears_itself(db, clock):
    # In one process on either database; the server runs in a thread here.
    import threading

    import uvicorn

    from server.app import create_app

    with write_transaction():
        ada = members.upsert("ada", now=clock.now()).member
        bob = members.upsert("bob", now=clock.now()).member
    token = auth.member_token(ada.id, now=clock.now())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(clock=clock), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)

    async def scenario():
        with pytest.raises(Exception):  # noqa: B017 - the server closes the socket: 4403
            async with Client(transport=transport(base, None)) as session:
                async for _ in session.subscribe(
                    GraphQLRequest(POINTS, variable_values={"m": f"mbr_{ada.id}"})
                ):
                    break
        with pytest.raises(TransportQueryError, match="own member"):
            async with Client(transport=transport(base, token)) as session:
                async for _ in session.subscribe(
                    GraphQLRequest(POINTS, variable_values={"m": f"mbr_{bob.id}"})
                ):
                    break
        async with Client(transport=transport(base, token)) as session:
            got = []

            async def listen():
                request = GraphQLRequest(POINTS, variable_values={"m": f"mbr_{ada.id}"})
                async for result in session.subscribe(request):
                    got.append(result["pointsChanged"]["delta"])
                    return

            task = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_adjust, ada.id, 7, clock)
            await asyncio.wait_for(task, timeout=5)
            return got

    try:
        assert asyncio.run(scenario()) == [7]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _adjust(member_id, points, clock):
    from server.store.db import database

    with database.connection_context(), write_transaction():
        adjustments.adjust(
            member_id, points, "r", actor="t", now=clock.now(), settings=ProgramSettings()
        )


def test_a_slow_subscriber_loses_old_notices_and_never_blocks(db, clock):
    from server.store.db import is_postgres
    from server.store.listen import dsn_of, listen

    async def scenario():
        notify.broker.bind(asyncio.get_running_loop())
        listener = None
        if is_postgres():
            ready = asyncio.Event()
            listener = asyncio.create_task(
                listen(dsn_of(db), notify.CHANNEL, notify.dispatch, ready)
            )
            await asyncio.wait_for(ready.wait(), timeout=10)
        with write_transaction():
            ada = members.upsert("ada", now=clock.now()).member
        async with notify.broker.subscription(notify.points_topic(ada.id)) as queue:
            # Nobody reads the queue; every mutation still completes.
            for _ in range(notify.QUEUE_SIZE + 50):
                await asyncio.to_thread(_adjust, ada.id, 1, clock)
            for _ in range(50):
                await asyncio.sleep(0.05)
                newest = queue._queue[-1] if queue.qsize() else None
                if newest and newest["available"] == notify.QUEUE_SIZE + 50:
                    break
            assert queue.qsize() == notify.QUEUE_SIZE  # the oldest 50 were dropped
            newest = [queue.get_nowait() for _ in range(queue.qsize())][-1]
        if listener is not None:
            listener.cancel()
        return newest["available"]

    assert asyncio.run(scenario()) == notify.QUEUE_SIZE + 50


def test_the_activity_feed_tells_who_just_won_what(db, clock):
    import threading

    import uvicorn

    from server.app import create_app
    from server.core import catalog

    with write_transaction():
        ada = members.upsert("ada", now=clock.now(), display_name="Ada").member
        adjustments.adjust(
            ada.id, 500, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
        )
        item = catalog.create_item(
            catalog.ItemInput(title="Tote bag", points_price=200), now=clock.now()
        )
    token = auth.member_token(ada.id, now=clock.now())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(clock=clock), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def redeem():
        from server.store.db import database

        with database.connection_context(), write_transaction():
            catalog.redeem(ada.id, item.id, 1, now=clock.now(), settings=ProgramSettings())

    async def scenario():
        async with Client(transport=transport(f"http://127.0.0.1:{port}", token)) as session:

            async def listen():
                async for result in session.subscribe(ACTIVITY):
                    return result["activity"]

            task = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            await asyncio.to_thread(redeem)
            return await asyncio.wait_for(task, timeout=5)

    try:
        assert asyncio.run(scenario()) == {
            "kind": "redemption",
            "memberName": "Ada",
            "text": "Ada redeemed Tote bag",
        }
    finally:
        server.should_exit = True
        thread.join(timeout=10)
