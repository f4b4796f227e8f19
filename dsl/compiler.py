"""Compile checked rules into evaluators: small objects and closures, indexed by event type.

The compiled program is pure: the engine gives each evaluator the facts it knows about an
event (attributes and the member's counters) and applies limits, caps and budgets itself.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from dsl import ast
from dsl.checker import METRIC_ALIASES
from dsl.formatter import render_campaign
from dsl.levels import Ladder, ladder_of


@dataclass(frozen=True)
class Facts:
    """What is known when a rule looks at an event: after the member's counters moved."""

    attributes: Mapping[str, Any]  # lowercase keys
    count: int  # this is the member's n-th event of its kind (revoked referrals excluded)
    total: int  # ... and the n-th ever
    streak: int  # consecutive days with the event, today included
    new_day: bool  # the first event of its kind today (a streak moves only then)
    days_since_joining: float | None  # None if the member never joined


@dataclass(frozen=True)
class CompiledRule:
    campaign: str
    rule_id: str  # stable across versions while the rule's text is unchanged
    line: int
    text: str
    event: str
    source: ast.Rule
    condition: Callable[[Facts], bool]
    qualifies: Callable[[Facts], bool]
    base_points: Callable[[Facts], int]

    def award(self, facts: Facts) -> int:
        """Points this rule gives for the event before limits, caps and budget; 0 for none."""
        if not self.condition(facts) or not self.qualifies(facts):
            return 0
        return max(self.base_points(facts), 0)

    @property
    def badge(self) -> str | None:
        """The badge this rule gives when it fires, if any."""
        return self.source.badge

    def reached(self, facts: Facts) -> bool:
        """Whether the rule fires for the event (a badge is given even with no points)."""
        return self.condition(facts) and self.qualifies(facts)


@dataclass(frozen=True)
class CompiledMultiplier:
    campaign: str
    rule_id: str
    line: int
    text: str
    event: str
    factor: Decimal
    condition: Callable[[Facts], bool]


@dataclass(frozen=True)
class CompiledEvery:
    campaign: str
    rule_id: str
    line: int
    text: str
    period: str
    top: int
    metric: str  # an event type, or "points"
    awards: tuple[int, ...]
    written_metric: str = ""  # as the operator wrote it: `messages`
    # Which events of the metric the board counts (their attributes): its own `where`, else
    # the `where` of its campaign's rules for that event; None: every event counts.
    counts: Callable[[Mapping[str, Any]], bool] | None = None

    @property
    def metric_label(self) -> str:
        return self.written_metric or self.metric

    @property
    def board(self) -> str:
        """The standings this board reads: the metric's own, or its own filtered count
        (a key short enough for a standing's metric)."""
        if self.counts is None:
            return self.metric
        return "board:" + hashlib.sha256(self.rule_id.encode()).hexdigest()[:20]

    def prize(self, rank: int) -> int:
        if rank > self.top:
            return 0
        return self.awards[0] if len(self.awards) == 1 else self.awards[rank - 1]


@dataclass(frozen=True)
class CompiledCampaign:
    key: str
    title: str | None
    digest: str  # of the canonical text: a new version only when this changes
    source: str  # canonical text
    active_from: date | None
    active_until: date | None
    budget: int | None
    community: str | None
    caps: tuple[ast.Cap, ...]
    rules: tuple[CompiledRule, ...]
    multipliers: tuple[CompiledMultiplier, ...]
    every: tuple[CompiledEvery, ...]
    file: str | None = None  # the file's name (no directory) it was written in
    lines: tuple[int, ...] = ()  # each rule's line in that file, in written order

    def active_on(self, day: date) -> bool:
        return (self.active_from is None or day >= self.active_from) and (
            self.active_until is None or day <= self.active_until
        )


@dataclass(frozen=True)
class CompiledProgram:
    program: ast.Program | None
    campaigns: dict[str, CompiledCampaign]
    events: frozenset[str]  # built-in and declared
    by_event: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    multipliers_by_event: dict[str, tuple[CompiledMultiplier, ...]] = field(default_factory=dict)
    levels: Ladder | None = None  # the `levels` block, if the program has one
    badges: dict[str, ast.BadgeDecl] = field(default_factory=dict)  # described in the files


def compile_program(files: list[ast.RuleFile]) -> CompiledProgram:
    """Compile parsed, checked files (the checker must have found no errors)."""
    from dsl.checker import BUILT_IN_EVENTS

    program = next((f.program for f in files if f.program is not None), None)
    campaigns = {c.key: compile_campaign(c) for f in files for c in f.campaigns}
    by_event: dict[str, list[CompiledRule]] = {}
    multipliers: dict[str, list[CompiledMultiplier]] = {}
    for campaign in campaigns.values():
        for rule in campaign.rules:
            by_event.setdefault(rule.event, []).append(rule)
        for m in campaign.multipliers:
            multipliers.setdefault(m.event, []).append(m)
    events = frozenset(BUILT_IN_EVENTS) | {e.name for f in files for e in f.events}
    return CompiledProgram(
        program,
        campaigns,
        events,
        {k: tuple(v) for k, v in by_event.items()},
        {k: tuple(v) for k, v in multipliers.items()},
        levels=ladder_of(files),
        badges={b.key: b for f in files for b in f.badges},
    )


