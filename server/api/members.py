"""Members: who they are, their balances and history; joining, leaving, member tokens."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import strawberry
from peewee import IntegrityError

from server.api import ids
from server.api.batch import Batch, Batched, grouped, keyed, related
from server.api.context import Info
from server.api.enums import Period
from server.api.errors import UserError, mutation, query
from server.api.gate import gate
from server.api.membership import ExpiringBatch, ExpiringPoints, Membership
from server.api.node import Node
from server.api.ownership import owned
from server.api.pagination import (
    After,
    Connection,
    CountedConnection,
    First,
    connection,
    decode_cursor,
    page_size,
)
from server.api.refs import (
    CatalogItemRef,
    EventRef,
    LeaderboardEntryRef,
    LedgerEntryRef,
    LevelChangeRef,
    LevelStandingRef,
    MemberBadgeRef,
    MemberStreakRef,
)
from server.core import auth, entries, members, reads
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.store import models
from server.store.db import write_transaction


@owned(lambda m: m.row.id, public=("id", "displayName", "rank"))
@strawberry.type(
    description="One person in the points program, with one set of wallets. Another "
    "member's token sees only id, displayName and rank; the other fields are null for it, "
    "each with a FORBIDDEN error."
)
class Member(Node, Batched):
    # Scalars are plain attributes copied from the row (as on LedgerEntry): a board of
    # 100 places resolves hundreds of them.
    row: strawberry.Private[models.Member]
    batch: strawberry.Private[Batch | None] = None
    id: strawberry.ID = strawberry.field(default=None, description="Stable id, e.g. `mbr_42`.")
    external_id: str | None = strawberry.field(
        default=None, description="The community platform's own user id."
    )
    display_name: str | None = strawberry.field(default=None, description="Name to show.")
    birthday: date | None = strawberry.field(
        default=None, description="Birthday, for the birthday award."
    )
    joined_at: datetime | None = strawberry.field(
        default=None, description="When the member first joined any community of the program."
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the member record was created."
    )

    def __post_init__(self) -> None:
        row = self.row
        self.id = strawberry.ID(ids.encode("member", row.id))
        self.external_id, self.display_name = row.external_id, row.display_name
        self.birthday, self.joined_at, self.created_at = (
            row.birthday,
            row.joined_at,
            row.created_at,
        )

    @strawberry.field(description="Points the member can spend now.")
    def available_points(self) -> int | None:
        return self._balance(AccountKind.AVAILABLE)

    @strawberry.field(description="Points awarded but waiting for review.")
    def pending_points(self) -> int | None:
        return self._balance(AccountKind.PENDING)

    @strawberry.field(description="Points reserved by open checkouts.")
    def held_points(self) -> int | None:
        return self._balance(AccountKind.HELD)

    @strawberry.field(description="Communities the member has joined, current and past.")
    def communities(self) -> list[Membership] | None:
        found = self.peers.load(
            "communities",
            lambda rows: grouped(
                reads.memberships(r.id for r in rows),
                lambda r, b: Membership(row=r, batch=b),
            ),
        )
        return found[self.row.id]

    @strawberry.field(description="The member's ledger entries, newest first.")
    def ledger(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        kinds: Annotated[
            list[str] | None, strawberry.argument(description="Only these transaction kinds.")
        ] = None,
    ) -> CountedConnection[LedgerEntryRef] | None:
        from server.api.ledger import LedgerEntry

        def work():
            limit, before, wanted = page_size(first), decode_cursor(after), tuple(kinds or ())

            def pages(rows):
                found = entries.member_pages(
                    [r.id for r in rows], before_id=before, limit=limit + 1, kinds=wanted
                )
                # One batch for the entries of every member's page: their transactions,
                # members and events load for all of them at once.
                batch = Batch(e for page in found.values() for e in page[:limit])
                return found, batch

            found, batch = self.peers.load(("ledger", limit, before, wanted), pages)

            def count() -> int:
                counts = self.peers.load(
                    ("ledger count", wanted),
                    lambda rows: entries.member_counts((r.id for r in rows), wanted),
                )
                return counts[self.row.id]

            return connection(
                found[self.row.id],
                limit,
                key=lambda e: e.id,
                node=lambda e, b: LedgerEntry(row=e, batch=b),
                batch=batch,
                cursor=before,
                count=count,
            )

        return query(work)

    @strawberry.field(
        description="Catalog items the member can redeem one of right now, cheapest first."
    )
    def affordable_items(self, info: Info) -> list[CatalogItemRef] | None:
        from server.api.catalog import CatalogItem

        now = info.context.now
        found = self.peers.load(
            ("affordable", now),
            lambda rows: grouped(
                reads.affordable((r.id for r in rows), now),
                lambda r, b: CatalogItem(row=r, batch=b),
            ),
        )
        return found[self.row.id]

    @strawberry.field(description="Badges the member earned, earliest first.")
    def badges(self) -> list[MemberBadgeRef] | None:
        from server.api.badges import member_badges

        return query(lambda: member_badges(self.row.id))

    @strawberry.field(description="The member's daily check-in streak and freezes held.")
    def streak(self, info: Info) -> MemberStreakRef | None:
        from server.api.streaks import member_streak

        return query(lambda: member_streak(info, self.row.id))

    @strawberry.field(description="Points that expire within the next days, soonest first.")
    def expiring_points(
        self,
        info: Info,
        within_days: Annotated[
            int, strawberry.argument(description="How many days ahead (1 to 3660).")
        ] = 30,
    ) -> ExpiringPoints | None:
        now = info.context.now

        def work():
            if not 1 <= within_days <= 3660:
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "withinDays must be from 1 to 3660", "withinDays"
                )
            batches = self.peers.load(
                ("expiring", within_days),
                lambda rows: reads.expiring((r.id for r in rows), now, within_days),
            )[self.row.id]
            return ExpiringPoints(
                member_id=self.row.id,
                total=sum(b.points for b in batches),
                batches=[ExpiringBatch(expires_at=b.expires_at, points=b.points) for b in batches],
            )

        return query(work)

    @strawberry.field(description="The member's place on a leaderboard, if they have a score.")
    def rank(
        self,
        info: Info,
        metric: Annotated[
            str,
            strawberry.argument(
                description="messages, checkins, referrals, points or an event type."
            ),
        ],
        period: Annotated[Period, strawberry.argument(description="day, week or month.")],
        community: Annotated[
            str | None, strawberry.argument(description="One community's board.")
        ] = None,
    ) -> LeaderboardEntryRef | None:
        from server.api.community import entry

        def work():
            day = info.context.settings.local_day(info.context.now)
            places = self.peers.load(
                ("rank", metric, period.value, day, community),
                lambda rows: reads.ranks(
                    metric, period.value, day, (r.id for r in rows), scope=community or ""
                ),
            )
            place = places.get(self.row.id)
            return entry(place, self) if place is not None else None

        return query(work)

    @strawberry.field(
        description="The member's level, since when, the qualifying figure and how far the "
        "next level is; null when the rules have no `levels` block."
    )
    def level(self, info: Info) -> LevelStandingRef | None:
        from server.api.levels import standing_of

        return query(lambda: standing_of(self.row.id, info.context.now))

    @strawberry.field(description="Every change of the member's level, newest first.")
    def level_history(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[LevelChangeRef] | None:
        from server.api.levels import level_history

        return query(lambda: level_history(self.row.id, first, after))

    def _balance(self, kind: AccountKind) -> int:
        found = self.peers.load("wallets", lambda rows: reads.wallets(r.id for r in rows))
        return found.get(self.row.id, {}).get(kind, 0)


def _members(member_ids) -> dict[int, reads.MemberRow]:
    return reads.members(member_ids)


def _member(row, batch: Batch) -> Member:
    return Member(row=row, batch=batch)


def member_by_id(member_id: int) -> Member | None:
    """One member on its own (a mutation's payload, `me`)."""
    row = reads.member(member_id)
    return Member(row=row) if row is not None else None


def member_of(peers: Batch, member_id: int | None, attr: str = "member_id") -> Member | None:
    """The member a row of `peers` names by `attr`, read for every row of them at once."""
    if member_id is None:
        return None
    return related(peers, attr, _members, _member).get(member_id)


def members_by_ids(member_ids: list[int]) -> dict[int, Member]:
    """Many members in one query, sharing one batch (a list of places)."""
    return keyed(_members(member_ids), _member)


@strawberry.input(description="Create a member or update one; with `community`, join it.")
class MemberUpsertInput:
    external_id: str = strawberry.field(description="The community platform's user id.")
    display_name: str | None = strawberry.field(default=None, description="Name to show.")
    birthday: date | None = strawberry.field(default=None, description="Birthday.")
    community: str | None = strawberry.field(
        default=None, description="Join this community (a no-op if already in it)."
    )
    invited_by_external_id: str | None = strawberry.field(
        default=None,
        description="Who invited them into `community`; counts once, on the first join.",
    )


@strawberry.type(description="Result of memberUpsert.")
class MemberUpsertPayload:
    member: Member | None = strawberry.field(default=None, description="The member.")
    created: bool = strawberry.field(default=False, description="True if the member is new.")
    events: list[EventRef] = strawberry.field(
        default_factory=list, description="`join` and `referral` events this recorded."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type(description="Result of memberLeave.")
class MemberLeavePayload:
    member: Member | None = strawberry.field(default=None, description="The member.")
    event: EventRef | None = strawberry.field(default=None, description="The `leave` event.")
    replayed: bool = strawberry.field(
        default=False,
        description="True when the member had just left already: the first leave is returned "
        "and nothing new happened.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed, if so."
    )


@strawberry.type(description="Result of memberTokenCreate.")
class MemberTokenCreatePayload:
    token: str | None = strawberry.field(
        default=None, description="Bearer token for this member only; shown once."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="Expiry.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no token was made, if so."
    )


@strawberry.type
class MemberQuery:
    @strawberry.field(
        description="The member a member token belongs to.", permission_classes=gate("Query.me")
    )
    def me(self, info: Info) -> Member | None:
        return member_by_id(info.context.require_principal().member_id)

    @strawberry.field(
        description="One member, by id or by externalId.", permission_classes=gate("Query.member")
    )
    def member(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The member's id.")
        ] = None,
        external_id: Annotated[
            str | None, strawberry.argument(description="The platform's user id.")
        ] = None,
    ) -> Member | None:
        def work():
            if (id is None) == (external_id is None):
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "give exactly one of id and externalId", "id"
                )
            if id is not None:
                row = reads.member(ids.decode("member", id, "id"))
            else:
                row = reads.member_by_external_id(external_id)
            if row is not None:
                info.context.check_member(row.id)
            elif info.context.require_principal().member_id is not None:
                info.context.check_member(-1)
            return Member(row=row) if row is not None else None

        return query(work)

    @strawberry.field(
        description="All members, newest first; optionally those in a community.",
        permission_classes=gate("Query.members"),
    )
    def members(
        self,
        first: First = None,
        after: After = None,
        community: Annotated[
            str | None, strawberry.argument(description="Only current members of this community.")
        ] = None,
    ) -> CountedConnection[Member]:
        def work():
            limit, cursor = page_size(first), decode_cursor(after)
            rows = reads.members_page(community, cursor, limit + 1)
            return connection(
                rows,
                limit,
                key=lambda r: r.id,
                node=_member,
                cursor=cursor,
                count=lambda: reads.members_count(community),
            )

        return query(work)


