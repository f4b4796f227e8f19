"""The periods a leaderboard score is kept for (day, week, month); the scores themselves are
written with the events that make them (server/core/ingest.py)."""

PERIODS = ("day", "week", "month")
