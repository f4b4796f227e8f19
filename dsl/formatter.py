"""The canonical form of rules: lowercase keywords, one space, two-space indent, comments kept."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from lark import Tree

from dsl import ast
from dsl.errors import RulesError
from dsl.grammar import BLANK, build_parser
from dsl.parser import parse

_COMMENT = re.compile(r'^((?:[^"#]|"(?:[^"\\]|\\.)*")*)(#.*)$')


def format_source(text: str, file: str = "<rules>") -> str:
    """Rewrite a rules file in canonical layout; raises RulesError if it does not parse.

    Only layout and letter case change: keywords and names in lower case, currency codes
    in upper case, one space between words (none inside brackets, before `,` or `%`, or
    within a tier such as `>3` or `3..4`), two spaces of indent per block, two spaces
    before a comment, no trailing blank lines. Everything the author chose stays as
    written: numbers (`1_000_000`, `1.50`), tier forms (`>3` is not rewritten `>=4`),
    dates, quoted texts and parentheses.
    """
    _, diagnostics = parse(text, file)
    if any(d.is_error for d in diagnostics):
        raise RulesError(diagnostics)
    out, depth = [], 0
    for line in text.splitlines():
        if BLANK.match(line):
            comment = line.strip()
            out.append("  " * depth + comment if comment else "")
            continue
        tree = _LAYOUT.parse(line)
        kind = tree.children[0].data
        if kind == "block_close":
            depth = max(depth - 1, 0)
        statement = _GLUED.sub("", " ".join(_layout(tree)))
        comment = _COMMENT.match(line)
        suffix = f"  {comment.group(2).strip()}" if comment else ""
        out.append("  " * depth + statement + suffix)
        if kind in ("program_open", "campaign_open", "levels_open"):
            depth += 1
    return "\n".join(out).rstrip("\n") + "\n"


# The same grammar, keeping every token (keywords, brackets) in the tree, in source order.
_LAYOUT = build_parser(keep_all_tokens=True)
_TIERS = {"tier_between", "tier_above", "tier_at_least", "tier_below", "tier_at_most"}
_GLUE = "\0"  # joins two tokens without a space; removed with the spaces around it
_GLUED = re.compile(" ?\0 ?")
_NUMBERS = {"INT", "AMOUNT", "NUMBER", "DATE", "STRING"}


def _layout(tree: Tree, parent: str = "") -> list[str]:
    """The statement's words, in order, in canonical case, with glue where no space goes."""
    words: list[str] = []
    for child in tree.children:
        if child is None:  # an optional part the author left out
            continue
        if isinstance(child, Tree):
            inner = _layout(child, child.data)
            if child.data in _TIERS:
                inner = [_GLUE.join(inner)]
            words.extend(inner)
            continue
        word = str(child)
        if child.type in _NUMBERS:
            pass
        elif child.type == "NAME":
            word = word.upper() if parent == "redeem_rate" else word.lower()
        elif word.isalpha() or child.type == "MAKE_UP":
            word = word.lower()
        if word in (")", "]", ",", "%"):
            words.append(_GLUE)
        words.append(word)
        if word in ("(", "["):
            words.append(_GLUE)
    return words


def render_line(kind: str, value) -> str:
    if kind == "program":
        return f"program {_quote(value)} {{"
    if kind == "campaign":
        key, title = value
        return f"campaign {_quote(key)}" + (f" {_quote(title)}" if title else "") + " {"
    if kind == "close":
        return "}"
    if kind == "event":
        return f"event {value}"
    if kind == "badge_decl":
        return render_badge(value)
    if kind == "setting":
        return render_setting(*value)
    if kind == "campaign_setting":
        return render_campaign_setting(*value)
    if kind == "every":
        return render_every(value)
    return render_rule(value)


def render_setting(name: str, value) -> str:
    if name == "timezone":
        return f"timezone {_quote(value)}"
    if name == "expire_days":
        return f"points expire {value} days after earned"
    if name == "expire_never":
        return "points expire never"
    if name == "redeem_rate":
        return f"redeem rate {value.points} points = {value.amount} {value.currency}"
    if name in ("streak_freeze", "make_up"):
        head = (
            f"streak freeze costs {value.cost} points"
            if name == "streak_freeze"
            else f"make-up checkin costs {value.cost} points within {value.days} days"
        )
        if value.limit is not None:
            head += f", at most {value.limit} per {value.period}"
        return head
    return f"deduct at most {_number(value)}% of order"