@strawberry.type
class MemberMutation:
    @strawberry.mutation(
        description="Create or update a member by externalId; optionally "
        "join a community, with who invited them.",
        permission_classes=gate("Mutation.memberUpsert"),
    )
    def member_upsert(
        self,
        info: Info,
        input: Annotated[
            MemberUpsertInput, strawberry.argument(description="Who, and what changes.")
        ],
    ) -> MemberUpsertPayload:
        from server.api.events import Event

        def work():
            for attempt in range(2):
                try:
                    with write_transaction():
                        result = members.upsert(
                            input.external_id,
                            now=info.context.now,
                            display_name=input.display_name,
                            birthday=input.birthday,
                            community=input.community,
                            invited_by=input.invited_by_external_id,
                            settings=info.context.settings,
                        )
                    break
                except IntegrityError:
                    if attempt:  # a concurrent upsert created the same member; go again
                        raise
            return MemberUpsertPayload(
                member=Member(row=result.member),
                created=result.created,
                events=[Event(row=e) for e in result.events],
            )

        return mutation(MemberUpsertPayload, work)

    @strawberry.mutation(
        description="Record that a member left a community; awards that last "
        "only while they stay are taken back.",
        permission_classes=gate("Mutation.memberLeave"),
    )
    def member_leave(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        community: Annotated[str, strawberry.argument(description="The community they left.")],
    ) -> MemberLeavePayload:
        from server.api.events import Event

        def work():
            mid = ids.decode("member", member_id, "memberId")
            with write_transaction():
                event, replayed = members.leave(
                    mid, community, now=info.context.now, settings=info.context.settings
                )
            return MemberLeavePayload(
                member=member_by_id(mid), event=Event(row=event), replayed=replayed
            )

        return mutation(MemberLeavePayload, work)

    @strawberry.mutation(
        description="A signed token that lets a client act as one member.",
        permission_classes=gate("Mutation.memberTokenCreate"),
    )
    def member_token_create(
        self,
        info: Info,
        member_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        ttl_seconds: Annotated[
            int, strawberry.argument(description="Lifetime, 60 s to 30 days.")
        ] = 3600,
    ) -> MemberTokenCreatePayload:
        def work():
            mid = ids.decode("member", member_id, "memberId")
            members.get(mid)
            now = info.context.now
            ttl = timedelta(seconds=ttl_seconds)
            token = auth.member_token(mid, now=now, ttl=ttl)
            return MemberTokenCreatePayload(token=token, expires_at=now + ttl)

        return mutation(MemberTokenCreatePayload, work)
