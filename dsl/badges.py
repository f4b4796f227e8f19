"""The checker's findings about badges: a valid key given by one rule, described once.

A rule's `badge "KEY"` is checked with the rule (check_rule); the `badge "KEY" { ... }`
descriptions once every rule is known (check_declarations).
"""

from __future__ import annotations

import re

from dsl import ast
from dsl.errors import ERROR, WARNING

BADGE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_BADGE_KEY_RULE = (
    "badge key `{key}`: 1 to 64 letters, digits, `-`, `_`, `.` or `:`, starting with a "
    "letter or digit"
)
MAX_BADGE_NAME = 100
MAX_BADGE_DESCRIPTION = 500
MAX_IMAGE_URL = 500
IMAGE_URL = re.compile(r"https?://[^\s\"]{1,492}")


def check_rule(checker, r: ast.Rule) -> None:
    """A badge key names one achievement: the rule that gives it, and no other."""
    if not BADGE_KEY.fullmatch(r.badge):
        checker.say(ERROR, "INVALID_VALUE", _BADGE_KEY_RULE.format(key=r.badge), r.pos)
        return
    first = checker.badge_rules.get(r.badge)
    if first is None:
        checker.badge_rules[r.badge] = r
        return
    checker.say(
        ERROR,
        "BADGE_REUSED",
        f"badge `{r.badge}` is already given by `{first.text}` "
        f"({first.pos.file}:{first.pos.line}): a badge key means one achievement; "
        "give this rule a badge of its own",
        r.pos,
    )


def check_declarations(checker, files: list[ast.RuleFile]) -> None:
    """`badge "KEY" { ... }` descriptions: valid, once each, and given by a rule."""
    described: dict[str, ast.BadgeDecl] = {}
    for f in files:
        for b in f.badges:
            if not BADGE_KEY.fullmatch(b.key):
                checker.say(ERROR, "INVALID_VALUE", _BADGE_KEY_RULE.format(key=b.key), b.pos)
                continue
            if b.key in described:
                first = described[b.key].pos
                checker.say(
                    ERROR,
                    "DUPLICATE_BADGE",
                    f"badge `{b.key}` is already described at {first.file}:{first.line}",
                    b.pos,
                )
                continue
            described[b.key] = b
            for detail in b.given_twice:
                checker.say(ERROR, "INVALID_VALUE", f"`{detail}` given twice", b.pos)
            if b.name is not None and not 0 < len(b.name) <= MAX_BADGE_NAME:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"a badge's name is 1 to {MAX_BADGE_NAME} characters",
                    b.pos,
                )
            if b.description is not None and len(b.description) > MAX_BADGE_DESCRIPTION:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"a badge's description is at most {MAX_BADGE_DESCRIPTION} characters",
                    b.pos,
                )
            if b.image is not None and not IMAGE_URL.fullmatch(b.image):
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"`image` takes an http(s) address of at most {MAX_IMAGE_URL} "
                    f'characters, like "https://example.com/badge.png"',
                    b.pos,
                )
            if b.key not in checker.badge_rules:
                checker.say(
                    WARNING,
                    "BADGE_UNUSED",
                    f'no rule gives badge `{b.key}`: add `badge "{b.key}"` to a rule',
                    b.pos,
                )
