"""The idempotency keys of a batch of events (server/core/ingest.py).

Every event that has a key claims it in one statement. An event whose key another
request holds replays what that request recorded (or is refused as a reuse of the key
for something else); a key used twice in the batch makes its second use a replay of its
first. Keys claimed for events the batch then refused are given back, so that a
corrected retry can use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.core.batch_sql import claim_keys, stored_keys
from server.core.errors import DomainError, ErrorCode
from server.core.idempotency import LEGACY
from server.store import bulk

if TYPE_CHECKING:
    from datetime import datetime

    from server.core.ingest import Incoming, Recorded


class KeyMoved(Exception):
    """A key was neither claimable nor stored: its holder rolled back meanwhile."""


class BatchKeys:
    """The keys of one batch's events, by their place in the batch."""

    def __init__(self, items: list[Incoming], results: list[Recorded], now: datetime) -> None:
        self.items = items
        self.results = results  # the batch's own: refusals and replays are written there
        self.now = now
        self.claimed: dict[tuple[str, str], int | None] = {}  # -> event id (PostgreSQL)
        self.duplicates: dict[int, int] = {}  # a key's later use in the batch -> its first

    def claim(self, live: list[int]) -> list[int]:
        """Claim the keys of the events that have one. An event whose key another request
        holds replays it (or is refused as a reuse); a key used twice in this batch makes
        its second use a replay of its first."""
        first: dict[tuple[str, str], int] = {}
        rows = []
        for i in live:
            claim = self.items[i].claim
            if claim is not None and (claim.scope, claim.key) not in first:
                first[(claim.scope, claim.key)] = i
                rows.append((claim.scope, claim.key, claim.operation, claim.digest))
        if rows:
            self.claimed = claim_keys(rows, self.now)
        out, taken = [], []
        for i in live:
            claim = self.items[i].claim
            if claim is None:
                out.append(i)
                continue
            earlier = first[(claim.scope, claim.key)]
            if earlier != i:
                if self.items[earlier].claim.digest != claim.digest or (
                    self.items[earlier].claim.operation != claim.operation
                ):
                    self.results[i].error = reused()
                else:
                    self.duplicates[i] = earlier
            elif (claim.scope, claim.key) in self.claimed:
                out.append(i)
            else:
                taken.append(i)
        if taken:
            self._replay(taken)
        return out

    def _replay(self, taken: list[int]) -> None:
        stored = stored_keys([self.items[i].claim for i in taken])
        for i in taken:
            claim = self.items[i].claim
            row = stored.get((claim.scope, claim.key)) or stored.get(
                (LEGACY, claim.key, claim.operation, claim.digest)
            )
            if row is None:  # claimed and given up by another request meanwhile: rare
                raise KeyMoved
            operation, digest, result_id = row
            if operation != claim.operation or digest != claim.digest:
                self.results[i].error = reused()
            else:
                self.results[i].replayed_id = result_id

    def event_id(self, i: int) -> int | None:
        """The id event `i` was claimed with (PostgreSQL hands it out with the key)."""
        claim = self.items[i].claim
        return self.claimed.get((claim.scope, claim.key)) if claim is not None else None

    def give_back(self) -> None:
        """Keys claimed for events that were then refused stay free for a corrected retry;
        later uses of a key first used in this batch replay what the first one became."""
        refused = sorted(
            {
                (item.claim.scope, item.claim.key)
                for item, result in zip(self.items, self.results, strict=True)
                if item.claim is not None
                and result.error is not None
                and (item.claim.scope, item.claim.key) in self.claimed
            }
        )
        for i, earlier in self.duplicates.items():
            first = self.results[earlier]
            if first.event_id is not None:  # recorded now, or itself a replay
                self.results[i].replayed_id = first.event_id
            else:
                self.results[i].error = first.error
        if refused:
            table, params = bulk.rows_of(("s", "k"), refused)
            bulk.run(
                "DELETE FROM idempotency_key WHERE (scope, key) IN "
                f"(SELECT s, k FROM {table} AS v)",
                params,
            )


def reused() -> DomainError:
    return DomainError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "this idempotencyKey was already used for a different request",
        "idempotencyKey",
    )
