"""Bringing in a community's history: members, joins with their inviters, leaves, past
events and opening balances, replayed in time order as if recorded live then.

Each record is booked at its own time: a join at `at` joins then (and starts the member's
"first within N days of joining"), an event is judged by the rules in force when it
happened (or, by choice, today's), its points expire counting from then, a leave takes
back the referral awards it would have taken back. Every record is claimed under an
idempotency key (its own `key`, or one made from its content) in the program's import
scope, so a second run of the same file changes nothing. A dry run does all of it in a
transaction it rolls back, and reports what would have been awarded.

Records are JSON lines (one object per line) or CSV with a header, with the fields:

    kind         member | join | leave | event | balance
    externalId   the member (created by `member` or by their first `join`)
    at           when it happened (ISO 8601 with an offset; required but for `member`)
    community    for join, leave, and (optionally) event
    invitedBy    for join: the inviter's externalId
    type         for event: checkin, message, order or a custom event
    attributes   for event: a JSON object
    points       for balance: the opening balance, 1 or more
    displayName, birthday   for member and join
    key          optional: the record's own idempotency key
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from server.core import adjustments, ingest, members, program
from server.core.errors import DomainError, ErrorCode
from server.core.idempotency import request_hash, run_once
from server.core.import_records import KINDS, ImportRefused, Problem, Record, parse
from server.store.db import database, write_transaction
from server.store.models import Member

__all__ = ["KINDS", "ImportRefused", "Problem", "Record", "Report", "parse", "run"]

SCOPE = "import"  # the program's own import: no caller's keys meet these
BATCH = 5000  # events recorded together (set-based), between other kinds of records


@dataclass
class Report:
    records: int = 0
    imported: int = 0
    replayed: int = 0
    failed: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # campaign -> (points awarded, points taken back when invitees left), by this import
    campaigns: dict[str, tuple[int, int]] = field(default_factory=dict)
    members_created: int = 0
    dry_run: bool = False


def run(
    records: list[Record],
    *,
    now: datetime,
    dry_run: bool = False,
    rules_of_today: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Import the records in time order (a stable sort: equal times keep file order)."""
    report = Report(records=len(records), dry_run=dry_run)
    ordered = sorted(records, key=_order)
    future = [r for r in ordered if r.at is not None and r.at > now]
    if future:
        raise ImportRefused(
            [Problem(r.line, "INVALID_INPUT", "at is in the future", "at") for r in future]
        )
    job = _Import(report, now, rules_of_today)
    if dry_run:
        try:
            with write_transaction():
                job.all(ordered, progress)
                report.campaigns = _awarded_for(job.events)
                raise _RollBack
        except _RollBack:
            pass
    else:
        job.all(ordered, progress)
        report.campaigns = _awarded_for(job.events)
    return report


# At the same instant a member comes before what they do: their join before a balance,
# a leave or an event of theirs written above it in the file. Otherwise file order.
_KIND_ORDER = {"member": 0, "join": 0, "leave": 1, "balance": 1, "event": 1}


def _order(r: Record) -> tuple[float, int, int]:
    return (r.at.timestamp() if r.at else float("-inf"), _KIND_ORDER[r.kind], r.line)


def _awarded_for(events: list[int]) -> dict[str, tuple[int, int]]:
    """Points campaigns awarded to members, and took back, for the events this run
    recorded (its joins, referrals, leaves and events): not what another import or live
    traffic awarded meanwhile."""
    out: dict[str, tuple[int, int]] = {}
    for start in range(0, len(events), 1000):
        chunk = ",".join(str(int(e)) for e in events[start : start + 1000])
        rows = database.execute_sql(
            " ".join(
                """SELECT t.campaign, t.kind, SUM(p.amount) FROM ledger_transaction t
                JOIN posting p ON p.txn_id = t.id AND p.member_id IS NOT NULL
                WHERE t.event_id IN ({0}) AND t.campaign IS NOT NULL
                AND t.kind IN ('award', 'leaderboard', 'clawback')
                GROUP BY t.campaign, t.kind""".split()
            ).format(chunk)
        ).fetchall()
        for campaign, kind, total in rows:
            given, taken = out.get(campaign, (0, 0))
            if kind == "clawback":
                taken -= int(total)
            else:
                given += int(total)
            out[campaign] = (given, taken)
    return out


class _RollBack(Exception):
    """A dry run is over: undo it all."""


