"""The one GraphQL schema: every area's Query and Mutation merged, with the limits in force."""

from __future__ import annotations

import os

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from server.api.adjustments import AdjustmentMutation
from server.api.audit import AuditQuery
from server.api.badges import BadgeMutation, BadgeQuery
from server.api.campaigns import CampaignMutation, CampaignQuery
from server.api.catalog import CatalogMutation, CatalogQuery
from server.api.checkout import CheckoutMutation, CheckoutQuery
from server.api.community import CommunityMutation, CommunityQuery
from server.api.documents import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, Documents
from server.api.drafts import DraftQuery
from server.api.errors import log, should_mask
from server.api.events import EventMutation
from server.api.imports import ImportMutation
from server.api.ledger import LedgerMutation, LedgerQuery
from server.api.levels import LevelMutation, LevelQuery
from server.api.lottery import LotteryMutation, LotteryQuery
from server.api.members import MemberMutation, MemberQuery
from server.api.node import NodeQuery, without_type_checks
from server.api.operations import OperationsQuery
from server.api.ownership import enforce
from server.api.pipeline import Pipeline
from server.api.plain import read_directly
from server.api.privacy import PrivacyMutation, PrivacyQuery
from server.api.realtime import Subscription
from server.api.reviews import ReviewMutation, ReviewQuery
from server.api.scalars import SCALAR_OVERRIDES
from server.api.simulation import SimulationQuery
from server.api.streaks import StreakMutation
from server.api.summary import SummaryQuery
from server.api.webhooks import WebhookMutation, WebhookQuery

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "Schema", "build_schema", "schema", "sdl"]

Query = merge_types(
    "Query",
    (
        MemberQuery,
        LedgerQuery,
        CampaignQuery,
        SimulationQuery,
        ReviewQuery,
        CatalogQuery,
        CheckoutQuery,
        LotteryQuery,
        CommunityQuery,
        AuditQuery,
        SummaryQuery,
        PrivacyQuery,
        DraftQuery,
        OperationsQuery,
        WebhookQuery,
        LevelQuery,
        BadgeQuery,
        NodeQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutation,
        EventMutation,
        AdjustmentMutation,
        LedgerMutation,
        CampaignMutation,
        ReviewMutation,
        CatalogMutation,
        CheckoutMutation,
        LotteryMutation,
        CommunityMutation,
        PrivacyMutation,
        ImportMutation,
        WebhookMutation,
        LevelMutation,
        BadgeMutation,
        StreakMutation,
    ),
)


class Schema(strawberry.Schema):
    """The schema, with the documents it has prepared (server/api/documents.py)."""

    documents: Documents

    def process_errors(self, errors, execution_context=None) -> None:
        # Expected errors (bad input, authentication) are the client's business; only
        # failures that get masked are bugs worth a stack trace in the server log.
        for error in errors:
            if should_mask(error):
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)


def build_schema(introspection: bool = True, tracing: bool = False) -> Schema:
    """The schema; without introspection for deployments that turn it off, with a span of
    each operation where tracing is on (server/observe/tracing.py)."""
    documents = Documents() if introspection else Documents.without_introspection()
    traced = []
    if tracing:
        from server.observe.tracing import graphql_extension

        traced.append(graphql_extension())
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides=SCALAR_OVERRIDES,
        # One extension, made fresh per request; what it keeps lives in `documents`.
        extensions=[lambda: Pipeline(documents), *traced],
    )
    documents.schema = built._schema
    built.documents = documents
    read_directly(built)  # before `enforce`, whose checks then wrap the direct reads
    enforce(built._schema)
    without_type_checks(built._schema)
    return built


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, as committed in schema.graphql."""
    return schema.as_str() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(sdl(), end="")
    os._exit(0)
