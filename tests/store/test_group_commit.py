"""Group commit: writes that arrive while a commit is in flight share the next commit; each
is undone alone when it fails, and answered only once its commit is done."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import OperationalError

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


class Puts:
    """A group of writes: each item is a setting's key; `run` stores them all at once."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        for key in items:
            if key.startswith("bad"):
                raise ValueError(f"cannot store {key}")
            Setting.create(key=key, value="x")
        return [f"stored {key}" for key in items]


def _held(committer, pool, gate: threading.Event):
    """A write that holds the lane until `gate` is set, as a commit in flight would."""

    def first() -> str:
        gate.wait(timeout=30)
        return put("first")

    head = pool.submit(writer.write, first)
    while committer.queue.qsize() > 0 or not head.running():
        threading.Event().wait(0.001)
    return head


def test_writes_of_a_group_waiting_together_run_in_one_call(committer, db):
    group, gate = Puts(), threading.Event()
    with ThreadPoolExecutor(max_workers=12) as pool:
        head = _held(committer, pool, gate)
        waiting = [pool.submit(writer.together, group, f"k{i}") for i in range(6)]
        while committer.queue.qsize() < 6:
            threading.Event().wait(0.001)
        gate.set()
        assert head.result(timeout=30) == "first"
        assert [f.result(timeout=30) for f in waiting] == [f"stored k{i}" for i in range(6)]
    # The six came in one call, in the order they were queued, and in one commit.
    assert len(group.calls) == 1
    assert sorted(group.calls[0]) == [f"k{i}" for i in range(6)]
    assert (committer.batches, committer.writes) == (2, 7)
    assert Setting.select().count() == 7


def test_a_group_that_fails_runs_each_item_alone_and_only_the_bad_one_fails(committer, db):
    group, gate = Puts(), threading.Event()
    with ThreadPoolExecutor(max_workers=8) as pool:
        head = _held(committer, pool, gate)
        good = [pool.submit(writer.together, group, key) for key in ("a", "b")]
        while committer.queue.qsize() < 2:
            threading.Event().wait(0.001)
        bad = pool.submit(writer.together, group, "bad")
        more = pool.submit(writer.together, group, "c")
        while committer.queue.qsize() < 4:
            threading.Event().wait(0.001)
        gate.set()
        head.result(timeout=30)
        assert [f.result(timeout=30) for f in good] == ["stored a", "stored b"]
        assert more.result(timeout=30) == "stored c"
        with pytest.raises(ValueError, match="cannot store bad"):
            bad.result(timeout=30)
    # Together first (undone whole), then each alone.
    assert group.calls[0] == ["a", "b", "bad", "c"]
    assert sorted(group.calls[1:]) == [["a"], ["b"], ["bad"], ["c"]]
    assert sorted(s.key for s in Setting.select()) == ["a", "b", "c", "first"]


def test_a_deadlock_in_a_group_fails_each_of_its_writes_for_a_retry(committer, db):
    class Deadlock(Exception):
        sqlstate = "40P01"

    class Deadlocked(Puts):
        def run(self, items):
            super().run([])
            Setting.create(key="half", value="x")
            raise OperationalError("deadlock detected") from Deadlock()

    group, gate = Deadlocked(), threading.Event()
    with ThreadPoolExecutor(max_workers=8) as pool:
        head = _held(committer, pool, gate)
        waiting = [pool.submit(writer.together, group, key) for key in ("a", "b", "c")]
        while committer.queue.qsize() < 3:
            threading.Event().wait(0.001)
        gate.set()
        head.result(timeout=30)
        for future in waiting:
            with pytest.raises(OperationalError, match="deadlock"):
                future.result(timeout=30)
    # Not run again alone: the requests retry (server/api/errors.py); nothing was kept.
    assert len(group.calls) == 1
    assert [s.key for s in Setting.select()] == ["first"]


def test_without_a_committer_an_item_of_a_group_is_its_own_transaction(db):
    group = Puts()
    assert writer.together(group, "alone") == "stored alone"
    with pytest.raises(ValueError):
        writer.together(group, "bad one")
    assert [s.key for s in Setting.select()] == ["alone"]
