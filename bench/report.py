"""The benchmarks' one table format: benchmark, figure, ratio to the same-run baseline, target."""

from __future__ import annotations

Row = tuple[str, str, str, str]


def header() -> str:
    return line(("benchmark", "figure", "ratio", "target"))


def line(row: Row) -> str:
    return f"{row[0]:<48} {row[1]:>20} {row[2]:>7} {row[3]:>13}"


def show(rows: list[Row]) -> None:
    for row in rows:
        print(line(row), flush=True)
