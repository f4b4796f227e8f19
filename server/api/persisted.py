"""Automatic persisted queries, as Apollo's clients speak them: a client sends the SHA-256
of its query in `extensions.persistedQuery` instead of the text; the first time, the
server does not know it and answers PERSISTED_QUERY_NOT_FOUND, and the client sends the
text with its hash once, which the server checks and keeps.

What is kept is the text by its hash, and only that: the parsed, validated and priced
document is kept by its text in server/api/documents.py, so a query sent by hash costs
what the same text sent in full costs, minus the bytes.

The cache belongs to one server process, bounded by count and by size, least recently
used first out. Several workers each keep their own: a client whose hash one worker does
not know gets PERSISTED_QUERY_NOT_FOUND from it once and sends the text again, which is
the protocol's normal path. Sharing the cache (in the database) would cost a read per
request to save that one round trip per worker and query, so it is not shared.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from server.api.request import InputRefused, Params, RequestRefused
from server.core.errors import ErrorCode

KEPT = 1000  # queries kept per process
KEPT_CHARS = 4_000_000  # and their texts, in all
KEPT_LENGTH = 20_000  # a longer text is run, never kept (as server/api/documents.py does)
NOT_FOUND = "PersistedQueryNotFound"  # the message Apollo's clients look for


class PersistedQueries:
    """Query texts by their SHA-256 (lowercase hex), the most recently used kept."""

    def __init__(self, kept: int = KEPT, kept_chars: int = KEPT_CHARS) -> None:
        self.kept, self.kept_chars = kept, kept_chars
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def resolve(self, params: Params) -> str | None:
        """Fill in the query of a request sent by hash; check the hash of one sent with
        its text. The hash to keep the text under once it parses, or None."""
        digest = _digest(params)
        if digest is None:  # no persistedQuery: read_params refuses a missing query
            raise RequestRefused(400, 'no GraphQL query: send {"query": "..."}')
        if params.query is None:
            with self._lock:
                text = self._texts.get(digest)
                if text is not None:
                    self._texts.move_to_end(digest)
            if text is None:
                raise InputRefused(ErrorCode.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND)
            params.query = text
            return None
        if hashlib.sha256(params.query.encode()).hexdigest() != digest:
            raise RequestRefused(
                400, "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query"
            )
        return digest

    def keep(self, digest: str, text: str) -> None:
        """Keep a text under its (checked) hash, dropping the least recently used."""
        if len(text) > KEPT_LENGTH:
            return
        with self._lock:
            if digest in self._texts:
                self._texts.move_to_end(digest)
                return
            self._texts[digest] = text
            self._chars += len(text)
            while len(self._texts) > self.kept or self._chars > self.kept_chars:
                _, dropped = self._texts.popitem(last=False)
                self._chars -= len(dropped)


def _digest(params: Params) -> str | None:
    """The hash the request names, checked for form; None when it names none."""
    extension = (params.extensions or {}).get("persistedQuery")
    if extension is None:
        return None
    if not isinstance(extension, dict):
        raise RequestRefused(400, "extensions.persistedQuery must be an object")
    if extension.get("version") != 1:
        raise RequestRefused(
            400, "extensions.persistedQuery.version must be 1 (the only version there is)"
        )
    digest = extension.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise RequestRefused(400, "extensions.persistedQuery.sha256Hash must be 64 hex digits")
    digest = digest.lower()
    if not all(c in "0123456789abcdef" for c in digest):
        raise RequestRefused(400, "extensions.persistedQuery.sha256Hash must be 64 hex digits")
    return digest
