"""The draw follows the published odds: 100,000 seeded draws against a chi-square test."""

from __future__ import annotations

import math
import random

import pytest

from server.core.lottery import Chance, odds, pick
from server.store.models import LotteryPrize


def chi_square_p(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with df degrees of freedom (exact, integer df)."""
    if df % 2 == 0:
        return math.exp(-x / 2) * sum((x / 2) ** k / math.factorial(k) for k in range(df // 2))
    total, term = math.erfc(math.sqrt(x / 2)), math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    for k in range(1, (df + 1) // 2):
        total += term
        term *= x / (2 * k + 1)
    return total


def chi_square(counts, published, n):
    return sum((counts[k] - n * p) ** 2 / (n * p) for k, p in published.items())


def options(weights):
    out = [Chance(LotteryPrize(id=i + 1, weight=w), w) for i, w in enumerate(weights[:-1])]
    return out + [Chance(None, weights[-1])]


@pytest.mark.parametrize("weights", [[50, 30, 15, 4, 1], [1, 1, 1, 1], [90, 9, 1, 0]])
def test_frequencies_match_the_published_odds(weights):
    chances = [c for c in options(weights) if c.weight > 0]
    published = odds(chances)
    rng = random.Random(20261122)
    n = 100_000
    counts = {c.key: 0 for c in chances}
    for _ in range(n):
        counts[pick(chances, rng.random()).key] += 1
    p = chi_square_p(chi_square(counts, published, n), len(chances) - 1)
    assert p > 0.001, (p, counts, published)


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [
        (10.828, 1, 0.001),
        (3.841, 1, 0.05),
        (18.467, 4, 0.001),
        (9.488, 4, 0.05),
        (16.266, 3, 0.001),
    ],
)
def test_the_p_value_matches_the_tables(x, df, p):
    assert abs(chi_square_p(x, df) - p) < p * 0.01


def test_a_biased_draw_would_fail_the_test():
    chances = options([50, 50, 0])[:2]
    published = odds(chances)
    rng = random.Random(1)
    n = 100_000
    counts = {c.key: 0 for c in chances}
    for _ in range(n):
        counts[pick(chances, min(rng.random() * 1.02, 0.999999)).key] += 1  # skewed
    assert chi_square_p(chi_square(counts, published, n), 1) < 0.001


def test_pick_walks_the_cumulative_weights():
    chances = options([1, 3, 0])[:2]
    assert [pick(chances, r).key for r in (0.0, 0.2499, 0.25, 0.9999)] == ["1", "1", "2", "2"]
