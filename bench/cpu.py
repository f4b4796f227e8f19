"""How busy the machine's cores were while a benchmark ran (Linux `/proc/stat`).

A figure that does not grow with more server processes is explained by this: when one
process already keeps every core busy (the database, the servers and the load
generator share them), a second process has nothing to run on.
"""

from __future__ import annotations

import os
from pathlib import Path

_STAT = Path("/proc/stat")


def _times() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot; None where there is no /proc."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


class Busy:
    """`with Busy() as busy: ...` then `busy.share`: the share of all cores' time that
    was busy meanwhile (0..1), or None where it cannot be read."""

    def __enter__(self) -> Busy:
        self.share: float | None = None
        self._start = _times()
        return self

    def __exit__(self, *exc) -> None:
        end = _times()
        if self._start is None or end is None or end[1] == self._start[1]:
            return
        self.share = (end[0] - self._start[0]) / (end[1] - self._start[1])

    def text(self) -> str:
        """E.g. `cores 97% busy (2)`."""
        if self.share is None:
            return "cores: not measured"
        return f"cores {self.share:.0%} busy ({os.cpu_count()})"
