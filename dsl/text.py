"""Small helpers on the text of one line."""

from __future__ import annotations


def statement_text(line: str, collapse: bool = True) -> str:
    """The statement without its comment (and, collapsed, without extra space)."""
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted:
            break
        out.append(ch)
    text = "".join(out)
    return " ".join(text.split()) if collapse else text
