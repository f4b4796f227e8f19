"""Program-wide settings: the time zone days are counted in, and the expiry policy."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.store.models import Setting
from server.store.sql import Sql

_KEY = "program"


@dataclass(frozen=True)
class ProgramSettings:
    """What the `program { ... }` block of the rules sets; defaults until rules say otherwise."""

    name: str = "jifen"
    timezone: str = "UTC"
    points_expire_days: int | None = None  # None: points never expire
    redeem_points: int | None = None  # `redeem rate 100 points = 1.00 CNY`
    redeem_amount: str | None = None  # a Decimal, as text
    currency: str | None = None
    deduct_percent: str | None = None  # `deduct at most 50% of order`, a Decimal as text

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

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


def load() -> ProgramSettings:
    """The settings in force."""
    value = setting(_KEY)
    if value is None:
        return ProgramSettings()
    return ProgramSettings(**json.loads(value))


def save(settings: ProgramSettings) -> None:
    """Store the settings (inside the caller's transaction)."""
    ZoneInfo(settings.timezone)  # fail loudly on an unknown zone
    value = json.dumps(asdict(settings))
    (
        Setting.insert(key=_KEY, value=value)
        .on_conflict(conflict_target=[Setting.key], update={Setting.value: value})
        .execute()
    )
