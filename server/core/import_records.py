"""Reading an import file: JSON lines or CSV, each line checked field by field before
anything runs (server/core/imports.py runs the records; docs/operations.md, Importing
history, lists the fields and their bounds)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from server.core import adjustments, event_input, members
from server.core.errors import DomainError
from server.core.ledger import MAX_POINTS

KINDS = ("member", "join", "leave", "event", "balance")
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
