"""A mutation that meets a deadlock runs again; other database errors do not."""

from __future__ import annotations

import pytest
from peewee import OperationalError

from server.api import errors
from server.store.db import retryable


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failure(sqlstate: str) -> OperationalError:
    try:
        raise _DriverError(sqlstate)
    except _DriverError as cause:
        try:
            raise OperationalError(cause) from cause
        except OperationalError as wrapped:
            return wrapped


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_runs_the_work_again(db, sqlstate):
    attempts = []

    def work():
        attempts.append(1)
        if len(attempts) < 3:
            raise _failure(sqlstate)
        return "done"

    assert errors.mutation(dict, work) == "done"
    assert len(attempts) == 3


def test_it_gives_up_after_a_few_attempts(db):
    attempts = []

    def work():
        attempts.append(1)
        raise _failure("40P01")

    with pytest.raises(OperationalError) as raised:
        errors.mutation(dict, work)
    assert len(attempts) == errors.RETRIES
    assert raised.value.__cause__.sqlstate == "40P01"  # the last failure, as it was


def test_other_database_errors_are_not_retried(db):
    attempts = []

    def work():
        attempts.append(1)
        raise _failure("23505")  # a unique violation is an answer, not bad luck

    with pytest.raises(OperationalError) as raised:
        errors.mutation(dict, work)
    assert len(attempts) == 1 and not retryable(_failure("23505"))
    assert raised.value.__cause__.sqlstate == "23505"


def test_the_drivers_deadlock_as_peewee_raises_it_counts_as_retryable():
    import peewee
    from psycopg import errors as pg

    with pytest.raises(OperationalError) as raised, peewee.__exception_wrapper__:
        raise pg.DeadlockDetected("deadlock detected")
    assert retryable(raised.value)
