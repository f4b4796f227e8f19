"""Deployment settings, from the environment. Every one has a safe default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    max_body_bytes: int = 1_000_000  # JIFEN_MAX_BODY_BYTES
    introspection: bool = True  # JIFEN_INTROSPECTION
    graphiql: bool = True  # JIFEN_GRAPHIQL
    cors_origins: tuple[str, ...] = field(default=())  # JIFEN_CORS_ORIGINS, comma-separated
    cost_budget: int = 20_000  # JIFEN_COST_BUDGET: points of query cost per token ...
    cost_window_seconds: int = 60  # ... refilled over this many seconds
    language: str = "en"  # JIFEN_LANGUAGE: the console's language until a user switches (en, zh)

    @classmethod
    def from_env(cls) -> Config:
        origins = tuple(
            o.strip() for o in os.environ.get("JIFEN_CORS_ORIGINS", "").split(",") if o.strip()
        )
        return cls(
            max_body_bytes=int(os.environ.get("JIFEN_MAX_BODY_BYTES", "1000000")),
            introspection=_flag("JIFEN_INTROSPECTION", True),
            graphiql=_flag("JIFEN_GRAPHIQL", True),
            cors_origins=origins,
            cost_budget=int(os.environ.get("JIFEN_COST_BUDGET", "20000")),
            cost_window_seconds=int(os.environ.get("JIFEN_COST_WINDOW_SECONDS", "60")),
            language=os.environ.get("JIFEN_LANGUAGE", "en").strip().lower(),
        )
