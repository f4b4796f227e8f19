"""Rules in force: publishing campaign versions, and the compiled book the engine reads."""

from __future__ import annotations

import bisect
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from peewee import fn

import dsl
from dsl.compiler import (
    CompiledCampaign,
    CompiledEvery,
    CompiledMultiplier,
    CompiledRule,
    compile_campaign,
)
from dsl.errors import Diagnostic, RulesError
from dsl.parser import parse
from server.core import audit, budgets, program
from server.core.errors import DomainError, ErrorCode
from server.core.program import ProgramSettings
from server.store.db import locked, transaction_memo
from server.store.models import CampaignVersion, Setting

_GENERATION = "rules_generation"
MAX_SOURCE = 200_000  # characters of rule text in one request


def check_source(text: str, field_name: str = "source") -> str:
    """Rule text within the size a request may carry; never cut (a cut file could retire
    every campaign after the cut)."""
    if len(text) > MAX_SOURCE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"rule source is {len(text):,} characters; at most {MAX_SOURCE:,} are accepted",
            field_name,
        )
    return text


@dataclass(frozen=True)
class Published:
    campaign: str
    version: int
    changed: bool
    retired: bool = False


def validate(files: list[tuple[str, str]], *, now: datetime) -> list[Diagnostic]:
    """Every problem of these rule files, without publishing anything."""
    return dsl.load(files, today=now.date())[1]


def publish(
    files: list[tuple[str, str]], *, now: datetime, actor: str | None
) -> tuple[list[Published], list[Diagnostic]]:
    """Make these files the program's rules (inside the caller's transaction).

    A campaign gets a new version only if its canonical text changed; campaigns no longer
    present are retired. Rules with any error are refused whole (RulesError).
    """
    compiled, diagnostics = dsl.load(files, today=now.date())
    if compiled is None:
        raise RulesError(diagnostics)
    _lock_generation()
    out: list[Published] = []
    for position, (key, campaign) in enumerate(compiled.campaigns.items()):
        latest = _latest(key)
        if _same(latest, campaign):
            moved = {
                name: value
                for name, value in (("position", position), ("lines", list(campaign.lines)))
                if getattr(latest, name) != value
            }
            if moved:  # the same rules, written on other lines: awards from now name those
                CampaignVersion.update(**moved).where(CampaignVersion.id == latest.id).execute()
            out.append(Published(key, latest.version, changed=False))
            continue
        version = (latest.version if latest else 0) + 1
        CampaignVersion.create(
            campaign=key,
            version=version,
            title=campaign.title,
            source=campaign.source,
            digest=campaign.digest,
            file=campaign.file,
            lines=list(campaign.lines),
            position=position,
            activated_at=now,
            actor=actor,
        )
        budgets.set_budget(key, campaign.budget)
        out.append(Published(key, version, changed=True))
    for key in _live_campaigns() - set(compiled.campaigns):
        latest = _latest(key)
        CampaignVersion.create(
            campaign=key,
            version=latest.version + 1,
            title=latest.title,
            source="",
            digest="",
            position=latest.position,
            retired=True,
            activated_at=now,
            actor=actor,
        )
        out.append(Published(key, latest.version + 1, changed=True, retired=True))
    program.save(_settings(compiled.program))
    audit.record(
        actor or "unknown",
        "rules.publish",
        None,
        {
            "campaigns": {p.campaign: p.version for p in out},
            "changed": [p.campaign for p in out if p.changed],
        },
        now=now,
    )
    Setting.insert(key=_GENERATION, value=uuid.uuid4().hex).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: uuid.uuid4().hex}
    ).execute()
    transaction_memo().pop("rule-book", None)  # this transaction reads the new rules
    return out, diagnostics


def _same(latest: CampaignVersion | None, campaign: CompiledCampaign) -> bool:
    """A version stands while its meaning and its file do: a comment or a blank line is no
    change, a move to another file is (earlier awards keep naming the file they came from)."""
    return (
        latest is not None
        and not latest.retired
        and latest.digest == campaign.digest
        and latest.file == campaign.file
    )


def _lock_generation() -> None:
    """Publishes one at a time: each compares with what the one before it published."""
    Setting.insert(key=_GENERATION, value=uuid.uuid4().hex).on_conflict_ignore().execute()
    locked(Setting.select().where(Setting.key == _GENERATION)).first()


def _latest(key: str) -> CampaignVersion | None:
    return (
        CampaignVersion.select()
        .where(CampaignVersion.campaign == key)
        .order_by(CampaignVersion.version.desc())
        .first()
    )


