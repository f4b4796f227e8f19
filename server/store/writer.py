"""Group commit: write requests that arrive while a commit is in flight commit together.

A request's write is a function (`write(work)`); a writer lane takes every write waiting
at that moment, runs them one after the other in one database transaction, each in a
savepoint of its own (a refusal or an error undoes only that write), commits once, and
only then answers each request. One commit, and on SQLite one fsync and one turn of the
write lock, serves them all; each request is answered once its commit is durable.

SQLite has one lane (one writer at a time anyway); PostgreSQL has several, each with a
connection of its own, so the database still sees concurrent transactions. Without a
running committer (the command line, the scheduler, tests of the domain) `write` simply
runs the work in a transaction of its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.config import settings
from server.store.db import database, in_write_transaction, is_postgres, write_transaction

T = TypeVar("T")
log = logging.getLogger("jifen.writer")

MAX_BATCH = 64  # writes per commit; more wait for the next one
_STOP = object()


@dataclass
class _Job:
    work: Callable[[], Any]
    future: Future = field(default_factory=Future)


class Committer:
    """Writer lanes sharing one queue of writes."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.batches = 0  # commits made, for the curious (tests, metrics)
        self.writes = 0

    def start(self) -> Committer:
        for n in range(self.lanes):
            thread = threading.Thread(target=self._lane, name=f"jifen-writer-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(_STOP)
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads.clear()

    def submit(self, work: Callable[[], T]) -> T:
        job = _Job(work)
        self.queue.put(job)
        return job.future.result()

    def _lane(self) -> None:
        while True:
            job = self.queue.get()
            if job is _STOP:
                return
            jobs = [job]
            while len(jobs) < MAX_BATCH:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self.queue.put(_STOP)  # for this lane's next turn
                    break
                jobs.append(more)
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with database.connection_context(), write_transaction():
                for job in jobs:
                    try:
                        with write_transaction():  # a savepoint: undone alone
                            outcomes.append((True, job.work()))
                    except BaseException as exc:  # noqa: BLE001 - handed to its request
                        outcomes.append((False, exc))
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was written
            outcomes = [(False, exc)] * len(jobs)
        self.batches += 1
        self.writes += len(jobs)
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


_committer: Committer | None = None


def start(lanes: int | None = None) -> Committer:
    """Start group commit for this process (the server does, at start)."""
    global _committer
    stop()
    if lanes is None:
        lanes = 1 if not is_postgres() else settings().writer_lanes or 4
    _committer = Committer(lanes).start()
    return _committer


def stop() -> None:
    global _committer
    if _committer is not None:
        _committer.stop()
        _committer = None


def committer() -> Committer | None:
    return _committer


def write(work: Callable[[], T]) -> T:
    """Run `work` in a write transaction and return what it returns, once committed.

    With group commit running, the transaction is shared with the writes that arrived
    meanwhile (work runs in a savepoint of its own on a writer lane); inside a write
    transaction already, it is simply a savepoint of that one.
    """
    if _committer is None or in_write_transaction():
        with write_transaction():
            return work()
    return _committer.submit(work)
