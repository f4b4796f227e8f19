"""Group commit: writes that arrive while a commit is in flight share the next commit; each
is undone alone when it fails, and answered only once its commit is done."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.core.errors import DomainError, ErrorCode
from server.store import writer
from server.store.models import Setting


@pytest.fixture
def committer(db):
    # One lane, so that the writes can be made to wait behind one commit in flight (on
    # PostgreSQL the server runs several lanes, each batching like this one).
    started = writer.start(lanes=1)
    yield started
    writer.stop()


def put(key: str) -> str:
    Setting.create(key=key, value="x")
    return key


def refuse(key: str) -> str:
    Setting.create(key=key, value="x")
    raise DomainError(ErrorCode.INVALID_INPUT, "no", "key")


def test_writes_waiting_for_a_commit_share_the_next_one(committer, db):
    gate = threading.Event()
    first_running = threading.Event()

    def first() -> str:
        first_running.set()
        gate.wait(timeout=30)  # hold the lane, as a commit in flight would
        return put("first")

    with ThreadPoolExecutor(max_workers=12) as pool:
        head = pool.submit(writer.write, first)
        assert first_running.wait(timeout=30)
        rest = [pool.submit(writer.write, lambda k=f"k{i}": put(k)) for i in range(10)]
        while committer.queue.qsize() < 10:  # every later write is queued behind it
            threading.Event().wait(0.001)
        gate.set()
        assert head.result(timeout=30) == "first"
        assert sorted(f.result(timeout=30) for f in rest) == sorted(f"k{i}" for i in range(10))
    # One commit for the first write, one for the ten that waited for it.
    assert (committer.batches, committer.writes) == (2, 11)
    assert Setting.select().count() == 11


def test_a_failed_write_is_undone_alone(committer, db):
    gate = threading.Event()

    def first() -> str:
        gate.wait(timeout=30)
        return put("a")

    with ThreadPoolExecutor(max_workers=4) as pool:
        head = pool.submit(writer.write, first)
        while committer.queue.qsize() > 0 or not head.running():
            threading.Event().wait(0.001)
        bad = pool.submit(writer.write, lambda: refuse("bad"))
        good = pool.submit(writer.write, lambda: put("b"))
        while committer.queue.qsize() < 2:
            threading.Event().wait(0.001)
        gate.set()
        assert head.result(timeout=30) == "a"
        with pytest.raises(DomainError) as refused:
            bad.result(timeout=30)
        assert refused.value.code is ErrorCode.INVALID_INPUT
        assert good.result(timeout=30) == "b"
    assert sorted(s.key for s in Setting.select()) == ["a", "b"]
    assert committer.writes == 3


def test_without_a_committer_a_write_is_its_own_transaction(db):
    assert writer.committer() is None
    assert writer.write(lambda: put("alone")) == "alone"
    with pytest.raises(DomainError):
        writer.write(lambda: refuse("gone"))
    assert [s.key for s in Setting.select()] == ["alone"]