def render_campaign_setting(name: str, value) -> str:
    if name == "active":
        start, end = value
        return "active " + " ".join(
            p for p in (start and start.isoformat(), "..", end and end.isoformat()) if p
        )
    if name == "budget":
        return f"budget {value} points"
    if name == "community":
        return f"community {_quote(value)}"
    return f"max {value.points} points per {value.period}"


def render_every(e: ast.Every) -> str:
    awards = ", ".join(str(a) for a in e.awards)
    where = f" where {_condition(e.condition, top=True)}" if e.condition is not None else ""
    return f"every {e.period} top {e.top} by {e.metric}{where} award {awards}"


def render_rule(r: ast.Rule) -> str:
    parts = [f"task {_quote(r.task_key)}" if r.task_key is not None else r.event]
    for q in r.qualifiers:
        parts.append(_qualifier(q))
    if r.condition is not None:
        parts.append("where " + _condition(r.condition, top=True))
    e = r.effect
    if r.badge is not None:
        parts.append(f"badge {_quote(r.badge)}")
    if e is None:
        pass
    elif isinstance(e, ast.Multiply):
        parts.append(f"multiply {_number(e.factor)}")
    else:
        parts.append(f"award {e.points}")
        if e.each:
            parts.append("each")
        if e.per is not None:
            parts.append(f"per {e.per} {e.per_attribute}")
    if r.limit is not None:
        parts.append(f"limit {r.limit.times} per {r.limit.period}")
    if r.cap is not None:
        parts.append(f"max {r.cap.points} points per {r.cap.period}")
    if r.until_invitee_leaves:
        parts.append("until invitee leaves")
    if r.after_review:
        parts.append("after review")
    if r.repeating:
        parts.append("repeating")
    return " ".join(parts)


def render_badge(b: ast.BadgeDecl) -> str:
    parts = [f"badge {_quote(b.key)}"]
    if b.name is not None:
        parts.append(_quote(b.name))
    if b.description is not None:
        parts.append(f"description {_quote(b.description)}")
    if b.image is not None:
        parts.append(f"image {_quote(b.image)}")
    return " ".join(parts)


def render_campaign(c: ast.Campaign) -> str:
    """A whole campaign in canonical form: what a campaign version is compared by."""
    lines = [render_line("campaign", (c.key, c.title))]
    if c.has_active:
        lines.append("  " + render_campaign_setting("active", (c.active_from, c.active_until)))
    if c.budget is not None:
        lines.append("  " + render_campaign_setting("budget", c.budget))
    if c.community is not None:
        lines.append("  " + render_campaign_setting("community", c.community))
    for cap in c.caps:
        lines.append("  " + render_campaign_setting("cap", cap))
    for rule in c.rules:
        lines.append(
            "  " + (render_every(rule) if isinstance(rule, ast.Every) else render_rule(rule))
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _qualifier(q) -> str:
    if isinstance(q, ast.Tier):
        if q.high is None:
            return f"tier >={q.low}"
        return f"tier {q.low}" if q.low == q.high else f"tier {q.low}..{q.high}"
    if isinstance(q, ast.Streak):
        return f"streak {q.days}"
    if isinstance(q, ast.Total):
        return f"total {q.count}"
    return f"first within {q.days} days of joining"


def _condition(c, top: bool = False) -> str:
    if isinstance(c, ast.Compare):
        return f"{c.attribute} {c.op} {_value(c.value)}"
    if isinstance(c, ast.And):
        return f"{_condition(c.left)} and {_condition(c.right)}"
    text = f"{_condition(c.left, top=True)} or {_condition(c.right, top=True)}"
    return text if top else f"({text})"


def _value(v) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_value(i) for i in v) + "]"
    if isinstance(v, str):
        return _quote(v)
    return _number(v)


def _number(v) -> str:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else str(v)
    return str(v)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
