"""Types that refer to each other across areas, resolved lazily to avoid import cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

if TYPE_CHECKING:
    from server.api.badges import MemberBadge
    from server.api.catalog import CatalogItem
    from server.api.community import LeaderboardEntry
    from server.api.events import Event
    from server.api.ledger import LedgerEntry, Transaction
    from server.api.levels import LevelChange, LevelStanding
    from server.api.members import Member
    from server.api.streaks import MemberStreak

MemberRef = Annotated["Member", strawberry.lazy("server.api.members")]
EventRef = Annotated["Event", strawberry.lazy("server.api.events")]
TransactionRef = Annotated["Transaction", strawberry.lazy("server.api.ledger")]
LedgerEntryRef = Annotated["LedgerEntry", strawberry.lazy("server.api.ledger")]
CatalogItemRef = Annotated["CatalogItem", strawberry.lazy("server.api.catalog")]
LeaderboardEntryRef = Annotated["LeaderboardEntry", strawberry.lazy("server.api.community")]
LevelStandingRef = Annotated["LevelStanding", strawberry.lazy("server.api.levels")]
LevelChangeRef = Annotated["LevelChange", strawberry.lazy("server.api.levels")]
MemberBadgeRef = Annotated["MemberBadge", strawberry.lazy("server.api.badges")]
MemberStreakRef = Annotated["MemberStreak", strawberry.lazy("server.api.streaks")]
