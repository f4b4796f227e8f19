"""Write transactions: after-commit hooks run once the work is durable, and only then."""

from __future__ import annotations

import pytest

from server.store.db import after_commit, write_transaction
from server.store.models import Setting


def test_a_rolled_back_savepoint_takes_its_hooks_with_it(db):
    ran = []
    with write_transaction():
        after_commit(lambda: ran.append("outer"))
        with pytest.raises(ValueError, match="^refused$"), write_transaction():
            Setting.create(key="gone", value="1")
            after_commit(lambda: ran.append("refused"))
            raise ValueError("refused")
        with write_transaction():
            Setting.create(key="kept", value="1")
            after_commit(lambda: ran.append("kept"))
        assert ran == []  # nothing before the commit
    assert ran == ["outer", "kept"]
    assert [s.key for s in Setting.select().where(Setting.key.in_(["gone", "kept"]))] == ["kept"]


def test_no_hook_runs_when_the_outer_transaction_rolls_back(db):
    ran = []
    with pytest.raises(RuntimeError, match="^rolled back$"), write_transaction():
        with write_transaction():
            after_commit(lambda: ran.append("inner"))
        raise RuntimeError("rolled back")
    assert ran == []
