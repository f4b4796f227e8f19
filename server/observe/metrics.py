"""Prometheus metrics, served at /metrics (docs/operations.md, "Monitoring", lists each).

Counted where things happen: GraphQL requests (server/api/http.py), events and points
(after their transaction commits, so a rolled-back change is never counted), the
scheduler, subscriptions. Read at scrape time: campaign budgets, scheduler lag and the
database's reachability (one cheap statement each), and the connection pool.

The request path pays one dictionary look-up, a counter increment and a histogram
observation: the labelled children are made once per operation name and kept.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.config import settings
from server.store.db import after_commit, database

log = logging.getLogger("jifen.metrics")

# Read as prometheus_client read it when it was imported, just above.
MULTIPROCESS = settings().metrics_dir is not None

REQUESTS = Counter(
    "jifen_graphql_requests_total",
    "GraphQL requests over HTTP, by operation name, operation type and outcome "
    "(ok, user_error: refused or userErrors, error: internal or database unavailable)",
    ["operation", "type", "outcome"],
)
LATENCY = Histogram(
    "jifen_graphql_request_duration_seconds",
    "Time to answer a GraphQL request over HTTP, from its body read to its answer built",
    ["operation", "type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS = Counter("jifen_events_recorded_total", "Events recorded (accepted), by type", ["type"])
ISSUED = Counter(
    "jifen_points_issued_total",
    "Points credited to members (awards, approved reviews, leaderboard and lottery prizes), "
    "by campaign ('' when none)",
    ["campaign"],
)
SPENT = Counter(
    "jifen_points_spent_total",
    "Points members spent, by kind (redemption, checkout_capture, lottery_draw)",
    ["kind"],
)
EXPIRED = Counter(
    "jifen_points_expired_total",
    "Points that expired, by the campaign that issued them ('' when none)",
    ["campaign"],
)
SUBSCRIBERS = Gauge(
    "jifen_subscribers",
    "Live GraphQL subscriptions, by topic (points, activity)",
    ["topic"],
    multiprocess_mode="livesum",
)
SCHEDULER_RUNS = Counter(
    "jifen_scheduler_runs_total", "Runs of the periodic jobs, by outcome (ok, failed)", ["outcome"]
)
SCHEDULER_DURATION = Histogram(
    "jifen_scheduler_run_duration_seconds",
    "Time one run of the periodic jobs took",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
POOL = Gauge(
    "jifen_db_pool_connections",
    "Database connections of a server process's pool, by state (in_use, idle)",
    ["state"],
    multiprocess_mode="liveall",
)
POOL_MAX = Gauge(
    "jifen_db_pool_max_connections",
    "The most connections a server process's pool opens",
    multiprocess_mode="liveall",
)

MAX_OPERATIONS = 300  # distinct operation names kept as labels; later ones count as "other"
ISSUE_KINDS = frozenset(("award", "approval", "leaderboard", "lottery_prize"))
SPEND_KINDS = frozenset(("redemption", "checkout_capture", "lottery_draw"))
COUNTED_KINDS = ISSUE_KINDS | SPEND_KINDS
_OUTCOMES = ("ok", "user_error", "error")
_children: dict[tuple[str, str], tuple] = {}


def observe_request(operation: str, kind: str, outcome: str, seconds: float) -> None:
    """Count one GraphQL request and its time."""
    children = _children.get((operation, kind))
    if children is None:
        children = _children_of(operation, kind)
    children[0].observe(seconds)
    children[1][outcome].inc()


def _children_of(operation: str, kind: str) -> tuple:
    if len(_children) >= MAX_OPERATIONS:
        operation = "other"
        if (operation, kind) in _children:
            return _children[(operation, kind)]
    made = (
        LATENCY.labels(operation, kind),
        {o: REQUESTS.labels(operation, kind, o) for o in _OUTCOMES},
    )
    _children[(operation, kind)] = made
    return made


def outcome_of(payload: dict) -> str:
    """ok, user_error or error, from an answer's body."""
    errors = payload.get("errors")
    if errors:
        for error in errors:
            if error["extensions"]["code"] in ("INTERNAL", "UNAVAILABLE"):
                return "error"
        return "user_error"
    data = payload.get("data")
    if data:
        for value in data.values():
            if type(value) is dict and value.get("userErrors"):
                return "user_error"
    return "ok"


