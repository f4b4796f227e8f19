"""Every deployment setting, typed and read from the environment in this one place.

`settings()` is what the rest of the code asks; `jifen config` lists each setting with its
value, default, where the value came from and what it means (docs/operations.md too). A
malformed value is a `SettingsError` naming the variable and what it expects, which the
command line reports in one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SettingsError(Exception):
    """One or more settings are malformed; the message names each and what it expects."""


def _setting(default: Any, name: str, meaning: str, expect: str, **constraints: Any) -> Any:
    return Field(
        default,
        validation_alias=name,
        description=meaning,
        json_schema_extra={"expect": expect},
        **constraints,
    )


class Settings(BaseSettings):
    """The settings of one server process (or one `jifen` command)."""

    model_config = SettingsConfigDict(
        case_sensitive=True,
        env_ignore_empty=True,  # VAR= in a unit file means "unset", as the shell does
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    database_url: str = _setting(
        "sqlite:///jifen.db",
        "DATABASE_URL",
        "the database: sqlite:///FILE (relative) or sqlite:////PATH, or postgresql://USER@HOST/DB",
        "sqlite:///FILE or postgresql://USER@HOST:PORT/NAME",
    )
    env: Literal["development", "staging", "production"] | None = _setting(
        None,
        "JIFEN_ENV",
        "what this deployment is: production turns GraphiQL and introspection off unless "
        "they are set; staging and development may move the program's clock to rehearse "
        "(`jifen tick --at`); unset counts as production for that",
        "development, staging or production",
    )
    graphiql: bool | None = _setting(
        None,
        "JIFEN_GRAPHIQL",
        "serve GraphiQL to browsers at /graphql (default: on, off in production)",
        "on or off (1/0, true/false, yes/no)",
    )
    introspection: bool | None = _setting(
        None,
        "JIFEN_INTROSPECTION",
        "answer introspection queries (default: on, off in production)",
        "on or off (1/0, true/false, yes/no)",
    )
    admin_key_file: Path = _setting(
        Path("jifen-admin-key"),
        "JIFEN_ADMIN_KEY_FILE",
        "where the first start writes the first admin key, readable by its owner only",
        "a file path in a writable folder",
    )
    max_body_bytes: int = _setting(
        1_000_000,
        "JIFEN_MAX_BODY_BYTES",
        "largest request body accepted (413 above)",
        "a whole number of at least 1",
        ge=1,
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "JIFEN_CORS_ORIGINS",
        "browser origins allowed to call the API, comma-separated (default: none)",
        "origins like https://shop.example, comma-separated",
    )
    cost_budget: int = _setting(
        20_000,
        "JIFEN_COST_BUDGET",
        "query cost each caller may spend per window",
        "a whole number of at least 1",
        ge=1,
    )
    cost_window_seconds: int = _setting(
        60,
        "JIFEN_COST_WINDOW_SECONDS",
        "seconds over which a spent query budget refills",
        "a whole number of seconds, at least 1",
        ge=1,
    )
    tick_seconds: float = _setting(
        60.0,
        "JIFEN_TICK_SECONDS",
        "how often the server runs the periodic jobs (0: never, leave it to `jifen tick`)",
        "a number of seconds, 0 or more",
        ge=0,
    )
    language: Literal["en", "zh"] = _setting(
        "en",
        "JIFEN_LANGUAGE",
        "the operator console's language until a user switches it",
        "en or zh",
    )
    writer_lanes: int | None = _setting(
        None,
        "JIFEN_WRITER_LANES",
        "writer lanes of group commit: 1 on SQLite (one writer at a time anyway), default "
        "4 on PostgreSQL, each with a connection of its own",
        "a whole number from 1 to 64",
        ge=1,
        le=64,
    )
    message_rate: int = _setting(
        10,
        "JIFEN_MESSAGE_RATE",
        "messages a minute per member that may earn points",
        "a whole number, 0 or more",
        ge=0,
    )
    checkout_hold_minutes: int = _setting(
        30,
        "JIFEN_CHECKOUT_HOLD_MINUTES",
        "how long points held at checkout stay held before they are released",
        "a whole number of minutes, at least 1",
        ge=1,
    )
    adjustment_approval_over: int = _setting(
        10_000,
        "JIFEN_ADJUSTMENT_APPROVAL_OVER",
        "manual adjustments larger than this many points need a second operator",
        "a whole number of points, 0 or more",
        ge=0,
    )
    simulation_seconds: int = _setting(
        60,
        "JIFEN_SIMULATION_SECONDS",
        "rulesSimulate over the API stops after this many seconds (SIMULATION_TOO_LONG); "
        "`jifen rules simulate` has no limit",
        "a whole number of seconds, 1 or more",
        ge=1,
    )
    level_set_approval: bool = _setting(
        False,
        "JIFEN_LEVEL_SET_APPROVAL",
        "an operator's memberLevelSet needs a second operator's approval",
        "true or false",
    )
    budget_shares: int = _setting(
        16,
        "JIFEN_BUDGET_SHARES",
        "rows a campaign budget is split into, so concurrent awards do not queue on one",
        "a whole number from 1 to 256",
        ge=1,
        le=256,
    )
    webhook_seconds: float = _setting(
        1.0,
        "JIFEN_WEBHOOK_SECONDS",
        "how often the server looks for webhook deliveries due (0: never, leave it to "
        "`jifen webhooks deliver`)",
        "a number of seconds, 0 or more",
        ge=0,
    )
    webhook_timeout_seconds: float = _setting(
        10.0,
        "JIFEN_WEBHOOK_TIMEOUT_SECONDS",
        "how long one webhook POST may take before it counts as failed",
        "a number of seconds from 1 to 60",
        ge=1,
        le=60,
    )
    webhook_private_addresses: bool = _setting(
        True,
        "JIFEN_WEBHOOK_PRIVATE_ADDRESSES",
        "whether webhook endpoints may be on loopback, private or link-local addresses "
        "(on for self-hosting; turn off where operators must not reach the internal network)",
        "on or off (1/0, true/false, yes/no)",
    )

    log_format: Literal["text", "json"] = _setting(
        "text",
        "JIFEN_LOG_FORMAT",
        "log lines as text, or as one JSON object a line for a log store; each carries "
        "the request id",
        "text or json",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _setting(
        "INFO",
        "JIFEN_LOG_LEVEL",
        "the least severe log lines written",
        "DEBUG, INFO, WARNING or ERROR",
    )
    metrics: bool = _setting(
        True,
        "JIFEN_METRICS",
        "serve Prometheus metrics at /metrics",
        "on or off (1/0, true/false, yes/no)",
    )
    metrics_token: str | None = _setting(
        None,
        "JIFEN_METRICS_TOKEN",
        "when set, /metrics answers only `Authorization: Bearer <this token>` (default: "
        "open; keep it off the public network)",
        "a secret of at least 16 characters",
        min_length=16,
    )
    metrics_dir: Path | None = _setting(
        None,
        "PROMETHEUS_MULTIPROC_DIR",
        "the folder where the metrics of several server processes meet (prometheus-client's "
        "multiprocess mode); `jifen serve --workers N` makes one when unset",
        "a folder path, emptied by each `jifen serve` start",
    )
    tracing: bool = _setting(
        False,
        "JIFEN_TRACING",
        "send OpenTelemetry traces of GraphQL operations and SQL statements (needs "
        "jifen[otel]; the exporter reads the OTEL_* variables)",
        "on or off (1/0, true/false, yes/no)",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("sqlite", "postgres", "postgresql") or (
            scheme == "sqlite" and not value.startswith("sqlite:///")
        ):
            raise ValueError("unsupported URL")
        return value

    @model_validator(mode="after")
    def _production_defaults(self) -> Settings:
        # Unset, the browser IDE and introspection follow JIFEN_ENV; set, they win.
        if self.graphiql is None:
            self.graphiql = self.env != "production"
        if self.introspection is None:
            self.introspection = self.env != "production"
        return self

    @classmethod
    def from_env(cls) -> Settings:
        """The settings in force (the environment, under any test override)."""
        return settings()


# The API's knobs were once their own class; the name stays for the callers that use it.
Config = Settings

SECRETS = {"JIFEN_METRICS_TOKEN"}  # shown as *** by `jifen config`

NAMES = {name: f.validation_alias for name, f in Settings.model_fields.items()}

_overrides: dict[str, Any] = {}
_cached: tuple[tuple, Settings] | None = None
# The mapping behind os.environ (what os.environ[...] = and monkeypatch.setenv update),
# read with its own keys: a plain dictionary look-up per setting, where os.environ.get
# encodes each name and raises and catches KeyError for every unset one (a check-in
# reads the settings a few times; that was 4% of its time).
_ENVIRON = getattr(os.environ, "_data", os.environ)
_KEYS = tuple(os.environ.encodekey(n) if _ENVIRON is not os.environ else n for n in NAMES.values())


def settings() -> Settings:
    """The settings in force. Parsed again only when the environment changes, so a test's
    `monkeypatch.setenv` takes effect and the hot paths pay a few dictionary look-ups."""
    global _cached
    key = (tuple(map(_ENVIRON.get, _KEYS)), tuple(_overrides.items()))
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    current = parse(_overrides)
    _cached = (key, current)
    return current


def parse(values: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment and `values` (by field name); SettingsError if bad."""
    try:
        return Settings(**(values or {}))
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


