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

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from server.core import adjustments, event_input, ingest, members, program
from server.core.errors import DomainError, ErrorCode
from server.core.idempotency import request_hash, run_once
from server.core.ledger import MAX_POINTS
from server.store.db import database, write_transaction
from server.store.models import Member

SCOPE = "import"  # the program's own import: no caller's keys meet these
KINDS = ("member", "join", "leave", "event", "balance")
BATCH = 5000  # events recorded together (set-based), between other kinds of records
MAX_LINES = 5_000_000
# No community's history is older than this: an earlier `at` is a mistake in the file.
EARLIEST_HISTORY = datetime(1970, 1, 1, tzinfo=UTC)
POINTS_TEXT = re.compile(r"[0-9]{1,10}")  # a CSV cell of points: digits only


@dataclass(frozen=True)
class Record:
    line: int
    kind: str
    external_id: str
    at: datetime | None
    fields: dict[str, Any]
    key: str


@dataclass(frozen=True)
class Problem:
    line: int
    code: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"line {self.line}: {self.code}{where}: {self.message}"


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


class ImportRefused(Exception):
    """The file itself is malformed: nothing was imported."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def parse(text: str, fmt: str) -> list[Record]:
    """Every record of the file, checked; ImportRefused names each malformed line."""
    if fmt not in ("jsonl", "csv"):
        raise ImportRefused([Problem(0, "INVALID_INPUT", "format must be jsonl or csv")])
    text = text.removeprefix("\ufeff")  # a byte order mark, as spreadsheets write
    rows = _jsonl(text) if fmt == "jsonl" else _csv(text)
    records, problems = [], []
    for line, row in rows:
        if isinstance(row, Problem):
            problems.append(row)
            continue
        try:
            records.append(_record(line, row))
        except _Bad as bad:
            problems.append(Problem(line, "INVALID_INPUT", bad.message, bad.field))
        if line > MAX_LINES:
            problems.append(Problem(line, "INVALID_INPUT", f"at most {MAX_LINES:,} lines"))
            break
    if problems:
        raise ImportRefused(problems)
    return records


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: `"points":5,"points":500` is refused
    rather than read as its last value."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Bad(f"{key} is given twice", key)
        out[key] = value
    return out


def _json(raw: str) -> Any:
    """The JSON value of a text (NaN and Infinity are not JSON: refused)."""
    return json.loads(raw, object_pairs_hook=_object, parse_constant=_constant)


def _constant(name: str) -> Any:
    raise _Bad(f"{name} is not a number JSON knows")


def _jsonl(text: str) -> Iterator[tuple[int, Any]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield line, _json(raw)
        except _Bad as bad:
            yield line, Problem(line, "INVALID_INPUT", bad.message, bad.field)
        except RecursionError:
            yield line, Problem(line, "INVALID_INPUT", "not JSON: nested too deep")
        except ValueError as exc:
            yield line, Problem(line, "INVALID_INPUT", f"not JSON: {exc}")


def _csv(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        yield 1, Problem(1, "INVALID_INPUT", f"not CSV: {exc}")
        return
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        yield 1, Problem(1, "INVALID_INPUT", f"column {twice[0]} is given twice", twice[0])
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, Problem(reader.line_num, "INVALID_INPUT", f"not CSV: {exc}")
            return
        clean = {k: v for k, v in row.items() if k and v not in (None, "")}
        if "attributes" in clean:
            try:
                clean["attributes"] = _json(clean["attributes"])
            except _Bad as bad:
                line, message = reader.line_num, f"attributes: {bad.message}"
                yield line, Problem(line, "INVALID_INPUT", message, "attributes")
                continue
            except (ValueError, RecursionError) as exc:
                why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
                yield (
                    reader.line_num,
                    Problem(
                        reader.line_num,
                        "INVALID_INPUT",
                        f"attributes is not JSON: {why}",
                        "attributes",
                    ),
                )
                continue
        if "points" in clean:
            # Digits only: not ` 9 `, `1_000` or `1e3`, which Python's int() or float() take.
            cell = clean["points"]
            clean["points"] = int(cell) if POINTS_TEXT.fullmatch(cell) else cell
        yield reader.line_num, clean


class _Bad(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        self.message, self.field = message, field


def _text(row: dict, name: str, *, required: bool = False, most: int = 200) -> str | None:
    """A field that must be a storable text, if given."""
    value = row.get(name)
    if value is None or value == "":
        if required:
            raise _Bad(f"{name} is required", name)
        return None
    if not isinstance(value, str):
        raise _Bad(f"{name} must be a text, not {_json_kind(value)}", name)
    problem = event_input.text_problem(value)
    if problem:
        raise _Bad(f"{name} {problem}", name)
    if len(value) > most:
        raise _Bad(f"{name} is longer than {most} characters", name)
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _instant(raw: Any) -> datetime:
    """`at`: an ISO 8601 date-time with an offset, within what the program can hold and
    not before EARLIEST_HISTORY."""
    at = None
    if isinstance(raw, str) and event_input.text_problem(raw) is None:
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            at = None
    if at is None or at.tzinfo is None or at.utcoffset() is None:
        raise _Bad("at must be an ISO 8601 date-time with an offset", "at")
    problem = event_input.instant_problem(at)
    if problem:
        raise _Bad(f"at {problem}", "at")
    if at < EARLIEST_HISTORY:
        raise _Bad(f"at is before {EARLIEST_HISTORY.isoformat()}: no history is that old", "at")
    return at


def _record(line: int, row: Any) -> Record:
    if not isinstance(row, dict):
        raise _Bad("a record must be a JSON object")
    kind = row.get("kind")
    if kind not in KINDS:
        raise _Bad(f"kind must be one of {', '.join(KINDS)}", "kind")
    external = _text(row, "externalId", required=True, most=members.MAX_EXTERNAL_ID)
    if not external.strip():
        raise _Bad("externalId is required", "externalId")
    at = None
    if kind != "member" or "at" in row:
        at = _instant(row.get("at"))
    required = {
        "join": ("community",),
        "leave": ("community",),
        "event": ("type",),
        "balance": ("points",),
    }.get(kind, ())
    for name in required:
        if row.get(name) in (None, ""):
            raise _Bad(f"{name} is required for a {kind}", name)
    for name in ("community", "invitedBy", "type"):
        _text(row, name, most=64 if name != "invitedBy" else members.MAX_EXTERNAL_ID)
    _text(row, "displayName", most=members.MAX_DISPLAY_NAME)
    _text(row, "reason", most=adjustments.MAX_REASON)
    _text(row, "key")
    if "points" in row:
        points = row["points"]
        if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
            raise _Bad(f"points must be a whole number from 1 to {MAX_POINTS:,}", "points")
    if "attributes" in row:
        try:
            event_input.check_attributes(row["attributes"])
        except DomainError as exc:
            raise _Bad(exc.message, exc.field) from None
    if "birthday" in row:
        try:
            date.fromisoformat(_text(row, "birthday") or "")
        except ValueError:
            raise _Bad("birthday must be a date: 1990-05-17", "birthday") from None
    fields = {k: v for k, v in row.items() if k not in ("kind", "externalId", "at", "key")}
    try:
        key = row.get("key") or _content_key(kind, external, at, fields)
    except (TypeError, ValueError):
        raise _Bad("a field holds a value that is not JSON") from None
    return Record(line, kind, external, at, fields, key)


def _content_key(kind: str, external: str, at: datetime | None, fields: dict) -> str:
    text = json.dumps([kind, external, at.isoformat() if at else None, fields], sort_keys=True)
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[:40]


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
