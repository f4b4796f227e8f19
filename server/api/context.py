"""What every resolver gets: who is asking, one `now` for the request, the program settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strawberry.types import Info as StrawberryInfo

from server.api.errors import ApiError
from server.core import auth, idempotency, program
from server.core.auth import Principal, Role
from server.core.clock import Clock
from server.core.errors import ErrorCode
from server.core.program import ProgramSettings

_UNSET: Any = object()


@dataclass
class Context:
    clock: Clock
    token: str | None = None
    rng: Any = None  # lottery draws: None means the system's secure generator
    connection_params: dict | None = None  # a WebSocket's connection_init payload
    request: Any = None
    response: Any = None
    _principal: Any = field(default=_UNSET, repr=False)
    _auth_error: str | None = field(default=None, repr=False)
    _now: datetime | None = field(default=None, repr=False)
    _settings: ProgramSettings | None = field(default=None, repr=False)
    _reads_all: bool | None = field(default=None, repr=False)

    @property
    def now(self) -> datetime:
        """One instant per request, so every part of a response agrees on the time."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    @property
    def settings(self) -> ProgramSettings:
        if self._settings is None:
            self._settings = program.load()
        return self._settings

    @property
    def principal(self) -> Principal | None:
        if self._principal is _UNSET:
            self._principal = None
            if self.token:
                try:
                    self._principal = auth.authenticate(self.token, now=self.now)
                except auth.AuthError as exc:
                    self._auth_error = exc.message
        return self._principal

    def require_principal(self) -> Principal:
        principal = self.principal
        if principal is None:
            reason = self._auth_error or "no token: send `Authorization: Bearer <key>`"
            raise ApiError(ErrorCode.UNAUTHENTICATED, f"not authenticated: {reason}")
        return principal

    @property
    def actor(self) -> str:
        """The name the ledger records for who did something."""
        principal = self.require_principal()
        return f"{principal.role.value}:{principal.name}"

    @property
    def scope(self) -> str:
        """Whose idempotency keys this request's are: its API key's, or its member's."""
        principal = self.require_principal()
        if principal.role is Role.MEMBER:
            return idempotency.member_scope(principal.member_id)
        # An API key is `jf_<prefix>_<secret>`: the prefix names the key and is not secret.
        prefix = self.token[len(auth.KEY_PREFIX) :].partition("_")[0]
        return idempotency.api_key_scope(prefix)

    def reads_all(self) -> bool:
        """True for a staff key: every member's objects it reaches are its to read (the
        root fields decide what each role may reach). Decided once per request; without a
        principal it raises UNAUTHENTICATED, every time it is asked."""
        reads_all = self._reads_all
        if reads_all is None:
            reads_all = self._reads_all = self.require_principal().role is not Role.MEMBER
        return reads_all

    def check_member(self, member_id: int | None) -> None:
        """A member token may only read and act on its own member (None: no member's)."""
        principal = self.require_principal()
        if principal.role is Role.MEMBER and principal.member_id != member_id:
            raise ApiError(
                ErrorCode.FORBIDDEN, "a member token can only read and act on its own member"
            )


Info = StrawberryInfo[Context, None]


def bearer_token(headers) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
