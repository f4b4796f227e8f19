"""Diagnostics: what is wrong, where, and how bad, printed the way compilers print them."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    code: str  # stable, e.g. SYNTAX, UNKNOWN_EVENT, TIER_OVERLAP
    message: str
    file: str
    line: int
    column: int
    source_line: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def format(self) -> str:
        """`file:line:column: severity: message`, the line, and a caret under the column."""
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if not self.source_line:
            return head
        text = self.source_line.rstrip("\n").expandtabs(4)
        return f"{head}\n    {text}\n    {' ' * (max(self.column, 1) - 1)}^"


class RulesError(Exception):
    """Rules that cannot be used; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.is_error]
        super().__init__("\n".join(d.format() for d in errors) or "invalid rules")
        self.diagnostics = diagnostics
