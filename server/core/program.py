"""Program-wide settings: the time zone days are counted in, the expiry policy, how late an
event may be reported, and when the program began."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.core.errors import DomainError, ErrorCode
from server.core.generation import Cached, generation
from server.store import sql
from server.store.db import on_rebind
from server.store.models import Setting
from server.store.sql import Sql

_KEY = "program"
_BACKDATE = "backdate_hours"
_STARTED = "program_started_at"
MAX_BACKDATE_HOURS = 24 * 366


@dataclass(frozen=True)
class ProgramSettings:
    """What the `program { ... }` block of the rules sets (defaults until rules say
    otherwise), and the backdating window, which publishing rules leaves alone."""

    name: str = "jifen"
    timezone: str = "UTC"
    points_expire_days: int | None = None  # None: points never expire
    redeem_points: int | None = None  # `redeem rate 100 points = 1.00 CNY`
    redeem_amount: str | None = None  # a Decimal, as text
    currency: str | None = None
    deduct_percent: str | None = None  # `deduct at most 50% of order`, a Decimal as text
    # How long after an event a service may still report it with its own `occurredAt`;
    # older history is imported by an admin, never recorded through the API. Kept in a
    # setting of its own (set_backdate_hours), not in the rules.
    backdate_hours: int = 72
    # `streak freeze costs N points, at most M per PERIOD` (None: freezes are not offered)
    freeze_cost: int | None = None
    freeze_limit: int | None = None
    freeze_period: str | None = None
    # `make-up checkin costs N points within D days, at most M per PERIOD`
    make_up_cost: int | None = None
    make_up_days: int | None = None
    make_up_limit: int | None = None
    make_up_period: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def backdate_window(self) -> timedelta:
        return timedelta(hours=self.backdate_hours)

    def local_day(self, at: datetime) -> date:
        """The calendar day `at` falls on in the program's time zone."""
        return at.astimezone(self.zone).date()

    def expiry_for(self, earned_at: datetime) -> datetime | None:
        """When points earned at `earned_at` expire, or None if they never do."""
        if self.points_expire_days is None:
            return None
        return earned_at + timedelta(days=self.points_expire_days)


_SETTING = Sql("SELECT value FROM setting WHERE key = ?")


def setting(key: str) -> str | None:
    """A program-wide value (plain SQL: read on every request, see server/store/sql.py)."""
    row = _SETTING.one(key)
    return row[0] if row is not None else None


_SETTINGS = Sql("SELECT key, value FROM setting WHERE key IN (?, ?)")


def load() -> ProgramSettings:
    """The settings in force (kept per process until the generation changes)."""
    return _cached.get()


def _load() -> ProgramSettings:
    found = dict(_SETTINGS.run(_KEY, _BACKDATE).fetchall())
    fields = json.loads(found[_KEY]) if _KEY in found else {}
    fields.pop(_BACKDATE, None)
    if _BACKDATE in found:
        fields[_BACKDATE] = int(found[_BACKDATE])
    return ProgramSettings(**fields)


_cached = Cached(_load)


def save(settings: ProgramSettings) -> None:
    """Store what the rules' `program` block sets (inside the caller's transaction)."""
    ZoneInfo(settings.timezone)  # fail loudly on an unknown zone
    fields = asdict(settings)
    del fields[_BACKDATE]  # not the rules': see set_backdate_hours
    _put(_KEY, json.dumps(fields))


def set_backdate_hours(hours: int) -> None:
    """How many hours late a service may report an event (inside the caller's transaction)."""
    if not isinstance(hours, int) or not 0 <= hours <= MAX_BACKDATE_HOURS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"the backdating window must be 0 to {MAX_BACKDATE_HOURS} hours",
            "backdateHours",
        )
    _put(_BACKDATE, str(hours))


def _put(key: str, value: str) -> None:
    (
        Setting.insert(key=key, value=value)
        .on_conflict(conflict_target=[Setting.key], update={Setting.value: value})
        .execute()
    )
    generation.bump()


# The earliest moment the program recorded anything: its first key (the first start), member,
# event or ledger entry.
_EARLIEST = Sql(
    "SELECT (SELECT MIN(created_at) FROM api_key), (SELECT MIN(created_at) FROM member), "
    "(SELECT MIN(occurred_at) FROM event), (SELECT MIN(created_at) FROM ledger_transaction)"
)
_BEGIN = Sql("INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
_began: dict[str, datetime] = {}  # written once, never changed: read once per process
on_rebind(_began.clear)


def started_at(now: datetime) -> datetime:
    """When the program began; nothing can have happened before it.

    Recorded once, the first time it is asked for (inside the caller's transaction): the
    earliest moment the database holds a record of, or `now` in an empty one.
    """
    if _STARTED in _began:
        return _began[_STARTED]
    value = setting(_STARTED)
    if value is None:
        found = [sql.read_instant(v) for v in _EARLIEST.one() if v is not None]
        _BEGIN.run(_STARTED, min([now, *found]).isoformat())
        # Not kept: this transaction may still roll back, or have lost to another one.
        return datetime.fromisoformat(setting(_STARTED))
    _began[_STARTED] = datetime.fromisoformat(value)
    return _began[_STARTED]
