"""The grammar, loaded once: LALR with positions on every node."""

from __future__ import annotations

import re
from pathlib import Path

from lark import Lark

GRAMMAR = Path(__file__).with_name("grammar.lark")
BLANK = re.compile(r"^\s*(#.*)?$")  # a line with no statement


def build_parser(**options) -> Lark:
    """The LALR parser for one line (not cached on disk: building it takes milliseconds)."""
    return Lark.open(
        str(GRAMMAR), parser="lalr", propagate_positions=True, maybe_placeholders=True, **options
    )


LARK = build_parser()
