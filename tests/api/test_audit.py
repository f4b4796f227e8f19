"""Every operator action lands in the audit log, with who, when and what."""

from __future__ import annotations

LOG = """query($a: String) { auditLog(action: $a) { edges { node { actor action target
  details } } } }"""


def test_operator_actions_are_logged(api, keys):
    operator = api.as_("operator")
    operator.mutate(
        'mutation { rulesPublish(input: {source: "campaign \\"c\\" {\\n'
        'checkin award 1\\n}"}) { userErrors { code } } }'
    )
    member = api.mutate(
        'mutation { memberUpsert(input: {externalId: "ada"}) '
        "{ member { id } userErrors { code } } }"
    )["member"]["id"]
    operator.mutate(
        """mutation($m: ID!) { pointsAdjust(input: {memberId: $m, points: 5,
        reason: "goodwill", idempotencyKey: "k"}) { userErrors { code } } }""",
        {"m": member},
    )
    operator.mutate(
        'mutation { catalogItemCreate(input: {title: "Mug", pointsPrice: 10}) '
        "{ userErrors { code } } }"
    )
    entries = [e["node"] for e in api.call(LOG)["auditLog"]["edges"]]
    actions = [(e["actor"], e["action"]) for e in entries]
    assert ("operator:test operator", "rules.publish") in actions
    assert ("operator:test operator", "points.adjust") in actions
    assert ("operator:test operator", "catalogItem.create") in actions
    assert ("cli", "key.create") in actions  # the test keys
    adjust = next(e for e in entries if e["action"] == "points.adjust")
    assert adjust["target"] == "ada" and adjust["details"]["reason"] == "goodwill"
    only = api.call(LOG, {"a": "points."})["auditLog"]["edges"]
    assert {e["node"]["action"] for e in only} == {"points.adjust"}
    assert api.as_("analyst").raw(LOG)["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_refused_action_leaves_no_audit_entry(api):
    before = len(api.call(LOG)["auditLog"]["edges"])
    bad = api.call(
        'mutation { catalogItemCreate(input: {title: "", pointsPrice: 10}) '
        "{ userErrors { code } } }"
    )
    assert [e["code"] for e in bad["catalogItemCreate"]["userErrors"]] == ["INVALID_INPUT"]
    assert len(api.call(LOG)["auditLog"]["edges"]) == before
