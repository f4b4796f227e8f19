"""Group commit: write requests that arrive while a commit is in flight commit together.

A request's write is a function (`write(work)`); a writer lane takes every write waiting
at that moment, runs them one after the other in one database transaction, each in a
savepoint of its own (a refusal or an error undoes only that write), commits once, and
only then answers each request. One commit, and on SQLite one fsync and one turn of the
write lock, serves them all; each request is answered once its commit is durable.

Writes of one kind may go further (`together`): a `Group` takes the items of every such
write waiting in one call — the events of concurrent check-ins are recorded as one batch,
their members, counters and keys read at once and each table written once. An item the
group refuses is refused alone (the group returns its refusal as its result); if the group
fails as a whole for an unexpected reason, each of its items runs again alone, in a
savepoint of its own, so one bad item cannot fail the others.

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
from typing import Any, Protocol, TypeVar

from peewee import DatabaseError, InterfaceError

from server.config import settings
from server.store.db import (
    DatabaseUnavailable,
    database,
    in_write_transaction,
    is_postgres,
    retryable,
    write_transaction,
)

T = TypeVar("T")
log = logging.getLogger("jifen.writer")

MAX_BATCH = 64  # writes per commit; more wait for the next one
_STOP = object()


class Group(Protocol):
    """Writes that can be done together: `run` takes the items of several waiting writes
    (in the order they arrived) and returns one result per item, in that order."""

    def run(self, items: list[Any]) -> list[Any]: ...


@dataclass
class _Job:
    work: Callable[[], Any] | None
    future: Future = field(default_factory=Future)
    group: Group | None = None
    item: Any = None


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

    def submit_together(self, group: Group, item: Any) -> Any:
        job = _Job(None, group=group, item=item)
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
        # Jobs of a group go together, where its first one stood; the others alone.
        parts: list[list[_Job]] = []
        grouped: dict[int, list[_Job]] = {}
        for job in jobs:
            if job.group is None:
                parts.append([job])
            elif id(job.group) in grouped:
                grouped[id(job.group)].append(job)
            else:
                grouped[id(job.group)] = [job]
                parts.append(grouped[id(job.group)])
        jobs = [job for part in parts for job in part]
        outcomes: list[tuple[bool, Any]] = []
        try:
            with database.connection_context(), write_transaction():
                for part in parts:
                    if part[0].group is None:
                        outcomes.append(_alone(part[0].work))
                    else:
                        outcomes.extend(_together(part))
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was written
            outcomes = [(False, exc)] * len(jobs)
        self.batches += 1
        self.writes += len(jobs)
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


def _alone(work: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        with write_transaction():  # a savepoint: undone alone
            return True, work()
    except BaseException as exc:  # noqa: BLE001 - handed to its request
        return False, exc


def _together(jobs: list[_Job]) -> list[tuple[bool, Any]]:
    group = jobs[0].group
    if len(jobs) == 1:
        return [_alone(lambda: group.run([jobs[0].item])[0])]
    try:
        with write_transaction():  # a savepoint: the whole group is undone if it fails
            results = group.run([job.item for job in jobs])
        return [(True, result) for result in results]
    except Exception as exc:  # noqa: BLE001 - judged below
        if isinstance(exc, DatabaseUnavailable) or (
            isinstance(exc, DatabaseError | InterfaceError) and retryable(exc)
        ):
            # A deadlock or a lost connection: nothing of the group stays; each retries.
            return [(False, exc)] * len(jobs)
        # One item's fault must not fail the others: each runs again, alone.
        log.exception("a group of %d writes failed together; running each alone", len(jobs))
        return [_alone(lambda job=job: group.run([job.item])[0]) for job in jobs]


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


def together(group: Group, item: Any) -> Any:
    """Run one item of `group` in a write transaction and return its result, once
    committed; with group commit running, together with the items of the same group
    waiting at that moment (one `group.run` for all of them)."""
    if _committer is None or in_write_transaction():
        with write_transaction():
            return group.run([item])[0]
    return _committer.submit_together(group, item)
