"""One parsed line's tree to syntax-tree values, with positions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

from lark import Transformer, v_args

from dsl import ast


def _int(token) -> int:
    return int(str(token).replace("_", ""))


def _decimal(token) -> Decimal:
    return Decimal(str(token).replace("_", ""))


def _string(token) -> str:
    try:
        return json.loads(str(token))
    except ValueError as exc:
        raise ValueError(f"bad escape in the text {token}") from exc


class ToAst(Transformer):
    """Turns one line's tree into ("kind", value) with positions (line 1 of that line)."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file, self.line = file, line

    def _pos(self, meta) -> ast.Pos:
        return ast.Pos(self.file, self.line, getattr(meta, "column", 1))

    def start(self, items):
        return items[0]

    @v_args(meta=True)
    def program_open(self, meta, items):
        return ("program", _string(items[0]), self._pos(meta))

    @v_args(meta=True)
    def campaign_open(self, meta, items):
        title = _string(items[1]) if items[1] is not None else None
        return ("campaign", (_string(items[0]), title), self._pos(meta))

    @v_args(meta=True)
    def block_close(self, meta, items):
        return ("close", None, self._pos(meta))

    @v_args(meta=True)
    def event_decl(self, meta, items):
        return ("event", str(items[0]).lower(), self._pos(meta))

    @v_args(meta=True)
    def timezone(self, meta, items):
        return ("setting", ("timezone", _string(items[0])), self._pos(meta))

    @v_args(meta=True)
    def expire_after(self, meta, items):
        return ("setting", ("expire_days", _int(items[0])), self._pos(meta))

    @v_args(meta=True)
    def expire_never(self, meta, items):
        return ("setting", ("expire_never", True), self._pos(meta))

    @v_args(meta=True)
    def redeem_rate(self, meta, items):
        rate = ast.RedeemRate(_int(items[0]), _decimal(items[1]), str(items[2]).upper())
        return ("setting", ("redeem_rate", rate), self._pos(meta))

    @v_args(meta=True)
    def deduct_at_most(self, meta, items):
        return ("setting", ("deduct_at_most_percent", _decimal(items[0])), self._pos(meta))

    @v_args(meta=True)
    def active(self, meta, items):
        dates = [date.fromisoformat(str(d)) if d is not None else None for d in items]
        return ("campaign_setting", ("active", tuple(dates)), self._pos(meta))

    @v_args(meta=True)
    def budget(self, meta, items):
        return ("campaign_setting", ("budget", _int(items[0])), self._pos(meta))

    @v_args(meta=True)
    def community(self, meta, items):
        return ("campaign_setting", ("community", _string(items[0])), self._pos(meta))

    @v_args(meta=True)
    def campaign_cap(self, meta, items):
        cap = ast.Cap(_int(items[0]), str(items[1]).lower(), self._pos(meta))
        return ("campaign_setting", ("cap", cap), self._pos(meta))

    # rules
    @v_args(meta=True)
    def rule(self, meta, items):
        (event, task_key), *rest = items
        qualifiers, condition, effect, fields = [], None, None, {}
        for item in rest:
            kind, value = item
            if kind == "qualifier":
                qualifiers.append(value)
            elif kind == "condition":
                condition = value
            elif kind == "effect":
                if effect is not None:
                    raise ValueError("a rule takes one `award` or `multiply`")
                effect = value
            elif kind == "badge" and "badge" in fields:
                raise ValueError("a rule gives at most one `badge`")
            else:
                fields[kind] = value
        rule = ast.Rule(
            event=event,
            task_key=task_key,
            qualifiers=tuple(qualifiers),
            condition=condition,
            effect=effect,
            pos=self._pos(meta),
            **fields,
        )
        return ("rule", rule, self._pos(meta))

    def event_name(self, items):
        return (str(items[0]).lower(), None)

    def task_event(self, items):
        return ("task", _string(items[0]))

    def tier(self, items):
        return ("qualifier", items[0])

    def tier_between(self, items):
        return ast.Tier(_int(items[0]), _int(items[1]))

    def tier_above(self, items):
        return ast.Tier(_int(items[0]) + 1, None)

    def tier_at_least(self, items):
        return ast.Tier(_int(items[0]), None)

    def tier_below(self, items):
        return ast.Tier(1, _int(items[0]) - 1)

    def tier_at_most(self, items):
        return ast.Tier(1, _int(items[0]))

    def tier_exact(self, items):
        return ast.Tier(_int(items[0]), _int(items[0]))

    def streak(self, items):
        return ("qualifier", ast.Streak(_int(items[0])))

    def total(self, items):
        return ("qualifier", ast.Total(_int(items[0])))

    def first_within(self, items):
        return ("qualifier", ast.FirstWithin(_int(items[0])))

    def condition(self, items):
        return ("condition", items[0])

    def or_(self, items):
        return ast.Or(items[0], items[1])

    def and_(self, items):
        return ast.And(items[0], items[1])

    @v_args(meta=True)
    def comparison(self, meta, items):
        return ast.Compare(str(items[0]).lower(), str(items[1]), items[2], self._pos(meta))

    @v_args(meta=True)
    def membership(self, meta, items):
        return ast.Compare(str(items[0]).lower(), "in", items[1], self._pos(meta))

    def compare_op(self, items):
        return str(items[0])

    def number(self, items):
        value = _decimal(items[0])
        return int(value) if value == value.to_integral_value() and "." not in items[0] else value

    def string(self, items):
        return _string(items[0])

    def list(self, items):
        return tuple(i for i in items if i is not None)

    def award(self, items):
        return ("effect", ast.Award(_int(items[0])))

    def award_each(self, items):
        return ("effect", ast.Award(_int(items[0]), each=True))

    def award_per(self, items):
        return (
            "effect",
            ast.Award(_int(items[0]), per=_int(items[1]), per_attribute=str(items[2]).lower()),
        )

    def multiply(self, items):
        return ("effect", ast.Multiply(_decimal(items[0])))

    def badge(self, items):
        return ("badge", _string(items[0]))

    @v_args(meta=True)
    def badge_decl(self, meta, items):
        key, name, *details = items
        fields, twice = {}, []
        for detail, text in details:
            if detail in fields:
                twice.append(detail)
            fields[detail] = text
        decl = ast.BadgeDecl(
            _string(key),
            _string(name) if name is not None else None,
            pos=self._pos(meta),
            given_twice=tuple(twice),
            **fields,
        )
        return ("badge_decl", decl, self._pos(meta))

    def badge_description(self, items):
        return ("description", _string(items[0]))

    def badge_image(self, items):
        return ("image", _string(items[0]))

    @v_args(meta=True)
    def streak_freeze(self, meta, items):
        cost, times, period = items
        freeze = ast.StreakFreeze(
            _int(cost),
            _int(times) if times is not None else None,
            str(period).lower() if period is not None else None,
        )
        return ("setting", ("streak_freeze", freeze), self._pos(meta))

    @v_args(meta=True)
    def make_up(self, meta, items):
        _, cost, days, times, period = items
        make_up = ast.MakeUp(
            _int(cost),
            _int(days),
            _int(times) if times is not None else None,
            str(period).lower() if period is not None else None,
        )
        return ("setting", ("make_up", make_up), self._pos(meta))

    @v_args(meta=True)
    def limit(self, meta, items):
        return ("limit", ast.Limit(_int(items[0]), str(items[1]).lower(), self._pos(meta)))

    @v_args(meta=True)
    def cap(self, meta, items):
        return ("cap", ast.Cap(_int(items[0]), str(items[1]).lower(), self._pos(meta)))

    def until_leaves(self, items):
        return ("until_invitee_leaves", True)

    def after_review(self, items):
        return ("after_review", True)

    def repeating(self, items):
        return ("repeating", True)

    def modifier(self, items):
        return items[0]

    def qualifier(self, items):
        return items[0]

    def effect(self, items):
        return items[0]

    @v_args(meta=True)
    def every_rule(self, meta, items):
        period, top, metric, *rest = items
        condition = None
        if rest and isinstance(rest[0], tuple) and rest[0][0] == "condition":
            condition = rest.pop(0)[1]
        every = ast.Every(
            str(period).lower(),
            _int(top),
            str(metric).lower(),
            tuple(_int(a) for a in rest),
            condition=condition,
            pos=self._pos(meta),
        )
        return ("every", every, self._pos(meta))

    # `levels "Name" { ... }` (dsl/levels.py)
    @v_args(meta=True)
    def levels_open(self, meta, items):
        return ("levels", _string(items[0]), self._pos(meta))

    @v_args(meta=True)
    def qualify_points(self, meta, items):
        qualify = ast.Qualify("points", days=items[0], written="points earned", pos=self._pos(meta))
        return ("level_setting", ("qualify", qualify), self._pos(meta))

    @v_args(meta=True)
    def qualify_count(self, meta, items):
        written = str(items[0]).lower()
        qualify = ast.Qualify("count", event=written, days=items[1], written=written)
        return (
            "level_setting",
            ("qualify", replace(qualify, pos=self._pos(meta))),
            self._pos(meta),
        )

    @v_args(meta=True)
    def qualify_sum(self, meta, items):
        attribute, event = str(items[0]).lower(), str(items[1]).lower()
        qualify = ast.Qualify(
            "sum", event, attribute, items[2], f"{attribute} of {event}", self._pos(meta)
        )
        return ("level_setting", ("qualify", qualify), self._pos(meta))

    def window_days(self, items):
        return _int(items[0])

    def window_year(self, items):
        return None

    @v_args(meta=True)
    def level_def(self, meta, items):
        factor = _decimal(items[2]) if items[2] is not None else None
        level = ast.Level(_string(items[0]), _int(items[1]), factor, self._pos(meta))
        return ("level_setting", ("level", level), self._pos(meta))

    @v_args(meta=True)
    def keep_for(self, meta, items):
        return ("level_setting", ("keep_days", _int(items[0])), self._pos(meta))

    @v_args(meta=True)
    def fall_one(self, meta, items):
        return ("level_setting", ("one_at_a_time", True), self._pos(meta))
