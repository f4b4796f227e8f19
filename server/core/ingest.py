"""Recording events, set-based: a batch read at once, decided in memory, written at once.

One event or a thousand go the same way, inside the caller's write transaction:

1. each event's own input is checked (type, attributes, community, `occurredAt`);
2. idempotency keys are claimed in one statement (a key another request holds is
   waited for, then replayed or refused: server/core/batch_keys.py);
3. the members are read (and on PostgreSQL locked, in id order: one member's events are
   decided one at a time across processes), with their counters, and the per-period
   counters and recent messages the rules in force may read;
4. every event is decided in order by the engine (`engine.judge`) over that in-memory
   store (server/core/batch_store.py), exactly as one-by-one: counters, the abuse
   filter, limits, caps, budgets;
5. each table is written once: events, check-ins, counters, period counters, recent
   messages, the awards' ledger rows (server/core/awards_batch.py), reviews, clawback
   links, leaderboard standings; keys of refused events are given back.

A refused event changes nothing; the others are written. Per-event results keep the
order given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from server.core import (
    badges,
    event_input,
    level_job,
    levels,
    notify,
    program,
    streaks,
    webhooks,
)
from server.core.awards_batch import Award, AwardsBatch
from server.core.batch_keys import BatchKeys, KeyMoved
from server.core.batch_sql import Member as _Member
from server.core.batch_sql import Standings as _Standings
from server.core.batch_sql import members as _members
from server.core.batch_sql import period_counters as _period_counters
from server.core.batch_sql import recent_messages as _recent_messages
from server.core.batch_sql import write_counters as _write_counters
from server.core.batch_sql import write_messages as _write_messages
from server.core.batch_sql import write_period_counters as _write_period_counters
from server.core.batch_store import BatchStore
from server.core.engine import FLOOD, Grant, flood_minute, judge, reads
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause
from server.core.program import ProgramSettings
from server.core.rules import InForce, book
from server.observe import metrics
from server.store import bulk, sql
from server.store.db import is_postgres, write_transaction
from server.store.models import Event


@dataclass(frozen=True)
class Claim:
    """An idempotency key this event is recorded under (scope: whose keys)."""

    scope: str
    key: str
    operation: str
    digest: str


@dataclass
class Incoming:
    """One event to record, as its caller (or the program) tells it."""

    member_id: int
    type: str
    community: str | None = None
    occurred_at: datetime | None = None  # None: now, after the member's earlier events
    attributes: dict[str, Any] | None = None
    claim: Claim | None = None
    by_program: bool = False  # the program records the reserved types (join, leave, ...)
    reviewed: bool = False  # a person approved it already: `after review` pays at once
    strict: bool = False  # refuse it, rather than warn, when no rules were in force then
    imported: bool = False  # history brought in by an admin: no backdating window


@dataclass
class Recorded:
    """What became of one incoming event."""

    event: Event | None = None  # stored now (None when replayed or refused)
    replayed_id: int | None = None  # the event a retried key recorded before
    error: DomainError | None = None
    # Recorded, but the caller should know: e.g. no rules were in force when it happened.
    warnings: list[DomainError] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    awards: list[Award] = field(default_factory=list)
    badges: list[badges.Earned] = field(default_factory=list)  # earned by this event

    @property
    def event_id(self) -> int | None:
        return self.event.id if self.event is not None else self.replayed_id


def record(
    items: list[Incoming],
    *,
    now: datetime,
    settings: ProgramSettings,
    rules_at: datetime | None = None,
) -> list[Recorded]:
    """Record a batch of events (inside the caller's write transaction).

    `rules_at`: judge every event by the rules in force at this moment instead of those in
    force when it happened (a go-live backfill of history with today's rules).
    """
    for _ in range(5):
        try:
            with write_transaction():  # a savepoint: a try that must start over leaves nothing
                return _Batch(items, now, settings, rules_at).run()
        except KeyMoved:
            continue
    raise RuntimeError("idempotency keys of a batch kept changing hands")


class _Event:
    """An event being decided: what the engine reads (type, member_id, community,
    occurred_at, attributes)."""

    __slots__ = ("type", "member_id", "community", "occurred_at", "attributes", "index", "rules")

    def __init__(self, item: Incoming, occurred_at: datetime, index: int, rules: InForce) -> None:
        self.type = item.type
        self.member_id = item.member_id
        self.community = item.community
        self.occurred_at = occurred_at
        self.attributes = item.attributes or {}
        self.index = index
        self.rules = rules  # in force for it: read once, when it is decided


class _Batch:
    def __init__(
        self,
        items: list[Incoming],
        now: datetime,
        settings: ProgramSettings,
        rules_at: datetime | None = None,
    ) -> None:
        self.items = items
        self.now = now
        self.settings = settings
        self.rules_at = rules_at
        self.results = [Recorded() for _ in items]
        self.keys = BatchKeys(items, self.results, now)

    def run(self) -> list[Recorded]:
        live = [i for i, item in enumerate(self.items) if self._check(i, item)]
        live = self.keys.claim(live)
        if not live:
            self.keys.give_back()
            return self.results
        store = self._load(live)
        accepted: list[tuple[int, _Event, date, str | None]] = []
        for i in live:
            decided = self._decide(i, store)
            if decided is not None:
                accepted.append(decided)
        self._write(accepted, store)
        webhooks.budgets_taken(store.budgets_kept, self.now)
        self.keys.give_back()
        return self.results

    # -- 1. input ----------------------------------------------------------------------
    def _check(self, i: int, item: Incoming) -> bool:
        try:
            if not item.by_program:
                event_input.check_type(item.type)
            item.attributes = event_input.check_attributes(item.attributes)
            if item.community is not None:
                event_input.check_community(item.community)
            if item.occurred_at is not None:
                event_input.check_occurred_at(
                    item.occurred_at, self.now, self.settings, history=item.imported
                )
        except DomainError as exc:
            self.results[i].error = exc
            return False
        return True

    # -- 3. what the batch reads --------------------------------------------------------
    def _load(self, live: list[int]) -> BatchStore:
        member_ids = sorted({self.items[i].member_id for i in live})
        types = sorted({self.items[i].type for i in live})
        members, counters = _members(member_ids, types)
        store = BatchStore(members)
        store.counters = counters
        store.levels = levels.multipliers_of({m: row.level for m, row in members.items()})
        keys: set[tuple[int, str, str]] = set()  # (member, scope, period) deciding may read
        # What an event may read depends on its type, rules and day, not on the member:
        # worked out once per (type, rules, day) of the batch.
        readable: dict[tuple[str, int, date], set[tuple[str, str]]] = {}
        messages = False
        for i in live:
            item = self.items[i]
            if item.member_id not in members:
                continue
            at = item.occurred_at or self.now
            day = self.settings.local_day(at)
            rules = book.at(self.rules_at or at)
            found = readable.get((item.type, id(rules), day))
            if found is None:
                found = readable[(item.type, id(rules), day)] = reads(item.type, rules, day)
            for scope, period in found:
                keys.add((item.member_id, scope, period))
            if item.type == "message":
                messages = True
                keys.add((item.member_id, FLOOD, flood_minute(at)))
        if keys:
            store.periods = _period_counters(keys)
        store.read_keys = keys
        present = [m for m in member_ids if m in members]
        if messages and present:
            store.messages = _recent_messages(present)
        return store

    # -- 4. deciding ---------------------------------------------------------------------
    def _decide(self, i: int, store: BatchStore) -> tuple[int, _Event, date, str | None] | None:
        item = self.items[i]
        result = self.results[i]
        if item.member_id not in store.members:
            result.error = DomainError(
                ErrorCode.MEMBER_NOT_FOUND, f"no member with id {item.member_id}", "memberId"
            )
            return None
        occurred_at = item.occurred_at
        if occurred_at is None:
            # `now` was read before this request waited for the member: an event of theirs
            # decided meanwhile may carry a later time, and this one must not come first.
            last = store.counter(item.member_id, item.type)
            last_at = last.last_at if last is not None else None
            occurred_at = max(self.now, last_at) if last_at is not None else self.now
        day = self.settings.local_day(occurred_at)
        rules = book.at(self.rules_at or occurred_at)
        event = _Event(item, occurred_at, i, rules)
        if rules.since is None:
            unruled = DomainError(
                ErrorCode.NO_RULES_IN_FORCE,
                f"no rules were in force at {occurred_at.isoformat()} (before the first "
                "publish): this event earns nothing; bring older history in with "
                "`jifen import`",
                "occurredAt",
            )
            if item.strict:
                result.error = unruled
                return None
            result.warnings.append(unruled)
        store.begin()
        try:
            if item.type == "checkin":
                last = store.counter(item.member_id, "checkin")
                if last is not None and last.last_day == day:
                    raise DomainError(
                        ErrorCode.ALREADY_CHECKED_IN,
                        f"already checked in on {day.isoformat()} ({self.settings.timezone})",
                        "occurredAt",
                    )
            verdict = judge(event, day, rules, store)
        except DomainError as exc:
            store.drop()
            result.error = exc
            return None
        grants = verdict.grants
        if item.reviewed:
            grants = [replace(g, pending=False) for g in grants]
        for g in grants:  # what later events of the batch read for their limits and caps
            for scope, period in g.periods:
                store.add_use(item.member_id, scope, period, g.points)
        result.badges = [
            badges.Earned(m, key, campaign, occurred_at)
            for m, key, campaign in store.earned_badges()
        ]
        store.keep()
        if item.type == "checkin":
            store.note_paid(item.member_id, day, grants)
        result.grants = grants
        return i, event, day, verdict.ignored

    # -- 5. writing ----------------------------------------------------------------------
    def _write(
        self, accepted: list[tuple[int, _Event, date, str | None]], store: BatchStore
    ) -> None:
        if not accepted:
            return
        now = self.now
        writes = bulk.Writes()  # on PostgreSQL: one statement for all of them
        stored = self._insert_events(accepted, writes)
        checkins = [
            (e.member_id, sql.day(day), stored[i].id)
            for i, e, day, _ in accepted
            if e.type == "checkin"
        ]
        if checkins:
            writes.insert("checkin", ("member_id", "day", "event_id"), checkins)
        _write_counters(store, writes)
        _write_period_counters(store, writes)
        _write_messages(store, writes)
        new_badges = [(b, stored[i].id) for i, *_ in accepted for b in self.results[i].badges]
        badges.write(new_badges, writes)
        streaks.write(store.paid, store.covered, now, writes)
        awards = AwardsBatch(now)
        reviews, links, standings, streak_notes = [], [], _Standings(), []
        for i, e, day, ignored in accepted:
            event = stored[i]
            result = self.results[i]
            result.event = event
            if ignored is not None:
                continue
            standings.add(e.type, e.member_id, e.community, e.occurred_at, day, 1)
            boards = e.rules.counted_boards.get(e.type, ())
            lowered = _lowered(e.attributes) if boards else None
            for board in boards:
                if board.counts(lowered):
                    # A board's own count is read only for its own period.
                    standings.add(
                        board.board,
                        e.member_id,
                        e.community,
                        e.occurred_at,
                        day,
                        1,
                        (board.period,),
                    )
            earned = 0
            for g in result.grants:
                award = awards.add(
                    Award(
                        e.member_id,
                        g.campaign.key,
                        g.points,
                        g.pending,
                        Cause(
                            event_id=event.id,
                            campaign=g.campaign.key,
                            campaign_version=g.version,
                            rule_line=g.line,
                            rule_text=g.text,
                            rule_file=g.campaign.file,
                            reason=g.level_note,
                        ),
                        # Points expire counting from when they were earned: the event's
                        # time, also for an event reported late or imported.
                        None if g.pending else self.settings.expiry_for(e.occurred_at),
                        earned_at=e.occurred_at,
                    )
                )
                result.awards.append(award)
                earned += 0 if g.pending else g.points
                if g.pending:
                    reviews.append((award, e.member_id, g))
                invitee = e.attributes.get("inviteeMemberId")
                if g.until_invitee_leaves and invitee is not None:
                    links.append((award, invitee, e.community))
                if g.streak is not None:
                    streak_notes.append((e, g.streak))
            if earned:
                standings.add("points", e.member_id, e.community, e.occurred_at, day, earned)
        standings.write(writes)
        writes.run()
        awards.flush()
        metrics.events_recorded(e.type for _, e, _, _ in accepted)
        if reviews:
            writes.insert(
                "review",
                ("txn_id", "member_id", "campaign", "points", "status", "created_at"),
                [
                    (a.id, m, g.campaign.key, g.points, "pending", sql.instant(now))
                    for a, m, g in reviews
                ],
            )
        if links:
            writes.insert(
                "award_link",
                ("txn_id", "invitee_id", "community"),
                [(a.id, invitee, community) for a, invitee, community in links],
            )
        writes.run()
        level_job.touch_events([e for _, e, _, ignored in accepted if ignored is None], now)
        for b, event_id in new_badges:
            member = store.members[b.member_id]
            event = next(e for i, e, *_ in accepted if stored[i].id == event_id)
            badges.announce(event.community, _Named(b.member_id, member), b.badge, now)
        for e, days in streak_notes:
            member = store.members[e.member_id]
            who = member.display_name or member.external_id
            notify.announce(
                e.community,
                "streak",
                _Named(e.member_id, member),
                f"{who} reached a {days}-day {e.type} streak",
                now,
            )

    def _insert_events(self, accepted, writes: bulk.Writes) -> dict[int, Event]:
        """The batch's events: on PostgreSQL with the ids their keys were claimed with (or
        new ones), among `writes`; on SQLite at once, their ids counted from the last."""
        now = sql.instant(self.now)
        postgres = is_postgres()
        rows, made = [], []
        for i, e, _day, ignored in accepted:
            attributes = e.attributes
            if ignored is not None and ignored != "rejoin":
                attributes = {**attributes, "ignored": ignored}
            rows.append(
                (
                    e.type,
                    e.member_id,
                    e.community,
                    sql.instant(e.occurred_at),
                    now,
                    sql.document(attributes),
                )
            )
            made.append((i, e, attributes))
        columns = ("type", "member_id", "community", "occurred_at", "recorded_at", "attributes")
        if postgres:
            ids = [self.keys.event_id(i) for i, *_ in accepted]
            missing = [n for n, known in enumerate(ids) if known is None]
            if missing:
                fresh = bulk.run(
                    "SELECT nextval('event_id_seq') FROM generate_series(1, ?)", (len(missing),)
                ).fetchall()
                for n, (new_id,) in zip(missing, fresh, strict=True):
                    ids[n] = new_id
            writes.insert(
                "event", ("id", *columns), [(n, *r) for n, r in zip(ids, rows, strict=True)]
            )
        else:
            ids = bulk.insert("event", columns, rows, ids=True)
        stored = {}
        for (i, e, attributes), event_id in zip(made, ids, strict=True):
            stored[i] = Event(
                id=event_id,
                type=e.type,
                member=e.member_id,
                community=e.community,
                occurred_at=e.occurred_at,
                recorded_at=self.now,
                attributes=attributes,
            )
        if not postgres:
            keyed = [
                (stored[i].id, self.items[i].claim.scope, self.items[i].claim.key)
                for i, *_ in accepted
                if self.items[i].claim is not None
            ]
            if keyed:
                table, params = bulk.rows_of(("r", "s", "k"), keyed)
                writes.add(
                    f"UPDATE idempotency_key SET result_id = v.r FROM {table} AS v "
                    "WHERE idempotency_key.scope = v.s AND idempotency_key.key = v.k",
                    params,
                )
        return stored


def _lowered(attributes: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in attributes.items()}


class _Named:
    """What the activity feed needs of a member."""

    def __init__(self, member_id: int, member: _Member) -> None:
        self.id = member_id
        self.display_name = member.display_name
        self.external_id = member.external_id


__all__ = ["Claim", "Incoming", "Recorded", "program", "record"]
