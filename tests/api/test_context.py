"""Who may read what is decided once per request, and the same way every time."""

from __future__ import annotations

import pytest

from server.api.context import Context
from server.api.errors import ApiError
from server.core.auth import Principal, Role
from server.core.clock import SystemClock


def _context(principal: Principal | None) -> Context:
    return Context(clock=SystemClock(), _principal=principal)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.MEMBER])
def test_a_staff_key_reads_every_members_objects(role):
    context = _context(Principal(role, "staff"))
    assert context.reads_all() and context.reads_all()
    context.check_member(1)
    context.check_member(None)


def test_a_member_token_reads_its_own_member_only():
    context = _context(Principal(Role.MEMBER, "m", member_id=7))
    assert not context.reads_all()
    context.check_member(7)
    for other in (8, None):
        with pytest.raises(ApiError) as refused:
            context.check_member(other)
        assert refused.value.extensions["code"] == "FORBIDDEN"


def test_without_a_principal_every_check_is_unauthenticated():
    context = _context(None)
    for _ in range(2):  # refused again, not remembered as allowed
        with pytest.raises(ApiError) as refused:
            context.reads_all()
        assert refused.value.extensions["code"] == "UNAUTHENTICATED"
