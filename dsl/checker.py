"""Everything wrong with a set of rule files, errors and warnings, reported at once."""

from __future__ import annotations

import difflib
import os
import re
from collections import defaultdict
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dsl import ast, levels
from dsl.errors import ERROR, WARNING, Diagnostic

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
MAX_MAKE_UP_DAYS = 31  # a make-up reaches back at most a month: runs are joined in memory
BADGE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_BADGE_KEY_RULE = (
    "badge key `{key}`: 1 to 64 letters, digits, `-`, `_`, `.` or `:`, starting with a "
    "letter or digit"
)
MAX_BADGE_NAME = 100
MAX_BADGE_DESCRIPTION = 500
MAX_IMAGE_URL = 500
IMAGE_URL = re.compile(r"https?://[^\s\"]{1,492}")
METRIC_ALIASES = {
    "messages": "message",
    "checkins": "checkin",
    "referrals": "referral",
    "orders": "order",
    "tasks": "task",
}
# The currencies most traded (BIS triennial survey, 2022), most first: the likelier
# meaning of a misspelt code.
COMMON_CURRENCIES = (
    "USD EUR JPY GBP CNY AUD CAD CHF HKD SGD SEK KRW NOK NZD INR MXN TWD ZAR BRL DKK PLN "
    "THB ILS IDR CZK AED TRY HUF CLP SAR PHP MYR COP RUB RON PEN".split()
)
CURRENCIES = frozenset(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD "
    "BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB "
    "EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK "
    "JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA "
    "MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK "
    "PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST "
    "XAF XCD XOF XPF YER ZAR ZMW ZWL".split()
)


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
        self._programs()
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
        self._badge_decls()
        return sorted(self.out, key=lambda d: (d.file, d.line, d.column))

    # program settings
    def _programs(self) -> None:
        programs = [f.program for f in self.files if f.program is not None]
        for extra in programs[1:]:
            first = programs[0].pos
            self.say(
                ERROR,
                "DUPLICATE_PROGRAM",
                f"a second `program` block: the first is at {first.file}:{first.line}",
                extra.pos,
            )
        for program in programs[:1]:
            where = dict(program.settings_pos)
            if program.timezone is not None:
                try:
                    ZoneInfo(program.timezone)
                except (ZoneInfoNotFoundError, ValueError):
                    hint = _suggest(program.timezone, sorted(available_timezones()))
                    self.say(
                        ERROR,
                        "UNKNOWN_TIMEZONE",
                        f"unknown time zone `{program.timezone}`{hint}",
                        where["timezone"],
                    )
            if program.expire_days is not None and program.expire_days <= 0:
                self.say(
                    ERROR,
                    "DEAD_RULE",
                    "points that expire after 0 days are never "
                    "spendable: use a positive number of days, or `never`",
                    where["expire_days"],
                )
            rate = program.redeem_rate
            if rate is not None:
                if rate.currency not in CURRENCIES:
                    hint = _suggest(rate.currency, sorted(CURRENCIES), COMMON_CURRENCIES)
                    self.say(
                        ERROR,
                        "UNKNOWN_CURRENCY",
                        f"unknown currency `{rate.currency}`"
                        f"{hint}: use an ISO 4217 code such as CNY",
                        where["redeem_rate"],
                    )
                if rate.points <= 0 or rate.amount <= 0:
                    self.say(
                        ERROR,
                        "INVALID_VALUE",
                        "a redeem rate needs more than 0 points and an amount above 0",
                        where["redeem_rate"],
                    )
            pct = program.deduct_at_most_percent
            if pct is not None and not 0 < pct <= 100:
                self.say(
                    ERROR,
                    "INVALID_VALUE",
                    "`deduct at most` takes a percentage above 0 and at most 100",
                    where["deduct_at_most_percent"],
                )
            if program.streak_freeze is not None:
                self._price("a streak freeze", program.streak_freeze, where["streak_freeze"])
            if program.make_up is not None:
                self._price("a make-up check-in", program.make_up, where["make_up"])
                days = program.make_up.days
                if days <= 0:
                    self.say(
                        ERROR,
                        "DEAD_RULE",
                        "a make-up window of 0 days lets no missed day be made up: "
                        "use `within 1 days` or more",
                        where["make_up"],
                    )
                elif days > MAX_MAKE_UP_DAYS:
                    self.say(
                        ERROR,
                        "INVALID_VALUE",
                        f"a make-up window may be at most {MAX_MAKE_UP_DAYS} days",
                        where["make_up"],
                    )

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
        hint = _suggest(name, sorted(self.events))
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
                self._too_big("an award", r.pos)
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
            self._period(r.limit.period, r.limit.pos)
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
            self._badge_rule(r)

    def _price(self, what: str, offer, pos: ast.Pos) -> None:
        """A `streak freeze` or `make-up checkin` line: its cost and its `at most`."""
        if offer.cost <= 0:
            self.say(
                ERROR, "INVALID_VALUE", f"{what} must cost at least 1 point, not {offer.cost}", pos
            )
        elif offer.cost > MAX_AWARD:
            self._too_big(what, pos)
        if offer.period is not None:
            self._period(offer.period, pos)
        if offer.limit is not None and offer.limit <= 0:
            self.say(ERROR, "DEAD_RULE", f"`at most 0` never lets {what} be bought", pos)

    def _badge_rule(self, r: ast.Rule) -> None:
        """A badge key names one achievement: the rule that gives it, and no other."""
        if not BADGE_KEY.fullmatch(r.badge):
            self.say(ERROR, "INVALID_VALUE", _BADGE_KEY_RULE.format(key=r.badge), r.pos)
            return
        first = self.badge_rules.get(r.badge)
        if first is None:
            self.badge_rules[r.badge] = r
            return
        self.say(
            ERROR,
            "BADGE_REUSED",
            f"badge `{r.badge}` is already given by `{first.text}` "
            f"({first.pos.file}:{first.pos.line}): a badge key means one achievement; "
            "give this rule a badge of its own",
            r.pos,
        )

    def _badge_decls(self) -> None:
        described: dict[str, ast.BadgeDecl] = {}
        for f in self.files:
            for b in f.badges:
                if not BADGE_KEY.fullmatch(b.key):
                    self.say(ERROR, "INVALID_VALUE", _BADGE_KEY_RULE.format(key=b.key), b.pos)
                    continue
                if b.key in described:
                    first = described[b.key].pos
                    self.say(
                        ERROR,
                        "DUPLICATE_BADGE",
                        f"badge `{b.key}` is already described at {first.file}:{first.line}",
                        b.pos,
                    )
                    continue
                described[b.key] = b
                for detail in b.given_twice:
                    self.say(ERROR, "INVALID_VALUE", f"`{detail}` given twice", b.pos)
                if b.name is not None and not 0 < len(b.name) <= MAX_BADGE_NAME:
                    self.say(
                        ERROR,
                        "INVALID_VALUE",
                        f"a badge's name is 1 to {MAX_BADGE_NAME} characters",
                        b.pos,
                    )
                if b.description is not None and len(b.description) > MAX_BADGE_DESCRIPTION:
                    self.say(
                        ERROR,
                        "INVALID_VALUE",
                        f"a badge's description is at most {MAX_BADGE_DESCRIPTION} characters",
                        b.pos,
                    )
                if b.image is not None and not IMAGE_URL.fullmatch(b.image):
                    self.say(
                        ERROR,
                        "INVALID_VALUE",
                        f"`image` takes an http(s) address of at most {MAX_IMAGE_URL} "
                        f'characters, like "https://example.com/badge.png"',
                        b.pos,
                    )
                if b.key not in self.badge_rules:
                    self.say(
                        WARNING,
                        "BADGE_UNUSED",
                        f'no rule gives badge `{b.key}`: add `badge "{b.key}"` to a rule',
                        b.pos,
                    )

    def _too_big(self, what: str, pos: ast.Pos) -> None:
        self.say(ERROR, "INVALID_VALUE", f"{what} may be at most {MAX_AWARD:,} points", pos)

    def _attribute(self, event: str, name: str | None, known, pos: ast.Pos) -> None:
        if known is None or name is None or name in known:
            return
        hint = _suggest(name, sorted(known))
        listed = ", ".join(sorted(known)) or "none"
        self.say(
            ERROR,
            "UNKNOWN_ATTRIBUTE",
            f"`{event}` events have no attribute `{name}`{hint} (they have: {listed})",
            pos,
        )

    def _period(self, period: str, pos: ast.Pos) -> None:
        if period not in PERIODS:
            hint = _suggest(period, list(PERIODS))
            self.say(
                ERROR,
                "UNKNOWN_PERIOD",
                f"unknown period `{period}`{hint}: use day, week or month",
                pos,
            )

    def _cap(self, cap: ast.Cap) -> None:
        self._period(cap.period, cap.pos)
        if cap.points <= 0:
            self.say(ERROR, "DEAD_RULE", "`max 0 points` lets nothing be awarded", cap.pos)
        elif cap.points > MAX_TOTAL:
            self.say(ERROR, "INVALID_VALUE", f"a cap may be at most {MAX_TOTAL:,} points", cap.pos)

    def _every(self, e: ast.Every) -> None:
        self._period(e.period, e.pos)
        metric = METRIC_ALIASES.get(e.metric, e.metric)
        if metric != "points" and metric not in self.events:
            options = sorted(set(METRIC_ALIASES) | self.events | {"points"})
            hint = _suggest(e.metric, options)
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
            self._too_big("an award", e.pos)

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


def _suggest(word: str, options: list[str], common: tuple[str, ...] = ()) -> str:
    """` (did you mean `X`?)` for the option most like `word`, or "".

    Most alike by difflib's ratio, letter case aside; among equally alike options, the
    more commonly used (`common`, most used first), then the one sharing the longer
    beginning with `word`: `EUX` suggests `EUR` rather than `UGX`.
    """
    wanted = word.lower()
    rank = {option: i for i, option in enumerate(common)}
    best = None
    for option in options:
        matcher = difflib.SequenceMatcher(None, wanted, option.lower())
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue  # cheap upper bounds first, as get_close_matches does
        ratio = matcher.ratio()
        if ratio < 0.6:
            continue
        prefix = len(os.path.commonprefix([wanted, option.lower()]))
        key = (-ratio, rank.get(option, len(rank)), -prefix, option)
        best = key if best is None or key < best else best
    return f" (did you mean `{best[3]}`?)" if best else ""