@contextmanager
def override(**values: Any) -> Iterator[Settings]:
    """Settings changed for the duration (tests): `with override(message_rate=3): ...`."""
    unknown = set(values) - set(NAMES)
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    saved = dict(_overrides)
    _overrides.update(values)
    try:
        yield settings()
    finally:
        _overrides.clear()
        _overrides.update(saved)


def set_for_workers(variable: str, value: str) -> None:
    """Set a setting in the environment of the server processes started from this one."""
    if variable not in NAMES.values():
        raise TypeError(f"no such setting: {variable}")
    os.environ[variable] = value


def _explain(exc: ValidationError) -> str:
    problems = []
    fields = {f.validation_alias: (name, f) for name, f in Settings.model_fields.items()}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        name, field = fields.get(where) or (where, Settings.model_fields.get(where))
        variable = NAMES.get(name, where)
        expect = (field.json_schema_extra or {}).get("expect") if field else None
        given = error.get("input")
        shown = mask(given) if variable == "DATABASE_URL" and isinstance(given, str) else given
        if variable in SECRETS:
            shown = "***"
        problems.append(
            f"{variable}={shown!r} is not valid: expected {expect or error['msg']}"
            if not isinstance(given, dict)
            else f"{variable}: {error['msg']}"
        )
    return "; ".join(problems) + "; fix or unset it"


