"""Log lines: plain text for a terminal, or one JSON object a line for a log store
(JIFEN_LOG_FORMAT=json). Either way every line carries the request id of the request it
was written for (`-` outside one), and anything shaped like an API key or a member token
is blotted out before it is written: secrets stay out of log stores even by mistake.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

from server.observe.requests import current

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# API keys (jf_<prefix>_<secret>) and member tokens (jfm_...): the secret part never shows.
_SECRET = re.compile(r"\b(jfm?_)[A-Za-z0-9_\-.]{8,}")


def redact(text: str) -> str:
    """`text` with every API key or member token in it replaced by its prefix and ***."""
    if "jf" not in text:
        return text
    return _SECRET.sub(r"\1***", text)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current.get() or "-"
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id (and error)."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)  # null outside a request
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": current.get() if rid is None or rid == "-" else rid,
        }
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["error"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(line, default=str).decode()


def configure(
    log_format: str | None = None, level: str | None = None, stream=None
) -> logging.Handler:
    """Send every logger's lines (uvicorn's too) to stderr in the format asked for
    (default: the JIFEN_LOG_FORMAT and JIFEN_LOG_LEVEL settings). Idempotent."""
    if log_format is None or level is None:
        from server.config import SettingsError, settings

        try:
            current_settings = settings()
            log_format = log_format or current_settings.log_format
            level = level or current_settings.log_level
        except SettingsError:  # reported by the command itself, in one line
            log_format, level = log_format or "text", level or "INFO"
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "jifen", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.jifen = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would write a second, unformatted copy.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
