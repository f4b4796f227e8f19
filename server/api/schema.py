"""The one GraphQL schema: every area's Query and Mutation merged, with the limits in force."""

from __future__ import annotations

import os

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from server.api.audit import AuditQuery
from server.api.campaigns import CampaignMutation, CampaignQuery
from server.api.catalog import CatalogMutation, CatalogQuery
from server.api.checkout import CheckoutMutation, CheckoutQuery
from server.api.community import CommunityMutation, CommunityQuery
from server.api.drafts import DraftQuery
from server.api.errors import MaskUnexpected, PhaseCodes, log, should_mask
from server.api.events import EventMutation
from server.api.ledger import LedgerMutation, LedgerQuery
from server.api.lottery import LotteryMutation, LotteryQuery
from server.api.members import MemberMutation, MemberQuery
from server.api.operations import OperationsQuery
from server.api.ownership import enforce
from server.api.realtime import Subscription
from server.api.scalars import SCALAR_OVERRIDES
from server.api.summary import SummaryQuery

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000

Query = merge_types(
    "Query",
    (
        MemberQuery,
        LedgerQuery,
        CampaignQuery,
        CatalogQuery,
        CheckoutQuery,
        LotteryQuery,
        CommunityQuery,
        AuditQuery,
        SummaryQuery,
        DraftQuery,
        OperationsQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutation,
        EventMutation,
        LedgerMutation,
        CampaignMutation,
        CatalogMutation,
        CheckoutMutation,
        LotteryMutation,
        CommunityMutation,
    ),
)


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Expected errors (bad input, authentication) are the client's business; only
        # failures that get masked are bugs worth a stack trace in the server log.
        for error in errors:
            if should_mask(error):
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)


# The depth and alias limits as validation rules built once: the limiter extensions build
# new rule classes per instance, and new classes per request would make every request
# miss the validation cache (which keys on the rules).
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


def build_schema(introspection: bool = True) -> strawberry.Schema:
    """The schema; without introspection for deployments that turn it off."""
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides=SCALAR_OVERRIDES,
        # Factories: a fresh extension per request (the caches are shared module-wide).
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: AddValidationRules(LIMIT_RULES),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            PhaseCodes,
            MaskUnexpected,
            *([] if introspection else [DisableIntrospection]),
        ],
    )
    enforce(built._schema)
    return built


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, as committed in schema.graphql."""
    return schema.as_str() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(sdl(), end="")
    os._exit(0)
