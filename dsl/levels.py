"""Member levels in the rule language: the `levels "Name" { ... }` block.

    levels "Member levels" {
      qualify by points earned in last 365 days   # or: by checkins in last 90 days,
                                                  #     by amount of order in calendar year
      level "silver" at 1000
      level "gold" at 5000 multiply 1.2
      keep for 30 days after falling short
      fall one level at a time
    }

Here: reading the block's lines into `ast.Levels` (called by the parser's block
builder), checking it, compiling it into a `Ladder` and writing it back canonically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal

from dsl import ast
from dsl.errors import ERROR, WARNING
from dsl.hints import suggest

MAX_THRESHOLD = 10**15
MAX_MULTIPLY = Decimal(10)
MAX_WINDOW_DAYS = 3660
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # stored, and written into SQL, as it is

# -- parsing: the parser's block builder hands the block's lines here ------------------


def add(builder, kind: str, value, pos: ast.Pos) -> None:
    """One line of (or about) a `levels` block."""
    if kind == "levels":
        if builder.block:
            return builder._nested("levels", pos)
        builder.block = "levels"
        builder.current = {"name": value, "pos": pos, "settings": {}, "levels": [], "where": []}
        return None
    if builder.block != "levels":
        word = _WORDS[value[0]]
        return builder._misplaced(f"`{word}`", 'inside a `levels "Name" { ... }` block', pos)
    if kind == "close":
        return builder._close()
    if kind != "level_setting":
        what = "rules" if kind in ("rule", "every") else "this statement"
        return builder._misplaced(what, "in a campaign or the program block, not in `levels`", pos)
    data = builder.current
    if data.get("broken"):
        return None
    name, setting = value
    if name == "level":
        data["levels"].append(setting)
        return None
    if name in data["settings"]:
        return builder.error(
            "DUPLICATE_SETTING",
            f"`{_WORDS[name]}` given twice in this levels block: keep one",
            pos.line,
            pos.column,
        )
    data["settings"][name] = setting
    data["where"].append((name, pos))
    return None


def close(builder) -> None:
    data, builder.current = builder.current, None
    builder.block = None
    if data.get("broken"):
        return
    s = data["settings"]
    block = ast.Levels(
        name=data["name"],
        qualify=s.get("qualify"),
        levels=tuple(data["levels"]),
        keep_days=s.get("keep_days"),
        one_at_a_time=s.get("one_at_a_time", False),
        pos=data["pos"],
        settings_pos=tuple(data["where"]),
    )
    if not hasattr(builder, "levels"):
        builder.levels = []
    builder.levels.append(block)


_WORDS = {
    "qualify": "qualify by",
    "level": "level",
    "keep_days": "keep for",
    "one_at_a_time": "fall one level at a time",
}

# -- checking --------------------------------------------------------------------------


def check(checker, files: list[ast.RuleFile]) -> None:
    """The checker's findings about `levels` blocks (`checker` is dsl.checker._Checker)."""
    blocks = [b for f in files for b in f.levels]
    for extra in blocks[1:]:
        first = blocks[0].pos
        checker.say(
            ERROR,
            "DUPLICATE_LEVELS",
            f"a second `levels` block: a program has one ladder, "
            f"the first is at {first.file}:{first.line}",
            extra.pos,
        )
    for block in blocks[:1]:
        _check_block(checker, block)


