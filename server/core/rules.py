"""Rules in force: publishing campaign versions, and the compiled book the engine reads."""

from __future__ import annotations

import bisect
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

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
from server.core import audit, badges, budgets, levels, program
from server.core.errors import DomainError, ErrorCode
from server.core.generation import generation
from server.core.program import ProgramSettings
from server.store.db import locked, on_rebind, transaction_memo
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
                for name, value in (
                    ("position", position),
                    ("lines", list(campaign.lines)),
                    ("file", campaign.file),
                )
                if getattr(latest, name) != value
            }
            # The same rules, written on other lines or in another file: awards from now
            # name those (each award keeps the file and line it was made from).
            if moved:
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
    levels.save(compiled.levels)
    badges.publish(compiled.badges, _badge_keys(compiled), now=now)
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
    generation.bump()
    transaction_memo().pop(_MEMO, None)  # this transaction reads the new rules
    return out, diagnostics


def _badge_keys(compiled: dsl.CompiledProgram) -> set[str]:
    return {r.badge for rules in compiled.by_event.values() for r in rules if r.badge}


def _same(latest: CampaignVersion | None, campaign: CompiledCampaign) -> bool:
    """A version stands while its meaning does: a comment, a blank line or a move to
    another file is no change (each award names the file and line it was made from)."""
    return latest is not None and not latest.retired and latest.digest == campaign.digest


def _lock_generation() -> None:
    """Publishes one at a time: each compares with what the one before it published.
    (The row is only a lock now; server/core/generation.py says when rules changed.)"""
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
        **streak_offers(block),
    )


def streak_offers(block) -> dict:
    """The program block's streak freeze and make-up check-in prices, as settings."""
    freeze, make_up = block.streak_freeze, block.make_up
    out: dict = {}
    if freeze is not None:
        out.update(freeze_cost=freeze.cost, freeze_limit=freeze.limit, freeze_period=freeze.period)
    if make_up is not None:
        out.update(
            make_up_cost=make_up.cost,
            make_up_days=make_up.days,
            make_up_limit=make_up.limit,
            make_up_period=make_up.period,
        )
    return out


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

    @cached_property
    def counted_boards(self) -> dict[str, tuple[CompiledEvery, ...]]:
        """Boards that count only some events of their metric (a `where`), by event type."""
        out: dict[str, list[CompiledEvery]] = {}
        for e in self.every:
            if e.counts is not None:
                out.setdefault(e.metric, []).append(e)
        return {metric: tuple(boards) for metric, boards in out.items()}


EMPTY = InForce(None, {}, {})


_MEMO = "rule-book"
_Epochs = tuple[list[datetime], list[InForce]]


class RuleBook:
    """Every published version, compiled once per process and rebuilt when the generation
    (server/core/generation.py) changes. A transaction keeps the book it first read, so
    all its events are judged by one set of rules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: tuple[str, _Epochs] | None = None  # (generation, epochs)
        on_rebind(self.forget)

    def at(self, when: datetime) -> InForce:
        """The rules in force at `when`."""
        starts, epochs = self._epochs()
        index = bisect.bisect_right(starts, when) - 1
        return epochs[index] if index >= 0 else EMPTY

    def forget(self) -> None:
        self._built = None

    def _epochs(self) -> _Epochs:
        memo = transaction_memo()
        pinned = memo.get(_MEMO)
        if pinned is not None:
            return pinned
        at = generation.current()
        built = self._built
        if built is None or built[0] != at:
            with self._lock:
                built = self._built
                if built is None or built[0] != at:
                    rows = CampaignVersion.select().order_by(
                        CampaignVersion.activated_at, CampaignVersion.id
                    )
                    built = self._built = (at, _build(list(rows)))
        memo[_MEMO] = built[1]
        return built[1]


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
