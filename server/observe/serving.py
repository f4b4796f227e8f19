"""What `jifen serve` does for observability around starting the server: checks before
anything starts, the first admin key's notice, and the metrics folder of several workers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.config import settings

log = logging.getLogger("jifen")


def before_serving() -> None:
    """Setup errors of tracing stop the start in one line (not a traceback per worker);
    an open /metrics in production is worth a warning."""
    current = settings()
    if current.tracing:
        from server.observe import tracing

        tracing.setup()
    if current.metrics and current.metrics_token is None and current.env == "production":
        log.warning(
            "/metrics is open to whoever reaches this port: set JIFEN_METRICS_TOKEN, or "
            "keep /metrics off the public side of the proxy"
        )


def announce_first_key(key_file: Path) -> None:
    """Say where the first admin key was written. The key itself goes to the file only:
    this console often ends up in a log store."""
    if settings().log_format == "json":
        # One JSON line like the others, so a log store can parse the whole stream.
        log.warning(
            "first start: an admin key was created and written to %s (readable by this "
            "user only); keep it somewhere safe, then delete the file",
            key_file,
        )
        return
    print(
        f"\n  First start: an admin key was created and written to {key_file}"
        "\n  (readable by this user only). Keep it somewhere safe, then delete the file."
        "\n  Send it as `Authorization: Bearer <key>`.\n",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def several_workers(workers: int) -> Iterator[None]:
    """Every worker writes its metrics to one folder; any of them answers for all."""
    from server.observe import multiproc

    multiproc.prepare(workers)
    try:
        yield
    finally:
        multiproc.cleanup()
