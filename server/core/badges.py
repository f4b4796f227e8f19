"""Badges: achievements a rule gives (`badge "KEY"`), each held once per member, ever.

A badge carries no points. Rules give them as events are decided (server/core/engine.py
asks the store to `earn_badge`; server/core/ingest.py writes what a batch earned in one
statement, `ON CONFLICT DO NOTHING` on the member and badge: a badge is held once however
many events race for it). How a badge is shown (name, description, image) comes from the
rule files (`badge "KEY" "Name" description "..." image "URL"`) or an operator's
`badgeDescribe`; the later of the two stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dsl.ast import BadgeDecl
from dsl.badges import BADGE_KEY, IMAGE_URL, MAX_BADGE_DESCRIPTION, MAX_BADGE_NAME
from server.core import notify, webhooks
from server.core.errors import DomainError, ErrorCode
from server.store import bulk, sql
from server.store.models import Badge, MemberBadge


@dataclass(frozen=True)
class Earned:
    """A badge a rule gave for one event (written with the event)."""

    member_id: int
    badge: str
    campaign: str
    at: datetime


@dataclass(frozen=True)
class Held:
    """A badge as a member holds it, with how it is shown."""

    key: str
    name: str
    description: str | None
    image_url: str | None
    earned_at: datetime
    event_id: int | None
    campaign: str | None


@dataclass(frozen=True)
class Listed:
    """A badge of the program and how many members hold it."""

    key: str
    name: str
    description: str | None
    image_url: str | None
    holders: int


def held_keys(member_ids: list[int]) -> dict[int, set[str]]:
    """The badges these members hold, by member (read after the members are locked)."""
    if not member_ids:
        return {}
    out: dict[int, set[str]] = {}
    marks = ", ".join("?" * len(member_ids))
    for member_id, key in bulk.run(
        f"SELECT member_id, badge FROM member_badge WHERE member_id IN ({marks})", member_ids
    ).fetchall():
        out.setdefault(member_id, set()).add(key)
    return out


def write(earned: list[tuple[Earned, int]], writes: bulk.Writes) -> None:
    """Write the badges a batch earned ((badge, event id) pairs), once per member ever."""
    if not earned:
        return
    writes.insert(
        "member_badge",
        ("member_id", "badge", "earned_at", "event_id", "campaign"),
        [(e.member_id, e.badge, sql.instant(e.at), event_id, e.campaign) for e, event_id in earned],
        tail="ON CONFLICT (member_id, badge) DO NOTHING",
    )
    webhooks.badges_earned([(e.member_id, e.badge, e.campaign, e.at) for e, _ in earned])


def announce(community: str | None, member, badge: str, at: datetime) -> None:
    """Tell the activity feed a member earned a badge (after the transaction commits)."""
    who = member.display_name or member.external_id
    notify.announce(community, "badge", member, f"{who} earned the badge {name_of(badge)}", at)


def name_of(key: str) -> str:
    row = Badge.get_or_none(Badge.key == key)
    return row.name if row is not None and row.name else key


def of_member(member_id: int) -> list[Held]:
    """A member's badges, earliest first."""
    rows = list(
        MemberBadge.select()
        .where(MemberBadge.member == member_id)
        .order_by(MemberBadge.earned_at, MemberBadge.badge)
    )
    shown = {b.key: b for b in Badge.select().where(Badge.key.in_([r.badge for r in rows]))}
    out = []
    for row in rows:
        b = shown.get(row.badge)
        out.append(
            Held(
                key=row.badge,
                name=b.name if b is not None and b.name else row.badge,
                description=b.description if b is not None else None,
                image_url=b.image_url if b is not None else None,
                earned_at=row.earned_at,
                event_id=row.event_id,
                campaign=row.campaign,
            )
        )
    return out


_LISTING = (
    "SELECT k.key, b.name, b.description, b.image_url, "
    "(SELECT COUNT(*) FROM member_badge m WHERE m.badge = k.key) "
    "FROM (SELECT key FROM badge UNION SELECT DISTINCT badge FROM member_badge) AS k "
    "LEFT JOIN badge b ON b.key = k.key ORDER BY k.key"
)


def listing() -> list[Listed]:
    """Every badge the program knows (described, given by a rule, or held) with how many
    members hold it."""
    return [
        Listed(key, name or key, description, image, holders)
        for key, name, description, image, holders in bulk.run(_LISTING).fetchall()
    ]


def check_key(key: str, field: str = "key") -> str:
    key = key.strip() if isinstance(key, str) else key
    if not isinstance(key, str) or not BADGE_KEY.fullmatch(key):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a badge key is 1 to 64 letters, digits, `-`, `_`, `.` or `:`, starting with a "
            "letter or digit",
            field,
        )
    return key


def describe(
    key: str,
    *,
    name: str | None,
    description: str | None,
    image_url: str | None,
    actor: str,
    now: datetime,
) -> Badge:
    """Set how a badge is shown (inside the caller's transaction); any key may be
    described, before or after a rule gives it."""
    key = check_key(key)
    if name is not None and not 0 < len(name.strip()) <= MAX_BADGE_NAME:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"name must be 1 to {MAX_BADGE_NAME} characters", "name"
        )
    if description is not None and len(description) > MAX_BADGE_DESCRIPTION:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"description must be at most {MAX_BADGE_DESCRIPTION} characters",
            "description",
        )
    if image_url is not None and not IMAGE_URL.fullmatch(image_url):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "imageUrl must be an http(s) address of at most 500 characters",
            "imageUrl",
        )
    _upsert(key, name and name.strip(), description, image_url, actor, now)
    return Badge.get_by_id(key)


def publish(described: dict[str, BadgeDecl], given: set[str], *, now: datetime) -> None:
    """Rules were published: badges they describe are shown as written; badges their
    rules give are known (listed) even before anyone earns them."""
    for key, b in described.items():
        _upsert(key, b.name, b.description, b.image, "rules", now)
    missing = sorted(given - set(described))
    if missing:
        bulk.insert("badge", ("key",), [(k,) for k in missing], tail="ON CONFLICT (key) DO NOTHING")


def _upsert(key, name, description, image_url, actor, now) -> None:
    values = {
        Badge.name: name,
        Badge.description: description,
        Badge.image_url: image_url,
        Badge.described_at: now,
        Badge.described_by: actor,
    }
    (
        Badge.insert(
            key=key,
            name=name,
            description=description,
            image_url=image_url,
            described_at=now,
            described_by=actor,
        )
        .on_conflict(conflict_target=[Badge.key], update=values)
        .execute()
    )