def compile_campaign(
    c: ast.Campaign, *, file: str | None = None, lines: Sequence[int] | None = None
) -> CompiledCampaign:
    """Compile one campaign. Rules carry the line they were written on: their position in
    `c`, or, for a campaign read back from its stored canonical text, `lines` (each rule's
    line in the file it was published from, in written order) and that `file`."""
    source = render_campaign(c)
    if lines is None or len(lines) != len(c.rules):
        lines = [r.pos.line for r in c.rules]
        file = file or file_name(c.pos.file)
    rules, multipliers, every = [], [], []
    for r, line in zip(c.rules, lines, strict=True):
        rule_id = f"{c.key}:{hashlib.sha256(r.text.encode()).hexdigest()[:12]}"
        if isinstance(r, ast.Every):
            every.append(
                CompiledEvery(
                    c.key,
                    rule_id,
                    line,
                    r.text,
                    r.period,
                    r.top,
                    METRIC_ALIASES.get(r.metric, r.metric),
                    r.awards,
                    written_metric=r.metric,
                    counts=_board_counts(r, c),
                )
            )
        elif isinstance(r.effect, ast.Multiply):
            multipliers.append(
                CompiledMultiplier(
                    c.key, rule_id, line, r.text, r.event, r.effect.factor, _condition(r)
                )
            )
        else:
            rules.append(
                CompiledRule(
                    c.key,
                    rule_id,
                    line,
                    r.text,
                    r.event,
                    r,
                    _condition(r),
                    _qualifies(r),
                    _points(r.effect),
                )
            )
    return CompiledCampaign(
        key=c.key,
        title=c.title,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        source=source,
        active_from=c.active_from,
        active_until=c.active_until,
        budget=c.budget,
        community=c.community,
        caps=c.caps,
        rules=tuple(rules),
        multipliers=tuple(multipliers),
        every=tuple(every),
        file=file,
        lines=tuple(lines),
    )


def file_name(path: str) -> str | None:
    """What a rule's file is called in `why` lines: its name without the directory, so a
    program deployed from another directory is the same program."""
    if not path or path.startswith("<"):
        return None
    return PurePath(path).name


def _always(facts: Facts) -> bool:
    return True


def _board_counts(e: ast.Every, c: ast.Campaign) -> Callable[[Mapping[str, Any]], bool] | None:
    """A board counts the events that pass its own `where`, else the `where` of its
    campaign's rules for the same event (any of them); without either, every event."""
    metric = METRIC_ALIASES.get(e.metric, e.metric)
    if e.condition is not None:
        return _compile_condition(e.condition)
    rules = [r for r in c.rules if isinstance(r, ast.Rule) and r.event == metric]
    if not rules or any(r.condition is None for r in rules):
        return None
    tests = [_compile_condition(r.condition) for r in rules]
    return lambda attributes: any(t(attributes) for t in tests)


def _condition(r: ast.Rule) -> Callable[[Facts], bool]:
    tests = []
    if r.task_key is not None:
        key = r.task_key
        tests.append(lambda f: f.attributes.get("task") == key)
    if r.condition is not None:
        test = _compile_condition(r.condition)
        tests.append(lambda f: test(f.attributes))
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    return lambda f: all(t(f) for t in tests)


_OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compile_condition(c) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(c, ast.And):
        left, right = _compile_condition(c.left), _compile_condition(c.right)
        return lambda a: left(a) and right(a)
    if isinstance(c, ast.Or):
        left, right = _compile_condition(c.left), _compile_condition(c.right)
        return lambda a: left(a) or right(a)
    name, expected = c.attribute, c.value
    if c.op == "in":
        options = frozenset(_normal(v) for v in expected)
        return lambda a: name in a and _normal(a[name]) in options
    op = _OPS[c.op]
    wanted = _normal(expected)

    def compare(a: Mapping[str, Any]) -> bool:
        if name not in a:
            return False
        value = _normal(a[name])
        if isinstance(value, str) != isinstance(wanted, str):
            return c.op == "!="  # a number is never equal to a text
        try:
            return op(value, wanted)
        except TypeError:
            return False

    return compare


def _normal(value: Any) -> Any:
    """Numbers compare as numbers whatever their JSON type; booleans and text as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        return value
    return str(value)


def _qualifies(r: ast.Rule) -> Callable[[Facts], bool]:
    checks: list[Callable[[Facts], bool]] = []
    for q in r.qualifiers:
        if isinstance(q, ast.Tier):
            low, high = q.low, q.high
            checks.append(
                lambda f, lo=low, hi=high: f.count >= lo and (hi is None or f.count <= hi)
            )
        elif isinstance(q, ast.Streak):
            days, repeating = q.days, r.repeating
            if repeating:
                checks.append(lambda f, n=days: f.new_day and f.streak % n == 0)
            else:
                checks.append(lambda f, n=days: f.new_day and f.streak == n)
        elif isinstance(q, ast.Total):
            checks.append(lambda f, n=q.count: f.total == n)
        elif isinstance(q, ast.FirstWithin):
            checks.append(
                lambda f, n=q.days: (
                    f.total == 1
                    and f.days_since_joining is not None
                    and 0 <= f.days_since_joining <= n
                )
            )
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda f: all(c(f) for c in checks)


def _nothing(facts: Facts) -> int:
    return 0


def _points(effect: ast.Award | None) -> Callable[[Facts], int]:
    if effect is None:  # a rule that only gives a badge
        return _nothing
    points = effect.points
    if effect.per is None:
        return lambda f: points
    per, attribute = effect.per, effect.per_attribute

    def scaled(f: Facts) -> int:
        value = f.attributes.get(attribute)
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            return 0
        try:
            amount = Decimal(str(value))
            if not amount.is_finite() or amount <= 0:
                return 0
            return points * int(amount // per)
        except ArithmeticError:  # a quotient beyond Decimal's precision: not an amount
            return 0

    return scaled
