"""Events: what members did, stored once, in the order it happened (server/core/ingest.py
records them, one or a batch at a time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.core import ingest
from server.core.event_input import (  # noqa: F401 - the checks are part of this module's face
    BUILT_IN,
    CLOCK_SKEW,
    RESERVED,
    check_attributes,
    check_community,
    check_occurred_at,
    check_type,
)
from server.core.program import ProgramSettings
from server.store.models import Event


def record(
    member_id: int,
    event_type: str,
    *,
    now: datetime,
    settings: ProgramSettings,
    community: str | None = None,
    occurred_at: datetime | None = None,
    attributes: dict[str, Any] | None = None,
    by_program: bool = False,
    reviewed: bool = False,
) -> Event:
    """Store one event and run the rules on it (inside the caller's transaction); a
    refusal is raised as the DomainError it is.

    `occurred_at`: when the caller says it happened (see check_occurred_at); without it,
    the program's clock says, once the member's earlier events are all decided.
    `reviewed`: a person already approved it (a task submission), so awards `after
    review` are spendable at once.
    """
    (result,) = ingest.record(
        [
            ingest.Incoming(
                member_id,
                event_type,
                community=community,
                occurred_at=occurred_at,
                attributes=attributes,
                by_program=by_program,
                reviewed=reviewed,
            )
        ],
        now=now,
        settings=settings,
    )
    if result.error is not None:
        raise result.error
    return result.event
