"""The audit log: every operator action, with who, when and what, in its own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.store.models import AuditEntry


def record(
    actor: str, action: str, target: str | None, details: dict[str, Any] | None, *, now: datetime
) -> AuditEntry:
    """Log an action (inside the transaction that makes it, so both or neither remain)."""
    return AuditEntry.create(
        at=now, actor=actor, action=action, target=target, details=details or {}
    )
