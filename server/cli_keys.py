"""`jifen keys create | list | revoke | member-token`: API keys and member tokens."""

from __future__ import annotations

import sys
from datetime import timedelta

from server.core.clock import SystemClock
from server.store.db import write_transaction


def open_database() -> None:
    from server.cli import _open  # the command's module imports this one

    _open()


def register(sub) -> None:
    """Add the `keys` commands to the command line's subparsers."""
    keys = sub.add_parser(
        "keys", help="API keys and member tokens", description="Create, list and revoke API keys."
    ).add_subparsers(title="commands", metavar="COMMAND")
    create = keys.add_parser(
        "create",
        help="create a key and print it once",
        description="Create an API key. It is printed once; only its hash is stored.",
    )
    create.add_argument(
        "--role", required=True, choices=["admin", "operator", "reviewer", "analyst", "service"]
    )
    create.add_argument("--name", required=True, help="who or what will use it")
    create.set_defaults(func=_keys_create)
    lst = keys.add_parser("list", help="list keys", description="List keys (never secrets).")
    lst.set_defaults(func=_keys_list)
    revoke = keys.add_parser(
        "revoke", help="revoke a key", description="Revoke a key by its prefix (see `keys list`)."
    )
    revoke.add_argument("prefix")
    revoke.set_defaults(func=_keys_revoke)
    token = keys.add_parser(
        "member-token",
        help="print a signed token for one member",
        description="Print a signed member token, for trying the API as a member.",
    )
    token.add_argument("external_id", metavar="EXTERNAL_ID")
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default %(default)s)")
    token.set_defaults(func=_keys_member_token)


def _keys_create(args) -> int:
    from server.core import auth

    open_database()
    with write_transaction():
        key, plain = auth.create_key(auth.Role(args.role), args.name, now=SystemClock().now())
    print(f"created {key.role} key {key.prefix!r} for {key.name!r}. It is shown only once:\n")
    print(plain)
    return 0


def _keys_list(args) -> int:
    from server.store.models import ApiKey

    open_database()
    for k in ApiKey.select().order_by(ApiKey.id):
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        print(f"{k.prefix}  {k.role:<9} {state:<18} {k.name}")
    return 0


def _keys_revoke(args) -> int:
    from server.core import auth

    open_database()
    with write_transaction():
        done = auth.revoke_key(args.prefix, now=SystemClock().now())
    print("revoked" if done else f"no active key with prefix {args.prefix!r}")
    return 0 if done else 1


def _keys_member_token(args) -> int:
    from server.core import auth
    from server.store.models import Member

    open_database()
    member = Member.get_or_none(Member.external_id == args.external_id)
    if member is None:
        print(f"jifen: no member with externalId {args.external_id!r}", file=sys.stderr)
        return 1
    print(auth.member_token(member.id, now=SystemClock().now(), ttl=timedelta(seconds=args.ttl)))
    return 0
