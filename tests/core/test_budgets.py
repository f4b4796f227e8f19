"""Campaign budgets kept in shares: exact sums, whatever share a transaction draws."""

from __future__ import annotations

import pytest

from server.core import budgets
from server.store.db import transaction_memo, write_transaction
from server.store.models import CampaignBudgetShare


def publish(campaign: str, budget: int | None) -> None:
    with write_transaction():
        budgets.set_budget(campaign, budget)


def take(campaign: str, points: int, draw: int) -> int:
    with write_transaction():
        transaction_memo()["slot"] = draw
        return budgets.take(campaign, points)


def test_a_budget_is_spread_over_its_shares_and_adds_up(db, monkeypatch):
    monkeypatch.setattr(budgets, "SHARES", 16)
    publish("c", 1003)
    rows = list(CampaignBudgetShare.select().order_by(CampaignBudgetShare.share))
    # 1003 over 16 shares: 62 each, and the first 11 shares one more.
    assert [r.budget for r in rows] == [63] * 11 + [62] * 5
    assert budgets.left("c") == 1003 and budgets.spent("c") == 0


@pytest.mark.parametrize("draw", [0, 7, 15])
def test_an_award_larger_than_its_share_takes_the_rest_from_the_others(db, draw):
    publish("c", 160)  # 10 per share
    assert take("c", 25, draw) == 25
    assert budgets.left("c") == 135
    # The drawn share alone was short: the award took from the shares in their order.
    spent = {r.share: r.spent for r in CampaignBudgetShare.select() if r.spent}
    assert spent == {0: 10, 1: 10, 2: 5}


def test_an_award_its_share_can_pay_takes_only_from_that_share(db):
    publish("c", 160)
    assert take("c", 6, 9) == 6 and take("c", 4, 9) == 4 and take("c", 3, 4) == 3
    assert {r.share: r.spent for r in CampaignBudgetShare.select() if r.spent} == {9: 10, 4: 3}


def test_the_last_points_go_out_exactly_and_then_nothing(db):
    publish("c", 33)
    granted = [take("c", 4, draw) for draw in range(10)]
    assert granted == [4, 4, 4, 4, 4, 4, 4, 4, 1, 0]
    assert budgets.left("c") == 0 and budgets.spent("c") == 33


def test_a_campaign_without_a_budget_grants_everything(db):
    assert take("none", 500, 3) == 500
    publish("was", 10)
    publish("was", None)  # budget removed on a later publish
    assert take("was", 50, 3) == 50 and budgets.left("was") is None


def test_republishing_keeps_what_was_spent_and_shares_out_the_rest(db):
    publish("c", 100)
    assert take("c", 30, 5) == 30
    publish("c", 200)
    assert budgets.spent("c") == 30 and budgets.left("c") == 170
    publish("c", 20)  # below what is spent: nothing left, nothing taken back
    assert budgets.spent("c") == 30 and budgets.left("c") == 0
    assert take("c", 1, 2) == 0


def test_budget_given_back_can_be_awarded_again(db):
    publish("c", 10)
    assert take("c", 10, 1) == 10
    with write_transaction():
        transaction_memo()["slot"] = 9  # returned to another share than it came from
        budgets.give_back("c", 4)
    assert budgets.left("c") == 4
    assert take("c", 5, 3) == 4


def test_an_award_its_share_cannot_pay_goes_whole_to_the_first_share_that_can(db):
    publish("c", 160)
    assert take("c", 8, 5) == 8  # share 5 has 2 left
    assert take("c", 5, 5) == 5  # share 5 is short: share 0 pays it all
    assert {r.share: r.spent for r in CampaignBudgetShare.select() if r.spent} == {5: 8, 0: 5}
