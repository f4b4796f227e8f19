"""Random sequences of earn / deduct / reverse / retry / key reuse, checked against a model.

After every step every invariant of `jifen ledger verify` holds and each wallet equals
what the model of accepted requests says.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from server.core import accounts, adjustments, idempotency, members
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, reverse
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import write_transaction
from tests.support import reset_tables


def make_machine(db, clock):
    class LedgerMachine(RuleBasedStateMachine):
        members = Bundle("members")
        requests = Bundle("requests")

        def __init__(self):
            super().__init__()
            reset_tables(db)
            self.balance: dict[int, int] = {}
            self.txns: dict[int, tuple[int, int]] = {}  # txn id -> (member, delta)
            self.reversed: set[int] = set()
            self.key_of: dict[str, int] = {}  # idempotency key -> its transaction
            self.keys = 0

        @initialize(target=members)
        def first_member(self):
            return self._new_member()

        @rule(target=members)
        def another_member(self):
            return self._new_member()

        def _new_member(self):
            with write_transaction():
                m = members.upsert(f"m{len(self.balance)}", now=clock.now()).member
            self.balance[m.id] = 0
            return m.id

        @rule(
            target=requests,
            member=members,
            points=st.integers(-300, 300).filter(bool),
            days=st.integers(0, 3),
        )
        def adjust(self, member, points, days):
            clock.advance(days=days)
            self.keys += 1
            request = (f"k{self.keys}", member, points)
            self._send(request)
            return request

        @rule(request=requests)
        def retry(self, request):
            self._send(request)

        @rule(request=requests, extra=st.integers(1, 5))
        def reuse_key_for_another_request(self, request, extra):
            key, member, points = request
            if key not in self.key_of or points + extra == 0:
                return  # a refused request leaves its key free
            try:
                self._call(key, member, points + extra)
            except DomainError as exc:
                assert exc.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
            else:
                raise AssertionError("a reused key was accepted")

        @rule(data=st.data())
        def reverse_one(self, data):
            open_txns = sorted(set(self.txns) - self.reversed)
            if not open_txns:
                return
            txn_id = data.draw(st.sampled_from(open_txns))
            with write_transaction():
                reverse(txn_id, now=clock.now(), cause=Cause(reason="test"))
            member, delta = self.txns[txn_id]
            self.balance[member] -= delta
            self.reversed.add(txn_id)

        def _call(self, key, member, points):
            def work():
                return adjustments.adjust(
                    member,
                    points,
                    "r",
                    actor="t",
                    now=clock.now(),
                    settings=ProgramSettings(points_expire_days=30),
                ).id

            return idempotency.run_once(
                key, "adjust", {"m": member, "p": points}, clock.now(), work
            )

        def _send(self, request):
            key, member, points = request
            known = key in self.key_of
            try:
                outcome = self._call(key, member, points)
            except DomainError as exc:
                assert exc.code is ErrorCode.INSUFFICIENT_POINTS
                assert points < 0 and self.balance[member] < -points
                return
            if known:
                assert outcome.replayed and outcome.result_id == self.key_of[key]
                return
            # A new key, or the retry of a request that was refused: it runs now.
            assert not outcome.replayed
            self.txns[outcome.result_id] = (member, points)
            self.key_of[key] = outcome.result_id
            self.balance[member] += points

        @invariant()
        def ledger_is_sound(self):
            report = verify()
            assert report.ok, [str(p) for p in report.problems]

        @invariant()
        def wallets_match_the_model(self):
            for member, expected in self.balance.items():
                assert accounts.wallet(member, AccountKind.AVAILABLE).balance == expected

    return LedgerMachine


def test_ledger_state_machine(db, clock):
    machine = make_machine(db, clock)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
