"""`jifen webhooks deliver`: send the webhook deliveries that are due, once (for cron)."""

from __future__ import annotations

import argparse

from server.core.clock import SystemClock


def add(sub) -> None:
    """The `webhooks` commands, on the command line's parser."""
    webhooks = sub.add_parser(
        "webhooks", help="webhook deliveries", description="Webhook deliveries."
    ).add_subparsers(title="commands", metavar="COMMAND")
    deliver = webhooks.add_parser(
        "deliver",
        help="send the webhook deliveries that are due, once (for cron)",
        description="Claim every webhook delivery that is due and send it, then exit; "
        "prints how many were delivered, will be retried, or failed for good. Safe to run "
        "while servers deliver too: each attempt is made once (docs/operations.md, Webhooks).",
    )
    deliver.set_defaults(func=deliver_once)


def deliver_once(args: argparse.Namespace) -> int:
    import httpx2 as httpx

    from server.cli import _open
    from server.config import settings
    from server.core import deliveries

    _open()
    clock = SystemClock()
    counts: dict[str, int] = {}
    with httpx.Client(timeout=settings().webhook_timeout_seconds, follow_redirects=False) as c:
        while True:
            done = deliveries.deliver_due(clock.now, deliveries.http_post(c))
            for status, n in done.items():
                counts[status] = counts.get(status, 0) + n
            if sum(done.values()) < deliveries.BATCH:
                break
    print(
        f"delivered {counts.get('delivered', 0)}, to retry {counts.get('pending', 0)}, "
        f"failed {counts.get('failed', 0)}"
    )
    return 0
