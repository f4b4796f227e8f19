"""Members, keyed by the community platform's user id; joining and leaving communities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from server.core import accounts, awards, ingest, program
from server.core.errors import DomainError, ErrorCode
from server.core.event_input import check_community
from server.core.program import ProgramSettings
from server.store.models import Event, Member, Membership

MAX_EXTERNAL_ID = 128
MAX_DISPLAY_NAME = 200


@dataclass
class UpsertResult:
    member: Member
    created: bool
    events: list[Event] = field(default_factory=list)


def get(member_id: int, field_name: str = "memberId") -> Member:
    """The member with this id, or MEMBER_NOT_FOUND naming the input field."""
    member = Member.get_or_none(Member.id == member_id)
    if member is None:
        raise DomainError(ErrorCode.MEMBER_NOT_FOUND, f"no member with id {member_id}", field_name)
    return member


def by_external_id(external_id: str, field_name: str = "externalId") -> Member:
    member = Member.get_or_none(Member.external_id == external_id)
    if member is None:
        raise DomainError(
            ErrorCode.MEMBER_NOT_FOUND, f"no member with externalId {external_id!r}", field_name
        )
    return member


def upsert(
    external_id: str,
    *,
    now: datetime,
    display_name: str | None = None,
    birthday: date | None = None,
    community: str | None = None,
    invited_by: str | None = None,
    settings: ProgramSettings | None = None,
    rules_at: datetime | None = None,
) -> UpsertResult:
    """Create or update a member; joining a community records `join` (and `referral`).

    `rules_at`: judge those by the rules in force then (an import with today's rules)."""
    external_id = _check_external_id(external_id)
    if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"displayName is longer than {MAX_DISPLAY_NAME} characters",
            "displayName",
        )
    if birthday is not None and birthday > now.date():
        raise DomainError(ErrorCode.INVALID_INPUT, "birthday is in the future", "birthday")
    if community is not None:
        check_community(community)
    if invited_by is not None and community is None:
        raise DomainError(
            ErrorCode.INVALID_REFERRAL,
            "a referral is for a community: give community with invitedBy",
            "invitedByExternalId",
        )
    inviter = None
    if invited_by is not None:
        if invited_by == external_id:
            raise DomainError(
                ErrorCode.INVALID_REFERRAL,
                "a member cannot invite themselves",
                "invitedByExternalId",
            )
        inviter = by_external_id(invited_by, "invitedByExternalId")

    member = Member.get_or_none(Member.external_id == external_id)
    created = member is None
    if created:
        member = Member.create(
            external_id=external_id,
            display_name=display_name,
            birthday=birthday,
            birthday_md=birthday.strftime("%m-%d") if birthday else None,
            created_at=now,
            updated_at=now,
        )
        accounts.create_wallets(member.id)
    else:
        changes = {}
        if display_name is not None and display_name != member.display_name:
            changes[Member.display_name] = display_name
        if birthday is not None and birthday != member.birthday:
            changes[Member.birthday] = birthday
            changes[Member.birthday_md] = birthday.strftime("%m-%d")
        if changes:
            changes[Member.updated_at] = now
            Member.update(changes).where(Member.id == member.id).execute()
            member = Member.get_by_id(member.id)
    result = UpsertResult(member, created)
    if community is not None:
        joined = _join(member, community, inviter, now)
        result.member = Member.get_by_id(member.id)
        if joined:
            recorded = ingest.record(
                joined, now=now, settings=settings or program.load(), rules_at=rules_at
            )
            result.events = [_stored(r) for r in recorded]
    return result


def _stored(result: ingest.Recorded) -> Event:
    if result.error is not None:
        raise result.error
    return result.event


def _join(
    member: Member, community: str, inviter: Member | None, now: datetime
) -> list[ingest.Incoming]:
    stint = Membership.get_or_none(
        Membership.member == member.id, Membership.community == community
    )
    if stint is not None and stint.left_at is None:
        return []  # already in: joining again is a no-op, so retries are harmless
    first_join = bool(
        Member.update(joined_at=now)
        .where(Member.id == member.id, Member.joined_at.is_null())
        .execute()
    )
    if not first_join and inviter is not None:
        # Someone already in the program cannot be "brought" by anyone: no referral. This
        # also makes every circular referral (A brings B, B brings A) earn nothing.
        inviter = None
    if stint is None:
        Membership.create(
            member=member.id,
            community=community,
            invited_by=inviter,
            first_joined_at=now,
            joined_at=now,
        )
        rejoin = False
    else:
        # Re-joining never brings a second referral: the first inviter stays on record.
        rejoined = (
            Membership.update(joined_at=now, left_at=None)
            .where(Membership.id == stint.id, Membership.left_at.is_null(False))
            .execute()
        )
        if not rejoined:
            return []  # a concurrent request brought them back in already
        inviter = None
        rejoin = True
    attributes = {"rejoin": rejoin}
    if inviter is not None:
        attributes["invitedBy"] = inviter.external_id
    events = [
        ingest.Incoming(
            member.id, "join", community=community, attributes=attributes, by_program=True
        )
    ]
    if inviter is not None:
        events.append(
            ingest.Incoming(
                inviter.id,
                "referral",
                community=community,
                attributes={"invitee": member.external_id, "inviteeMemberId": member.id},
                by_program=True,
            )
        )
    return events


def leave(
    member_id: int,
    community: str,
    *,
    now: datetime,
    settings: ProgramSettings | None = None,
    rules_at: datetime | None = None,
) -> tuple[Event, bool]:
    """Record that a member left a community; awards for having invited them are taken back.

    Leaving a community one has just left replays that leave (True): a retry, or a second
    request racing the first, records one `leave` and takes back each award once.
    """
    check_community(community)
    member = get(member_id)
    stint = Membership.get_or_none(
        Membership.member == member.id, Membership.community == community
    )
    if stint is None:
        raise _not_in(member, community)
    left = (
        Membership.update(left_at=now)
        .where(Membership.id == stint.id, Membership.left_at.is_null())
        .execute()
    )
    if not left:
        previous = (
            Event.select()
            .where(
                Event.member == member.id,
                Event.community == community,
                Event.type == "leave",
                Event.occurred_at >= stint.joined_at,
            )
            .order_by(Event.id.desc())
            .first()
        )
        if previous is None:
            raise _not_in(member, community)
        return previous, True
    (recorded,) = ingest.record(
        [ingest.Incoming(member.id, "leave", community=community, by_program=True)],
        now=now,
        settings=settings or program.load(),
        rules_at=rules_at,
    )
    event = _stored(recorded)
    awards.invitee_left(member, community, event, now=now)
    return event, False


def _not_in(member: Member, community: str) -> DomainError:
    return DomainError(
        ErrorCode.NOT_IN_COMMUNITY,
        f"member {member.external_id!r} is not in community {community!r}",
        "community",
    )


def _check_external_id(external_id: str) -> str:
    if not isinstance(external_id, str) or not external_id.strip():
        raise DomainError(ErrorCode.INVALID_INPUT, "externalId must not be empty", "externalId")
    if len(external_id) > MAX_EXTERNAL_ID or external_id != external_id.strip():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"externalId must be at most {MAX_EXTERNAL_ID} characters, without surrounding spaces",
            "externalId",
        )
    return external_id