def _live_campaigns() -> set[str]:
    latest = CampaignVersion.select(
        CampaignVersion.campaign, fn.MAX(CampaignVersion.version).alias("v")
    ).group_by(CampaignVersion.campaign)
    live = set()
    for row in latest:
        version = CampaignVersion.get(
            CampaignVersion.campaign == row.campaign, CampaignVersion.version == row.v
        )
        if not version.retired:
            live.add(row.campaign)
    return live


def program_settings(compiled: dsl.CompiledProgram) -> ProgramSettings:
    """What a set of rules' `program` block sets; without one, the settings in force."""
    return _settings(compiled.program) if compiled.program else program.load()


def _settings(block) -> ProgramSettings:
    if block is None:
        return ProgramSettings()
    rate = block.redeem_rate
    return ProgramSettings(
        name=block.name or "jifen",
        timezone=block.timezone or "UTC",
        points_expire_days=None if block.expire_never else block.expire_days,
        redeem_points=rate.points if rate else None,
        redeem_amount=str(rate.amount) if rate else None,
        currency=rate.currency if rate else None,
        deduct_percent=str(block.deduct_at_most_percent)
        if block.deduct_at_most_percent is not None
        else None,
    )


@dataclass(frozen=True)
class InForce:
    """The campaign versions in force from one moment on, indexed by event type."""

    since: datetime | None
    versions: dict[str, int]
    campaigns: dict[str, CompiledCampaign]
    by_event: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    multipliers: dict[str, tuple[CompiledMultiplier, ...]] = field(default_factory=dict)

    @property
    def every(self) -> tuple[CompiledEvery, ...]:
        return tuple(e for c in self.campaigns.values() for e in c.every)


EMPTY = InForce(None, {}, {})


class RuleBook:
    """Every published version, compiled once per process and reloaded after a publish."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._starts: list[datetime] = []
        self._epochs: list[InForce] = []

    def at(self, when: datetime) -> InForce:
        """The rules in force at `when`."""
        self._refresh()
        index = bisect.bisect_right(self._starts, when) - 1
        return self._epochs[index] if index >= 0 else EMPTY

    def _refresh(self) -> None:
        memo = transaction_memo()
        if memo.get("rule-book") is self:
            return  # checked already in this transaction
        memo["rule-book"] = self
        generation = program.setting(_GENERATION)
        if generation == self._generation:
            return
        with self._lock:
            if generation == self._generation:
                return
            self._starts, self._epochs = _build(
                list(
                    CampaignVersion.select().order_by(
                        CampaignVersion.activated_at, CampaignVersion.id
                    )
                )
            )
            self._generation = generation


def compile_version(row: CampaignVersion) -> CompiledCampaign:
    """A stored campaign version, compiled from its canonical source; its rules carry the
    lines of the file it was published from (versions published before files were
    remembered carry their line in the canonical text)."""
    parsed, _ = parse(row.source, f"<{row.campaign} v{row.version}>")
    return compile_campaign(parsed.campaigns[0], file=row.file, lines=row.lines)


def _build(rows: list[CampaignVersion]) -> tuple[list[datetime], list[InForce]]:
    compiled = {row.id: compile_version(row) for row in rows if not row.retired}
    starts, epochs = [], []
    current: dict[str, CampaignVersion] = {}
    for at in sorted({r.activated_at for r in rows}):
        for r in rows:
            if r.activated_at == at:
                current[r.campaign] = r
        live = sorted((r for r in current.values() if not r.retired), key=lambda r: r.position)
        campaigns = {r.campaign: compiled[r.id] for r in live}
        by_event: dict[str, list[CompiledRule]] = {}
        multipliers: dict[str, list[CompiledMultiplier]] = {}
        for c in campaigns.values():
            for rule in c.rules:
                by_event.setdefault(rule.event, []).append(rule)
            for m in c.multipliers:
                multipliers.setdefault(m.event, []).append(m)
        starts.append(at)
        epochs.append(
            InForce(
                at,
                {r.campaign: r.version for r in live},
                campaigns,
                {k: tuple(v) for k, v in by_event.items()},
                {k: tuple(v) for k, v in multipliers.items()},
            )
        )
    return starts, epochs


book = RuleBook()

__all__ = [
    "EMPTY",
    "Diagnostic",
    "InForce",
    "Published",
    "RuleBook",
    "RulesError",
    "book",
    "compile_version",
    "program_settings",
    "publish",
    "validate",
]
