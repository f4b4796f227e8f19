"""The rule language's syntax tree: frozen dataclasses, each with its source position."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    column: int


@dataclass(frozen=True)
class Tier:
    low: int  # inclusive
    high: int | None  # inclusive; None: no upper bound


@dataclass(frozen=True)
class Streak:
    days: int


@dataclass(frozen=True)
class Total:
    count: int


@dataclass(frozen=True)
class FirstWithin:
    days: int


Qualifier = Tier | Streak | Total | FirstWithin


@dataclass(frozen=True)
class Compare:
    attribute: str
    op: str  # = != < <= > >= in
    value: object
    pos: Pos = field(compare=False)


@dataclass(frozen=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Or:
    left: Condition
    right: Condition


Condition = Compare | And | Or


@dataclass(frozen=True)
class Award:
    points: int
    each: bool = False
    per: int | None = None  # `award N per M ATTR`
    per_attribute: str | None = None


@dataclass(frozen=True)
class Multiply:
    factor: Decimal


Effect = Award | Multiply


@dataclass(frozen=True)
class Limit:
    times: int
    period: str
    pos: Pos = field(compare=False)


@dataclass(frozen=True)
class Cap:
    points: int
    period: str
    pos: Pos = field(compare=False)


@dataclass(frozen=True)
class Rule:
    event: str
    task_key: str | None
    qualifiers: tuple[Qualifier, ...]
    condition: Condition | None
    effect: Effect | None  # None: a rule that only gives a badge
    limit: Limit | None = None
    cap: Cap | None = None
    until_invitee_leaves: bool = False
    after_review: bool = False
    repeating: bool = False
    pos: Pos = field(default=Pos("", 0, 0), compare=False)
    text: str = field(default="", compare=False)
    badge: str | None = None  # `badge "KEY"`: beside the effect, or alone (effect None)

    def qualifier(self, kind: type) -> Qualifier | None:
        return next((q for q in self.qualifiers if isinstance(q, kind)), None)


@dataclass(frozen=True)
class Every:
    period: str
    top: int
    metric: str
    awards: tuple[int, ...]
    condition: Condition | None = None  # `where ...`: which events of the board it counts
    pos: Pos = field(default=Pos("", 0, 0), compare=False)
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Campaign:
    key: str
    title: str | None
    rules: tuple[Rule | Every, ...] = ()
    active_from: date | None = None
    active_until: date | None = None
    has_active: bool = False
    budget: int | None = None
    community: str | None = None
    caps: tuple[Cap, ...] = ()
    pos: Pos = field(default=Pos("", 0, 0), compare=False)
    implicit: bool = False  # rules written outside any campaign block
    # Positions of campaign statements, for diagnostics.
    settings_pos: tuple[tuple[str, Pos], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class RedeemRate:
    points: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Program:
    name: str | None = None
    timezone: str | None = None
    expire_days: int | None = None
    expire_never: bool = False
    redeem_rate: RedeemRate | None = None
    deduct_at_most_percent: Decimal | None = None
    pos: Pos | None = field(default=None, compare=False)
    settings_pos: tuple[tuple[str, Pos], ...] = field(default=(), compare=False)
    streak_freeze: StreakFreeze | None = None
    make_up: MakeUp | None = None


@dataclass(frozen=True)
class StreakFreeze:
    """`streak freeze costs N points, at most M per PERIOD`."""

    cost: int
    limit: int | None = None
    period: str | None = None


@dataclass(frozen=True)
class MakeUp:
    """`make-up checkin costs N points within D days, at most M per PERIOD`."""

    cost: int
    days: int
    limit: int | None = None
    period: str | None = None


@dataclass(frozen=True)
class BadgeDecl:
    """`badge "KEY" "Name" description "..." image "URL"`: how a badge is shown."""

    key: str
    name: str | None = None
    description: str | None = None
    image: str | None = None
    pos: Pos = field(default=Pos("", 0, 0), compare=False)
    given_twice: tuple[str, ...] = field(default=(), compare=False)  # details written twice


@dataclass(frozen=True)
class EventDecl:
    name: str
    pos: Pos = field(default=Pos("", 0, 0), compare=False)


@dataclass(frozen=True)
class RuleFile:
    """One parsed file: its program block (if any), campaigns and declared events."""

    name: str
    program: Program | None = None
    campaigns: tuple[Campaign, ...] = ()
    events: tuple[EventDecl, ...] = ()
    levels: tuple[Levels, ...] = ()  # `levels` blocks (one per program; more is an error)
    badges: tuple[BadgeDecl, ...] = ()


@dataclass(frozen=True)
class Qualify:
    """What a member's level is earned by: `points` earned, a `count` of an event, or the
    `sum` of an event's attribute; over the last `days` days, or the calendar year (None)."""

    kind: str  # "points", "count" or "sum"
    event: str | None = None
    attribute: str | None = None
    days: int | None = None
    written: str = ""  # the figure as written: `checkins`, `amount of order`
    pos: Pos = field(default=Pos("", 0, 0), compare=False)


@dataclass(frozen=True)
class Level:
    key: str
    at: int  # the qualifying figure that earns it
    multiply: Decimal | None = None  # perk: the member's campaign awards times this
    pos: Pos = field(default=Pos("", 0, 0), compare=False)


@dataclass(frozen=True)
class Levels:
    """A `levels "Name" { ... }` block: the program's ladder of member levels."""

    name: str
    qualify: Qualify | None = None
    levels: tuple[Level, ...] = ()
    keep_days: int | None = None  # grace after falling short; None: drop at once
    one_at_a_time: bool = False
    pos: Pos = field(default=Pos("", 0, 0), compare=False)
    settings_pos: tuple[tuple[str, Pos], ...] = field(default=(), compare=False)
