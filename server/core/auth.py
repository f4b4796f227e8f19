"""Who is asking: API keys (stored hashed) and signed, expiring member tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import orjson
from peewee import IntegrityError

from server.core import audit
from server.core.errors import DomainError, ErrorCode
from server.core.generation import Cached, generation
from server.store.db import database, on_rebind
from server.store.models import ApiKey, Setting
from server.store.sql import Sql

KEY_PREFIX = "jf_"
TOKEN_PREFIX = "jfm_"
MAX_TOKEN_TTL = timedelta(days=30)
DEFAULT_TOKEN_TTL = timedelta(hours=1)
_SECRET_KEY = "token_signing_secret"
_BOOTSTRAP_KEY = "bootstrap_admin_created"


class Role(StrEnum):
    ADMIN = "admin"  # everything
    OPERATOR = "operator"  # rules, catalog, tasks, adjustments
    REVIEWER = "reviewer"  # the review queue
    ANALYST = "analyst"  # reads everything, writes nothing
    SERVICE = "service"  # integrations: record events, act for members
    MEMBER = "member"  # a signed token for one member's own points


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str
    member_id: int | None = None  # set for member tokens only


class AuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def create_key(role: Role, name: str, *, now: datetime, actor: str = "cli") -> tuple[ApiKey, str]:
    """A new API key; the plain text is returned once and only its hash is kept."""
    if role is Role.MEMBER:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "members use signed member tokens, not API keys", "role"
        )
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "name must be 1 to 100 characters", "name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.create(
        name=name, role=role.value, prefix=prefix, secret_hash=_hash(secret), created_at=now
    )
    generation.bump()
    audit.record(actor, "key.create", prefix, {"role": role.value, "name": name}, now=now)
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def revoke_key(prefix: str, *, now: datetime, actor: str = "cli") -> bool:
    """Revoke a key by its prefix: at once in this process, within a second in the others
    (server/core/generation.py)."""
    done = bool(
        ApiKey.update(revoked_at=now)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_null())
        .execute()
    )
    if done:
        generation.bump()
        audit.record(actor, "key.revoke", prefix, {}, now=now)
    return done


def bootstrap_admin(*, now: datetime) -> str | None:
    """On a database with no keys, create the first admin key, exactly once across processes."""
    with database.atomic():
        if ApiKey.select().exists():
            return None
        try:
            with database.atomic():
                Setting.create(key=_BOOTSTRAP_KEY, value=now.isoformat())
        except IntegrityError:
            return None
        _, plain = create_key(Role.ADMIN, "bootstrap admin", now=now, actor="first start")
        return plain


_KEYS = Sql("SELECT prefix, secret_hash, role, name, revoked_at FROM api_key")


def _load_keys() -> dict[str, tuple[str, str, str, object]]:
    # Every key at once: there are few, and an unknown prefix then costs no statement.
    return {prefix: rest for prefix, *rest in _KEYS.run().fetchall()}


_keys = Cached(_load_keys)


def authenticate(token: str, *, now: datetime) -> Principal:
    """The principal a bearer token stands for, or AuthError saying why not."""
    if token.startswith(TOKEN_PREFIX):
        return _member_principal(token, now)
    if not token.startswith(KEY_PREFIX):
        raise AuthError("unrecognized token")
    prefix, _, secret = token[len(KEY_PREFIX) :].partition("_")
    key = _keys.get().get(prefix)
    # Hash and compare even when the prefix is unknown, so timing tells nothing.
    expected = key[0] if key is not None else "0" * 64
    if not hmac.compare_digest(_hash(secret), expected) or key is None:
        raise AuthError("invalid API key")
    _, role, name, revoked_at = key
    if revoked_at is not None:
        raise AuthError("this API key has been revoked")
    return Principal(Role(role), name)


def member_token(member_id: int, *, now: datetime, ttl: timedelta = DEFAULT_TOKEN_TTL) -> str:
    """A signed token that lets its holder act as this one member until it expires."""
    if not timedelta(seconds=60) <= ttl <= MAX_TOKEN_TTL:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "ttlSeconds must be between 60 and 30 days", "ttlSeconds"
        )
    claims = {
        "m": member_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "n": secrets.token_hex(4),
    }
    body = _b64(orjson.dumps(claims))
    return f"{TOKEN_PREFIX}{body}.{_b64(_sign(body.encode()))}"


def _member_principal(token: str, now: datetime) -> Principal:
    body, _, signature = token[len(TOKEN_PREFIX) :].partition(".")
    try:
        given = _unb64(signature)
        claims = orjson.loads(_unb64(body))
        member_id, expires = int(claims["m"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError("malformed member token") from exc
    if not hmac.compare_digest(given, _sign(body.encode())):
        raise AuthError("member token signature does not match")
    if now.timestamp() >= expires:
        raise AuthError("member token has expired")
    principal = _members.get(member_id)
    if principal is None:
        row = _MEMBER.one(member_id)
        if row is None:
            raise AuthError("member token names no member")
        principal = Principal(Role.MEMBER, row[0], member_id=member_id)
        if len(_members) >= _MEMBERS_KEPT:
            _members.clear()
        _members[member_id] = principal
    return principal


# Members are never deleted and keep their externalId: what a token's member is called
# can be kept per process (bounded; cleared when full).
_MEMBER = Sql("SELECT external_id FROM member WHERE id = ?")
_MEMBERS_KEPT = 10_000
_members: dict[int, Principal] = {}
on_rebind(_members.clear)


_SECRET = Sql("SELECT value FROM setting WHERE key = ?")
_secret: list[bytes] = []  # made once per database, never changed: kept per process
on_rebind(_secret.clear)


def _signing_secret() -> bytes:
    if _secret:
        return _secret[0]
    row = _SECRET.one(_SECRET_KEY)
    if row is None:
        with database.atomic():
            Setting.insert(
                key=_SECRET_KEY, value=secrets.token_hex(32)
            ).on_conflict_ignore().execute()
        row = _SECRET.one(_SECRET_KEY)
    secret = bytes.fromhex(row[0])
    if not database.in_transaction():  # committed: no rollback can take it back
        _secret[:] = [secret]
    return secret


def _sign(data: bytes) -> bytes:
    return hmac.new(_signing_secret(), data, hashlib.sha256).digest()


def _hash(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough; a slow KDF guards weak secrets.
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64 = re.compile(r"[A-Za-z0-9_-]*")


def _unb64(text: str) -> bytes:
    """Decode only what `_b64` writes. The decoder alone skips foreign characters and
    ignores the unused low bits of the last character, so many texts would decode alike."""
    if not _B64.fullmatch(text):
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data