def _check_block(checker, b: ast.Levels) -> None:
    from dsl.checker import BUILT_IN_EVENTS, METRIC_ALIASES

    where = dict(b.settings_pos)
    q = b.qualify
    if q is None:
        checker.say(
            ERROR,
            "MISSING_QUALIFY",
            "this levels block says no `qualify by ...`: what earns a level "
            "(e.g. `qualify by points earned in last 365 days`)",
            b.pos,
        )
    else:
        if q.days is not None and q.days <= 0:
            checker.say(
                ERROR,
                "DEAD_RULE",
                "a window of 0 days counts nothing: use `in last N days` with N of 1 or more",
                q.pos,
            )
        elif q.days is not None and q.days > MAX_WINDOW_DAYS:
            checker.say(
                ERROR, "INVALID_VALUE", f"a window may be at most {MAX_WINDOW_DAYS} days", q.pos
            )
        if q.kind in ("count", "sum"):
            event = METRIC_ALIASES.get(q.event, q.event)
            if event not in checker.events:
                options = sorted(set(METRIC_ALIASES) | checker.events | {"points earned"})
                hint = suggest(q.event, options)
                checker.say(
                    ERROR,
                    "UNKNOWN_METRIC",
                    f"unknown figure `{q.event}`{hint}: qualify by points earned, "
                    "checkins, orders, an event name, or `ATTRIBUTE of EVENT`",
                    q.pos,
                )
            elif q.kind == "sum" and event not in checker.declared:
                known = BUILT_IN_EVENTS.get(event, frozenset())
                if q.attribute not in known:
                    hint = suggest(q.attribute, sorted(known))
                    listed = ", ".join(sorted(known)) or "none"
                    checker.say(
                        ERROR,
                        "UNKNOWN_ATTRIBUTE",
                        f"`{event}` events have no attribute `{q.attribute}`{hint} "
                        f"(they have: {listed})",
                        q.pos,
                    )
    if not b.levels:
        checker.say(ERROR, "DEAD_RULE", 'this levels block has no `level "KEY" at N` line', b.pos)
    keys: dict[str, ast.Level] = {}
    at: dict[int, ast.Level] = {}
    previous: ast.Level | None = None
    for level in b.levels:
        if level.key in keys:
            first = keys[level.key]
            checker.say(
                ERROR,
                "DUPLICATE_LEVEL",
                f'level "{level.key}" is already defined on line {first.pos.line}',
                level.pos,
            )
        keys.setdefault(level.key, level)
        if not _KEY.match(level.key):
            checker.say(
                ERROR,
                "INVALID_VALUE",
                f'level key "{level.key}": use 1 to 64 letters, digits, `-`, `_`, `.` or `:`'
                ' (e.g. "gold")',
                level.pos,
            )
        if level.at in at:
            checker.say(
                ERROR,
                "DUPLICATE_THRESHOLD",
                f'levels "{at[level.at].key}" and "{level.key}" are both at {level.at}: '
                "each level needs a threshold of its own",
                level.pos,
            )
        elif previous is not None and level.at < previous.at:
            checker.say(
                ERROR,
                "UNORDERED_LEVELS",
                f'level "{level.key}" at {level.at} comes after "{previous.key}" at '
                f"{previous.at}: list levels from the lowest threshold to the highest",
                level.pos,
            )
        at.setdefault(level.at, level)
        if level.at > MAX_THRESHOLD:
            checker.say(
                ERROR, "INVALID_VALUE", f"a threshold may be at most {MAX_THRESHOLD:,}", level.pos
            )
        if level.multiply is not None:
            if level.multiply < 1:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"`multiply {level.multiply}` would take points away: "
                    "a level's multiplier is 1 or more",
                    level.pos,
                )
            elif level.multiply > MAX_MULTIPLY:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"a level multiplies by at most {MAX_MULTIPLY}",
                    level.pos,
                )
            elif level.multiply == 1:
                checker.say(WARNING, "NO_EFFECT", "`multiply 1` changes nothing", level.pos)
        previous = level
    if b.one_at_a_time and b.keep_days is None:
        checker.say(
            WARNING,
            "NO_EFFECT",
            "`fall one level at a time` needs `keep for N days after falling short`: "
            "without a grace period a member drops to the level the figure earns",
            where["one_at_a_time"],
        )
    if b.keep_days is not None and b.keep_days <= 0:
        checker.say(
            ERROR,
            "DEAD_RULE",
            "`keep for 0 days` is no grace: leave the line out to drop at once",
            where["keep_days"],
        )
    elif b.keep_days is not None and b.keep_days > MAX_WINDOW_DAYS:
        checker.say(
            ERROR,
            "INVALID_VALUE",
            f"a grace period may be at most {MAX_WINDOW_DAYS} days",
            where["keep_days"],
        )


# -- compiling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelStep:
    key: str
    at: int
    multiply: Decimal | None
    rank: int  # 1 for the lowest level; 0 is "no level"


@dataclass(frozen=True)
class Ladder:
    """The compiled levels block: what the server evaluates members by."""

    name: str
    kind: str  # "points", "count" or "sum"
    event: str | None
    attribute: str | None
    days: int | None  # None: the calendar year in the program's time zone
    steps: tuple[LevelStep, ...]
    keep_days: int | None
    one_at_a_time: bool
    figure: str  # the figure as written: `points earned`, `checkins`, `amount of order`
    source: str  # canonical text

    def step(self, key: str | None) -> LevelStep | None:
        return next((s for s in self.steps if s.key == key), None)

    def rank(self, key: str | None) -> int:
        found = self.step(key)
        return found.rank if found is not None else 0

    def earned(self, figure: int | Decimal) -> LevelStep | None:
        """The highest level the figure reaches."""
        best = None
        for s in self.steps:
            if figure >= s.at:
                best = s
        return best

    def above(self, key: str | None) -> LevelStep | None:
        rank = self.rank(key)
        return self.steps[rank] if rank < len(self.steps) else None

    @property
    def window(self) -> str:
        return "calendar year" if self.days is None else f"last {self.days} days"


def compile_levels(b: ast.Levels) -> Ladder:
    from dsl.checker import METRIC_ALIASES

    q = b.qualify
    event = METRIC_ALIASES.get(q.event, q.event) if q.event is not None else None
    steps = tuple(
        LevelStep(lv.key, lv.at, lv.multiply, rank) for rank, lv in enumerate(b.levels, start=1)
    )
    return Ladder(
        name=b.name,
        kind=q.kind,
        event=event,
        attribute=q.attribute,
        days=q.days,
        steps=steps,
        keep_days=b.keep_days,
        one_at_a_time=b.one_at_a_time,
        figure=q.written,
        source=render_levels(b),
    )


def ladder_of(files: list[ast.RuleFile]) -> Ladder | None:
    block = next((b for f in files for b in f.levels), None)
    return compile_levels(block) if block is not None and block.qualify is not None else None


# -- writing back ------------------------------------------------------------------------


def render_levels(b: ast.Levels) -> str:
    """The block in canonical form (what is stored, and compared, when rules publish)."""
    lines = [f"levels {_quote(b.name)} {{"]
    if b.qualify is not None:
        lines.append("  " + render_qualify(b.qualify))
    for lv in b.levels:
        extra = f" multiply {_number(lv.multiply)}" if lv.multiply is not None else ""
        lines.append(f"  level {_quote(lv.key)} at {lv.at}{extra}")
    if b.keep_days is not None:
        lines.append(f"  keep for {b.keep_days} days after falling short")
    if b.one_at_a_time:
        lines.append("  fall one level at a time")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_qualify(q: ast.Qualify) -> str:
    window = "in calendar year" if q.days is None else f"in last {q.days} days"
    if q.kind == "points":
        return f"qualify by points earned {window}"
    if q.kind == "count":
        return f"qualify by {q.event} {window}"
    return f"qualify by {q.attribute} of {q.event} {window}"


def _number(v: Decimal) -> str:
    return format(v.normalize(), "f") if v == v.to_integral_value() else str(v)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