@dataclass(frozen=True)
class Entry:
    """One setting as `jifen config` shows it."""

    name: str
    value: str
    default: str
    source: str
    meaning: str


def describe(current: Settings | None = None) -> list[Entry]:
    """Every setting: its variable, value (secrets masked), default, source and meaning."""
    current = current or settings()
    entries = []
    for name, field in Settings.model_fields.items():
        variable = NAMES[name]
        if os.environ.get(variable):
            source = "environment"
        elif name in _overrides:
            source = "override"
        elif name in ("graphiql", "introspection"):
            source = f"default (JIFEN_ENV={current.env})"
        else:
            source = "default"
        entries.append(
            Entry(
                variable,
                _shown(variable, getattr(current, name)),
                _shown(variable, field.default),
                source,
                field.description or "",
            )
        )
    return entries


def _shown(variable: str, value: Any) -> str:
    if variable in SECRETS:
        return "(none)" if value is None else "***"
    if value is None:
        # Unset: the IDE and introspection follow JIFEN_ENV; the others mean "not set".
        if variable in ("JIFEN_GRAPHIQL", "JIFEN_INTROSPECTION"):
            return "on (off in production)"
        return "(unset)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value) or "(none)"
    if variable == "DATABASE_URL":
        return mask(str(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mask(url: str) -> str:
    """A database URL with its password replaced by ***, fit for logs and screens."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
