"""Everything wrong with a set of rule files, errors and warnings, reported at once."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from dsl import ast, badges, levels, program

# The badge limits live with the badge checks; server/core/badges.py still reads them here.
from dsl.errors import ERROR, WARNING, Diagnostic
from dsl.hints import suggest

# Built-in events and the attributes they carry. Custom events (`event NAME`) carry any.
BUILT_IN_EVENTS: dict[str, frozenset[str]] = {
    "checkin": frozenset({"channel"}),
    "message": frozenset({"length", "channel"}),
    "referral": frozenset({"invitee", "inviteememberid"}),
    "join": frozenset({"invitedby", "rejoin"}),
    "leave": frozenset(),
    "order": frozenset({"amount", "currency", "channel"}),
    "task": frozenset({"task", "submission"}),
    "birthday": frozenset({"year"}),
}
# Events that have no "first" worth rewarding: joining is the start, the others are not
# something a member does.
NO_FIRST = frozenset({"join", "leave", "birthday"})
PERIODS = ("day", "week", "month")
MAX_AWARD = 1_000_000_000  # one award, as the ledger allows for one movement
MAX_TOTAL = 10**15  # budgets and caps
METRIC_ALIASES = {
    "messages": "message",
    "checkins": "checkin",
    "referrals": "referral",
    "orders": "order",
    "tasks": "task",
}


def check(
    files: list[ast.RuleFile], *, today: date, lines: dict[str, list[str]] | None = None
) -> list[Diagnostic]:
    """Every problem of these files taken together (one program), in file order."""
    return _Checker(files, today, lines or {}).run()


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Checker:
    def __init__(self, files, today, lines) -> None:
        self.files, self.today, self.lines = files, today, lines
        self.out: list[Diagnostic] = []
        self.declared = {e.name for f in files for e in f.events}
        self.events = set(BUILT_IN_EVENTS) | self.declared

    def say(self, severity: str, code: str, message: str, pos: ast.Pos) -> None:
        source = ""
        file_lines = self.lines.get(pos.file)
        if file_lines and 0 < pos.line <= len(file_lines):
            source = file_lines[pos.line - 1]
        self.out.append(Diagnostic(severity, code, message, pos.file, pos.line, pos.column, source))

    def run(self) -> list[Diagnostic]:
        for f in self.files:
            for decl in f.events:
                if decl.name in BUILT_IN_EVENTS:
                    self.say(
                        WARNING,
                        "REDUNDANT_EVENT",
                        f"`{decl.name}` is a built-in event; it needs no declaration",
                        decl.pos,
                    )
        program.check(self, self.files)
        self.badge_rules: dict[str, ast.Rule] = {}  # badge key -> the rule that gives it
        seen: dict[str, ast.Pos] = {}
        for f in self.files:
            for campaign in f.campaigns:
                if campaign.key in seen:
                    first = seen[campaign.key]
                    self.say(
                        ERROR,
                        "DUPLICATE_CAMPAIGN",
                        f"campaign `{campaign.key}` is "
                        f"already defined at {first.file}:{first.line}",
                        campaign.pos,
                    )
                    continue
                seen[campaign.key] = campaign.pos
                self._campaign(campaign)
        levels.check(self, self.files)
        badges.check_declarations(self, self.files)
        return sorted(self.out, key=lambda d: (d.file, d.line, d.column))

    # campaigns
    def _campaign(self, c: ast.Campaign) -> None:
        where = dict(c.settings_pos)
        if c.has_active:
            start, end = c.active_from, c.active_until
            if start and end and end < start:
                self.say(
                    ERROR,
                    "DEAD_RULE",
                    f"the active window ends ({end}) before it starts ({start})",
                    where["active"],
                )
            elif end and end < self.today:
                self.say(
                    WARNING,
                    "ENDED",
                    f"campaign `{c.key}` ended on {end}: its rules award nothing",
                    where["active"],
                )
        if c.budget is not None and c.budget <= 0:
            self.say(ERROR, "DEAD_RULE", "a budget of 0 points awards nothing", where["budget"])
        elif c.budget is not None and c.budget > MAX_TOTAL:
            self.say(
                ERROR,
                "INVALID_VALUE",
                f"a budget may be at most {MAX_TOTAL:,} points",
                where["budget"],
            )
        for cap in c.caps:
            self._cap(cap)
        for rule in c.rules:
            if isinstance(rule, ast.Every):
                self._every(rule)
            else:
                self._rule(rule)
        self._tiers(c)

    def _event(self, name: str, pos: ast.Pos) -> bool:
        if name in self.events:
            return True
        hint = suggest(name, sorted(self.events))
        self.say(
            ERROR,
            "UNKNOWN_EVENT",
            f"unknown event `{name}`{hint}; declare a custom event with `event {name}`",
            pos,
        )
        return False

    def _rule(self, r: ast.Rule) -> None:
        if not self._event(r.event, r.pos):
            return
        known = BUILT_IN_EVENTS.get(r.event)
        attributes = known if r.event not in self.declared else None
        for q in r.qualifiers:
            if isinstance(q, ast.Tier) and (q.low < 1 or (q.high is not None and q.high < q.low)):
                self.say(
                    ERROR,
                    "DEAD_RULE",
                    "this tier matches no event: tiers count from 1 "
                    "and a range goes from low to high",
                    r.pos,
                )
            elif isinstance(q, ast.Streak) and q.days <= 0:
                self.say(
                    ERROR, "DEAD_RULE", "`streak 0` never fires: a streak is at least 1 day", r.pos
                )
            elif isinstance(q, ast.Total) and q.count <= 0:
                self.say(ERROR, "DEAD_RULE", "`total 0` never fires: counts start at 1", r.pos)
            elif isinstance(q, ast.FirstWithin):
                if r.event in NO_FIRST:
                    self.say(
                        ERROR,
                        "DEAD_RULE",
                        f"`first within` on `{r.event}`: that event has no first worth rewarding",
                        r.pos,
                    )
                elif q.days <= 0:
                    self.say(ERROR, "DEAD_RULE", "`first within 0 days` never fires", r.pos)
        kinds = [type(q) for q in r.qualifiers]
        for kind in set(kinds):
            if kinds.count(kind) > 1:
                self.say(ERROR, "DUPLICATE_QUALIFIER", f"`{_word(kind)}` given twice", r.pos)
        if r.condition is not None:
            for compare in _comparisons(r.condition):
                self._attribute(r.event, compare.attribute, attributes, compare.pos)
                if compare.op == "in" and not isinstance(compare.value, tuple):
                    self.say(ERROR, "INVALID_VALUE", '`in` needs a list: ["a", "b"]', compare.pos)
        effect = r.effect
        if isinstance(effect, ast.Award):
            if effect.points <= 0:
                self.say(ERROR, "DEAD_RULE", "`award 0` awards nothing", r.pos)
            elif effect.points > MAX_AWARD:
                self.too_big("an award", r.pos)
            if effect.per is not None:
                if effect.per <= 0:
                    self.say(
                        ERROR, "INVALID_VALUE", "`per 0` divides by zero: use per 1 or more", r.pos
                    )
                self._attribute(r.event, effect.per_attribute, attributes, r.pos)
        elif isinstance(effect, ast.Multiply):
            if r.badge is not None:
                self.say(
                    ERROR,
                    "INVALID_MODIFIER",
                    "`multiply` scales other campaigns' awards; a badge goes on a rule that "
                    "awards, or on a rule of its own",
                    r.pos,
                )
            if effect.factor <= 1:
                self.say(ERROR, "DEAD_RULE", "`multiply` needs a factor above 1", r.pos)
            extras = [
                w
                for w, on in (
                    ("limit", r.limit),
                    ("max", r.cap),
                    ("until invitee leaves", r.until_invitee_leaves),
                    ("after review", r.after_review),
                    ("repeating", r.repeating),
                )
                if on
            ]
            if extras or r.qualifiers:
                self.say(
                    ERROR,
                    "INVALID_MODIFIER",
                    "`multiply` scales other campaigns' awards; it takes only an event and `where`",
                    r.pos,
                )
        if r.limit is not None:
            self.check_period(r.limit.period, r.limit.pos)
            if r.limit.times <= 0:
                self.say(ERROR, "DEAD_RULE", "`limit 0` never lets the rule award", r.limit.pos)
        if r.cap is not None:
            self._cap(r.cap)
        if r.until_invitee_leaves and r.event != "referral":
            self.say(
                ERROR,
                "INVALID_MODIFIER",
                "`until invitee leaves` only applies to `referral` rules",
                r.pos,
            )
        if r.repeating and r.qualifier(ast.Streak) is None:
            self.say(ERROR, "INVALID_MODIFIER", "`repeating` needs a `streak N` qualifier", r.pos)
        if r.event == "task" and r.task_key is None:
            pass  # a rule on every task
        if r.badge is not None:
            badges.check_rule(self, r)

    def too_big(self, what: str, pos: ast.Pos) -> None:
        self.say(ERROR, "INVALID_VALUE", f"{what} may be at most {MAX_AWARD:,} points", pos)

    def _attribute(self, event: str, name: str | None, known, pos: ast.Pos) -> None:
        if known is None or name is None or name in known:
            return
        hint = suggest(name, sorted(known))
        listed = ", ".join(sorted(known)) or "none"
        self.say(
            ERROR,
            "UNKNOWN_ATTRIBUTE",
            f"`{event}` events have no attribute `{name}`{hint} (they have: {listed})",
            pos,
        )

    def check_period(self, period: str, pos: ast.Pos) -> None:
        if period not in PERIODS:
            hint = suggest(period, list(PERIODS))
            self.say(
                ERROR,
                "UNKNOWN_PERIOD",
                f"unknown period `{period}`{hint}: use day, week or month",
                pos,
            )

    def _cap(self, cap: ast.Cap) -> None:
        self.check_period(cap.period, cap.pos)
        if cap.points <= 0:
            self.say(ERROR, "DEAD_RULE", "`max 0 points` lets nothing be awarded", cap.pos)
        elif cap.points > MAX_TOTAL:
            self.say(ERROR, "INVALID_VALUE", f"a cap may be at most {MAX_TOTAL:,} points", cap.pos)

    def _every(self, e: ast.Every) -> None:
        self.check_period(e.period, e.pos)
        metric = METRIC_ALIASES.get(e.metric, e.metric)
        if metric != "points" and metric not in self.events:
            options = sorted(set(METRIC_ALIASES) | self.events | {"points"})
            hint = suggest(e.metric, options)
            self.say(
                ERROR,
                "UNKNOWN_METRIC",
                f"unknown metric `{e.metric}`{hint}: use "
                "messages, checkins, referrals, points or an event name",
                e.pos,
            )
        if e.condition is not None:
            if metric == "points":
                self.say(
                    ERROR,
                    "INVALID_VALUE",
                    "a board by points counts awards, not events: `where` needs an event metric",
                    e.pos,
                )
            elif metric in self.events:
                known = BUILT_IN_EVENTS.get(metric)
                attributes = known if metric not in self.declared else None
                for compare in _comparisons(e.condition):
                    self._attribute(metric, compare.attribute, attributes, compare.pos)
        if e.top <= 0:
            self.say(ERROR, "DEAD_RULE", "`top 0` has no winners", e.pos)
        if len(e.awards) > 1 and len(e.awards) != e.top:
            self.say(
                ERROR,
                "INVALID_VALUE",
                f"top {e.top} needs one amount for all or "
                f"{e.top} amounts, one per rank; {len(e.awards)} given",
                e.pos,
            )
        if any(a <= 0 for a in e.awards):
            self.say(ERROR, "DEAD_RULE", "an award of 0 points awards nothing", e.pos)
        if any(a > MAX_AWARD for a in e.awards):
            self.too_big("an award", e.pos)

    def _tiers(self, c: ast.Campaign) -> None:
        by_event: dict[tuple[str, str | None], list[tuple[ast.Tier, ast.Rule]]] = defaultdict(list)
        for r in c.rules:
            if (
                isinstance(r, ast.Rule)
                and r.effect is not None  # a badge alone earns no points: no gap to fill
                and (tier := r.qualifier(ast.Tier)) is not None
            ):
                by_event[(r.event, r.task_key)].append((tier, r))
        for (event, _), tiers in by_event.items():
            tiers.sort(key=lambda t: (t[0].low, t[0].high or _NO_END))
            reach, reacher = 0, None  # highest count covered so far, and by which rule
            for tier, rule in tiers:
                if tier.low <= reach:
                    both = _span(tier.low, min(reach, tier.high or _NO_END))
                    self.say(
                        ERROR,
                        "TIER_OVERLAP",
                        f"tiers overlap: the {both} {event} is also covered by "
                        f"`{reacher.text}` (line {reacher.pos.line}) in campaign {c.key}",
                        rule.pos,
                    )
                elif tier.low > reach + 1:
                    gap = _span(reach + 1, tier.low - 1)
                    self.say(
                        WARNING,
                        "TIER_GAP",
                        f"the {gap} {event} earns nothing in campaign {c.key}",
                        rule.pos,
                    )
                if (tier.high or _NO_END) > reach:
                    reach, reacher = tier.high or _NO_END, rule


_NO_END = 10**12  # the top of a tier with no upper bound


def _span(low: int, high: int) -> str:
    if low == high:
        return ordinal(low)
    if high >= _NO_END:
        return f"{ordinal(low)} and every later"
    return f"{ordinal(low)} to {ordinal(high)}"


def _comparisons(condition):
    if isinstance(condition, ast.Compare):
        yield condition
    else:
        yield from _comparisons(condition.left)
        yield from _comparisons(condition.right)


def _word(kind: type) -> str:
    return {
        ast.Tier: "tier",
        ast.Streak: "streak",
        ast.Total: "total",
        ast.FirstWithin: "first within",
    }[kind]
