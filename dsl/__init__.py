"""The campaign rule language: parse, check, format and compile rule files.

Pure: imports nothing of the server, the database or the API.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dsl.checker import check
from dsl.compiler import CompiledProgram, compile_program
from dsl.errors import Diagnostic, RulesError
from dsl.parser import parse_files

__all__ = ["CompiledProgram", "Diagnostic", "RulesError", "load", "read_directory"]


def load(
    files: list[tuple[str, str]], *, today: date
) -> tuple[CompiledProgram | None, list[Diagnostic]]:
    """Parse, check and compile (name, text) files as one program.

    Returns the compiled program (None if there is any error) and every diagnostic.
    """
    parsed, diagnostics = parse_files(files)
    lines = {name: text.splitlines() for name, text in files}
    diagnostics = diagnostics + check(parsed, today=today, lines=lines)
    diagnostics.sort(key=lambda d: (d.file, d.line, d.column))
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    return compile_program(parsed), diagnostics


def read_directory(directory: Path) -> list[tuple[str, str]]:
    """The *.rules files of a directory, by name, in name order."""
    return [
        (str(path), path.read_text(encoding="utf-8"))
        for path in sorted(Path(directory).glob("*.rules"))
    ]
