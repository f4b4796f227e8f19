"""schemathesis fuzzes every query and mutation as admin and as a member: no 5xx, no
unexpected (masked) errors, and the ledger stays sound."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core import adjustments, auth, catalog, members
from server.core.program import ProgramSettings
from server.core.verify import verify
from server.store.db import write_transaction

# Our custom scalars, as hypothesis strategies of GraphQL literals: valid and invalid forms.
nodes = schemathesis.graphql.nodes
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False).map(
            lambda d: nodes.String(str(d))
        ),
        st.text(max_size=12).map(nodes.String),
    ),
)
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.integers().map(nodes.Int),
        st.text(max_size=20).map(nodes.String),
        st.just(nodes.Null),
    ),
)
schemathesis.graphql.scalar(
    "Date",
    st.one_of(
        st.dates().map(lambda d: nodes.String(d.isoformat())),
        st.text(max_size=12).map(nodes.String),
    ),
)
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
        st.text(max_size=25).map(nodes.String),
    ),
)

SCHEMA = schemathesis.graphql.from_path(Path(__file__).resolve().parents[2] / "schema.graphql")
OPERATIONS = [o.ok() for o in SCHEMA.get_all_operations()]
EXAMPLES = 8


@pytest.fixture
def seeded(api, clock):
    with write_transaction():
        for name in ("ada", "bob"):
            m = members.upsert(name, now=clock.now(), community="fans").member
            adjustments.adjust(
                m.id, 500, "seed", actor="t", now=clock.now(), settings=ProgramSettings()
            )
        catalog.create_item(
            catalog.ItemInput(title="Mug", points_price=10, stock=5), now=clock.now()
        )
    return api.as_(None).as_(auth.member_token(1, now=clock.now()))


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.label for o in OPERATIONS])
def test_fuzzed_operations_never_fail_unexpectedly(api, seeded, operation):
    member = seeded

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(operation.as_strategy())
    def check(case):
        for client in (api, member):
            response = client.client.post(
                "/graphql",
                json={"query": case.body},
                headers={"authorization": f"Bearer {client.token}"},
            )
            assert response.status_code < 500, response.text
            body = response.json()
            for error in body.get("errors") or ():
                code = (error.get("extensions") or {}).get("code")
                assert code != "INTERNAL", (case.body, error)
                assert "Traceback" not in error["message"]

    check()
    report = verify()
    assert report.ok, [str(p) for p in report.problems]