def events_recorded(types: Iterable[str]) -> None:
    """Count events once the transaction that records them commits."""
    counted: dict[str, int] = {}
    for t in types:
        counted[t] = counted.get(t, 0) + 1
    if counted:
        after_commit(lambda: _add(EVENTS, counted))


def points_issued(by_campaign: dict[str, int]) -> None:
    if by_campaign:
        after_commit(lambda: _add(ISSUED, by_campaign))


def points_expired(campaign: str | None, points: int) -> None:
    after_commit(lambda: EXPIRED.labels(campaign or "").inc(points))


def posted(kind: str, campaign: str | None, points: int) -> None:
    """One ledger transaction of `points` (server/core/ledger.py calls it for every one)."""
    if kind in ISSUE_KINDS:
        after_commit(lambda: ISSUED.labels(campaign or "").inc(points))
    elif kind in SPEND_KINDS:
        after_commit(lambda: SPENT.labels(kind).inc(points))


def _add(metric, amounts: dict[str, int]) -> None:
    for label, amount in amounts.items():
        metric.labels(label).inc(amount)


def subscribed(topic: str, delta: int) -> None:
    SUBSCRIBERS.labels(topic.partition(":")[0]).inc(delta)


def scheduler_run(seconds: float, ok: bool) -> None:
    SCHEDULER_RUNS.labels("ok" if ok else "failed").inc()
    SCHEDULER_DURATION.observe(seconds)


def sample_pool() -> None:
    """Read this process's connection pool into its gauges."""
    db = database.obj
    in_use = getattr(db, "_in_use", None)
    if in_use is None:
        return
    POOL.labels("in_use").set(len(in_use))
    POOL.labels("idle").set(len(getattr(db, "_connections", ())))
    POOL_MAX.set(getattr(db, "_max_connections", 0) or 0)


def stop() -> None:
    """This process is ending: its live gauges leave the sums (multiprocess mode)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


class DatabaseCollector(Collector):
    """What the database says at scrape time; one cheap statement each."""

    def __init__(self, now: Callable) -> None:
        self.now = now

    def collect(self):
        up = GaugeMetricFamily("jifen_database_up", "1 when the database answered this scrape")
        try:
            families = list(self._read())
        except Exception as exc:  # noqa: BLE001 - a scrape still answers, with up 0
            log.warning("metrics: database unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self):
        from server.core import runs
        from server.store.models import Lot

        budget = GaugeMetricFamily(
            "jifen_campaign_budget_points", "A budgeted campaign's budget", labels=["campaign"]
        )
        left = GaugeMetricFamily(
            "jifen_campaign_budget_remaining_points",
            "Points a budgeted campaign may still award",
            labels=["campaign"],
        )
        rows = database.execute_sql(
            "SELECT campaign, SUM(budget), SUM(spent) FROM campaign_budget_share GROUP BY campaign"
        ).fetchall()
        for campaign, total, spent in rows:
            budget.add_metric([campaign], int(total))
            left.add_metric([campaign], int(total) - int(spent))
        yield budget
        yield left
        now = self.now()
        oldest = (
            Lot.select(Lot.expires_at)
            .where(Lot.remaining > 0, Lot.expires_at <= now)
            .order_by(Lot.expires_at)
            .first()
        )
        lag = GaugeMetricFamily(
            "jifen_scheduler_lag_seconds",
            "How long the oldest due expiry has waited for the periodic jobs (0: none waits)",
        )
        waited = (now - oldest.expires_at).total_seconds() if oldest is not None else 0.0
        lag.add_metric([], max(0.0, waited))
        yield lag
        last = runs.last(1)
        if last:
            from datetime import datetime

            started = GaugeMetricFamily(
                "jifen_scheduler_last_run_timestamp_seconds",
                "When the periodic jobs last ran, in any process (Unix time)",
            )
            started.add_metric([], datetime.fromisoformat(last[0].started_at).timestamp())
            yield started


def render(now: Callable) -> bytes:
    """The metrics text: every process's metrics (multiprocess) or this one's, and the
    database's."""
    sample_pool()
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    read = CollectorRegistry(auto_describe=False)
    read.register(DatabaseCollector(now))
    return generate_latest(counted) + generate_latest(read)


def authorized(header: str | None, token: str | None) -> bool:
    """Whether a scrape may read the metrics (JIFEN_METRICS_TOKEN)."""
    if token is None:
        return True
    return header is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


CONTENT_TYPE = CONTENT_TYPE_LATEST