class _Import:
    def __init__(self, report: Report, now: datetime, rules_of_today: bool) -> None:
        self.report = report
        self.now = now
        self.rules_at = now if rules_of_today else None
        self.ids: dict[str, int] = {}
        self.events: list[int] = []  # the events this run recorded: what its report counts
        self._recorded: list[int] = []  # those of the record being applied

    def all(self, ordered: list[Record], progress) -> None:
        """A transaction per chunk of records; events within it recorded set-based."""
        for start in range(0, len(ordered), BATCH):
            chunk = ordered[start : start + BATCH]
            with write_transaction():
                pending: list[Record] = []
                for record in chunk:
                    if record.kind == "event":
                        pending.append(record)
                        continue
                    self._events(pending)
                    pending = []
                    self._one(record)
                self._events(pending)
            if progress is not None:
                progress(start + len(chunk), len(ordered))

    # -- members, joins, leaves, balances: one at a time, at their own time ------------------
    def _one(self, record: Record) -> None:
        at = record.at or self.now
        digest = request_hash(f"import:{record.kind}", {"r": record.external_id, **record.fields})
        self._recorded = []
        try:
            outcome = run_once(
                SCOPE,
                record.key,
                f"import:{record.kind}",
                {"digest": digest},
                at,
                lambda: self._apply(record, at),
            )
        except DomainError as exc:
            self.report.failed.append(Problem(record.line, exc.code.value, exc.message, exc.field))
            return
        if outcome.replayed:
            self.report.replayed += 1
        else:
            self.report.imported += 1
            self.events.extend(self._recorded)

    def _apply(self, record: Record, at: datetime) -> int:
        settings = program.load()
        f = record.fields
        if record.kind in ("member", "join"):
            existed = self._member(record.external_id, required=False) is not None
            result = members.upsert(
                record.external_id,
                now=at,
                display_name=f.get("displayName"),
                birthday=date.fromisoformat(f["birthday"]) if f.get("birthday") else None,
                community=f.get("community") if record.kind == "join" else None,
                invited_by=f.get("invitedBy"),
                settings=settings,
                rules_at=self.rules_at,
            )
            self._recorded = [e.id for e in result.events]
            self.ids[record.external_id] = result.member.id
            self.report.members_created += not existed and result.created
            return result.member.id
        member_id = self._member(record.external_id)
        if record.kind == "leave":
            event, replayed = members.leave(
                member_id, f["community"], now=at, settings=settings, rules_at=self.rules_at
            )
            self._recorded = [] if replayed else [event.id]
            return event.id
        txn = adjustments.adjust(
            member_id,
            int(f["points"]),
            f.get("reason") or "opening balance",
            actor="import",
            now=at,
            settings=settings,
        )
        return txn.id

    def _member(self, external_id: str, required: bool = True) -> int | None:
        if external_id not in self.ids:
            row = Member.get_or_none(Member.external_id == external_id)
            if row is None:
                if not required:
                    return None
                raise DomainError(
                    ErrorCode.MEMBER_NOT_FOUND,
                    f"no member {external_id!r}: import a member or join line before",
                    "externalId",
                )
            self.ids[external_id] = row.id
        return self.ids[external_id]

    # -- events: a batch at a time, set-based ------------------------------------------------
    def _events(self, batch: list[Record]) -> None:
        if not batch:
            return
        items, placed = [], []
        for record in batch:
            try:
                member_id = self._member(record.external_id)
            except DomainError as exc:
                self.report.failed.append(
                    Problem(record.line, exc.code.value, exc.message, exc.field)
                )
                continue
            f = record.fields
            digest = request_hash(
                "import:event", {"r": record.external_id, **f, "at": str(record.at)}
            )
            items.append(
                ingest.Incoming(
                    member_id,
                    f["type"],
                    f.get("community"),
                    record.at,
                    f.get("attributes"),
                    ingest.Claim(SCOPE, record.key, "import:event", digest),
                    imported=True,
                )
            )
            placed.append(record)
        if not items:
            return
        last = max(r.at for r in placed)
        with write_transaction():
            results = ingest.record(
                items, now=last, settings=program.load(), rules_at=self.rules_at
            )
        for record, result in zip(placed, results, strict=True):
            if result.error is not None:
                e = result.error
                self.report.failed.append(Problem(record.line, e.code.value, e.message, e.field))
            elif result.replayed_id is not None:
                self.report.replayed += 1
            else:
                self.report.imported += 1
                self.events.append(result.event.id)
                for w in result.warnings:
                    self.report.warnings.append(
                        Problem(record.line, w.code.value, w.message, w.field)
                    )
