"""A level's perk: `multiply K` on what campaigns award the member who holds it.

After limits, caps, campaign multipliers and budgets: each award (with the extra a
campaign multiplier put on it) times K, floored once; the bonus rides on the award itself
(one transaction, reviewed and clawed back with it), named in its `why`, and takes
nothing from any campaign's budget.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_FLOOR

from server.core.ledger import MAX_POINTS


def apply(member_id: int, grants: list, store) -> list:
    """`grants` with the level's bonus added to each base award (engine.Grant)."""
    if not grants:
        return grants
    lookup = getattr(store, "level_multiplier", None)
    step = lookup(member_id) if lookup is not None else None
    if step is None or step.multiply is None or step.multiply <= 1:
        return grants
    out, i = [], 0
    while i < len(grants):
        base, j = grants[i], i + 1
        while j < len(grants) and grants[j].boost and not base.boost:
            j += 1
        boosts = grants[i + 1 : j]
        total = base.points + sum(b.points for b in boosts)
        bonus = int((total * (step.multiply - 1)).to_integral_value(ROUND_FLOOR))
        bonus = min(bonus, MAX_POINTS - base.points)
        if bonus > 0:
            note = (
                f'level "{step.key}" multiplied {total} by {_factor(step.multiply)}: '
                f"+{bonus} on this award"
            )
            base = replace(base, points=base.points + bonus, level_note=note)
        out.append(base)
        out.extend(boosts)
        i = j
    return out


def _factor(k) -> str:
    return format(k.normalize(), "f")
