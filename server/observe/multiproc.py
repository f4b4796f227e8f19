"""Metrics of several server processes (`jifen serve --workers N`): prometheus-client's
multiprocess mode. Each worker writes its counters to files in one folder
(PROMETHEUS_MULTIPROC_DIR) and whichever worker answers a scrape sums them all, so
/metrics means the whole server whichever worker the scrape lands on.

Kept apart from metrics.py: the folder must be chosen before prometheus_client is
imported by any process that serves.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from server.config import set_for_workers, settings

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare(workers: int) -> Path | None:
    """For several workers: the metrics folder (PROMETHEUS_MULTIPROC_DIR, or a new one),
    emptied of a previous run's files, and set in the environment the workers inherit."""
    given = settings().metrics_dir
    if workers <= 1 and given is None:
        return None
    folder = given or Path(tempfile.mkdtemp(prefix="jifen-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)  # counters of a previous run would add up with ours
    set_for_workers(VARIABLE, str(folder))
    if given is None:
        _made.append(folder)
    return folder


def cleanup() -> None:
    """Remove the folder `prepare` made (not one the operator named)."""
    while _made:
        shutil.rmtree(_made.pop(), ignore_errors=True)


_made: list[Path] = []
