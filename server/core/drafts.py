"""Rule text for an operator to edit: the rules in force as one program, and its canonical form."""

from __future__ import annotations

from dsl.ast import BadgeDecl, MakeUp, StreakFreeze
from dsl.checker import BUILT_IN_EVENTS, METRIC_ALIASES
from dsl.errors import Diagnostic, RulesError
from dsl.formatter import format_source, render_line, render_setting
from server.core import levels, rules
from server.core.program import ProgramSettings
from server.store.models import Badge, CampaignVersion


def in_force(settings: ProgramSettings, versions: list[CampaignVersion]) -> str:
    """The program block, the custom events the campaigns use, the levels block, and every
    live campaign, in publishing order: publishing this text again changes nothing.

    `versions` are the latest version of each campaign (retired ones are left out).
    """
    live = sorted((v for v in versions if not v.retired), key=lambda v: v.position)
    parts = [_program_block(settings)]
    ladder = levels.ladder()
    compiled = [rules.compile_version(v) for v in live]
    events = _custom_events(compiled)
    if ladder is not None and ladder.event is not None and ladder.event not in BUILT_IN_EVENTS:
        events.add(ladder.event)
    if events:
        parts.append("".join(f"event {name}\n" for name in sorted(events)))
    if ladder is not None:
        parts.append(ladder.source)
    given = {r.badge for c in compiled for r in c.rules if r.badge}
    described = [
        render_line("badge_decl", BadgeDecl(b.key, b.name, b.description, b.image_url))
        for b in Badge.select().where(Badge.key.in_(sorted(given))).order_by(Badge.key)
        if (b.name, b.description, b.image_url) != (None, None, None)
    ]
    if described:
        parts.append("".join(f"{line}\n" for line in described))
    parts.extend(v.source for v in live)
    return "\n".join(parts)


def canonical(text: str, filename: str) -> tuple[str | None, list[Diagnostic]]:
    """The canonical form of rule text (comments kept), or None and the syntax errors that
    stop it; the checker's findings are rulesValidate's business."""
    try:
        return format_source(text, filename), []
    except RulesError as exc:
        return None, exc.diagnostics


def _program_block(settings: ProgramSettings) -> str:
    lines = [render_line("program", settings.name)]
    lines.append(render_setting("timezone", settings.timezone))
    if settings.points_expire_days is None:
        lines.append(render_setting("expire_never", True))
    else:
        lines.append(render_setting("expire_days", settings.points_expire_days))
    if settings.redeem_points is not None:
        lines.append(
            f"redeem rate {settings.redeem_points} points = "
            f"{settings.redeem_amount} {settings.currency}"
        )
    if settings.deduct_percent is not None:
        lines.append(f"deduct at most {settings.deduct_percent}% of order")
    if settings.freeze_cost is not None:
        lines.append(
            render_setting(
                "streak_freeze",
                StreakFreeze(settings.freeze_cost, settings.freeze_limit, settings.freeze_period),
            )
        )
    if settings.make_up_cost is not None:
        lines.append(
            render_setting(
                "make_up",
                MakeUp(
                    settings.make_up_cost,
                    settings.make_up_days,
                    settings.make_up_limit,
                    settings.make_up_period,
                ),
            )
        )
    return lines[0] + "\n" + "".join(f"  {line}\n" for line in lines[1:]) + "}\n"


def _custom_events(campaigns) -> set[str]:
    """Event types the campaigns name that the language does not know by itself: their
    `event NAME` declarations are not part of any campaign's stored text."""
    named = set()
    for c in campaigns:
        named |= {r.event for r in c.rules} | {m.event for m in c.multipliers}
        named |= {METRIC_ALIASES.get(e.metric, e.metric) for e in c.every}
    return named - set(BUILT_IN_EVENTS) - {"points"}
