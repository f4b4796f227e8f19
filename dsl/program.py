"""The checker's findings about the `program` block: one block, with settings that can work.

A time zone and a currency that exist, prices and windows in range; the rest of the
checker is dsl/checker.py.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dsl import ast
from dsl.errors import ERROR
from dsl.hints import suggest

MAX_MAKE_UP_DAYS = 31  # a make-up reaches back at most a month: runs are joined in memory

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


def check(checker, files: list[ast.RuleFile]) -> None:
    """The checker's findings about `program` blocks (`checker` is dsl.checker._Checker)."""
    programs = [f.program for f in files if f.program is not None]
    for extra in programs[1:]:
        first = programs[0].pos
        checker.say(
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
                hint = suggest(program.timezone, sorted(available_timezones()))
                checker.say(
                    ERROR,
                    "UNKNOWN_TIMEZONE",
                    f"unknown time zone `{program.timezone}`{hint}",
                    where["timezone"],
                )
        if program.expire_days is not None and program.expire_days <= 0:
            checker.say(
                ERROR,
                "DEAD_RULE",
                "points that expire after 0 days are never "
                "spendable: use a positive number of days, or `never`",
                where["expire_days"],
            )
        rate = program.redeem_rate
        if rate is not None:
            if rate.currency not in CURRENCIES:
                hint = suggest(rate.currency, sorted(CURRENCIES), COMMON_CURRENCIES)
                checker.say(
                    ERROR,
                    "UNKNOWN_CURRENCY",
                    f"unknown currency `{rate.currency}`{hint}: use an ISO 4217 code such as CNY",
                    where["redeem_rate"],
                )
            if rate.points <= 0 or rate.amount <= 0:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    "a redeem rate needs more than 0 points and an amount above 0",
                    where["redeem_rate"],
                )
        pct = program.deduct_at_most_percent
        if pct is not None and not 0 < pct <= 100:
            checker.say(
                ERROR,
                "INVALID_VALUE",
                "`deduct at most` takes a percentage above 0 and at most 100",
                where["deduct_at_most_percent"],
            )
        if program.streak_freeze is not None:
            _price(checker, "a streak freeze", program.streak_freeze, where["streak_freeze"])
        if program.make_up is not None:
            _price(checker, "a make-up check-in", program.make_up, where["make_up"])
            days = program.make_up.days
            if days <= 0:
                checker.say(
                    ERROR,
                    "DEAD_RULE",
                    "a make-up window of 0 days lets no missed day be made up: "
                    "use `within 1 days` or more",
                    where["make_up"],
                )
            elif days > MAX_MAKE_UP_DAYS:
                checker.say(
                    ERROR,
                    "INVALID_VALUE",
                    f"a make-up window may be at most {MAX_MAKE_UP_DAYS} days",
                    where["make_up"],
                )


def _price(checker, what: str, offer, pos: ast.Pos) -> None:
    """A `streak freeze` or `make-up checkin` line: its cost and its `at most`."""
    from dsl.checker import MAX_AWARD

    if offer.cost <= 0:
        checker.say(
            ERROR, "INVALID_VALUE", f"{what} must cost at least 1 point, not {offer.cost}", pos
        )
    elif offer.cost > MAX_AWARD:
        checker.too_big(what, pos)
    if offer.period is not None:
        checker.check_period(offer.period, pos)
    if offer.limit is not None and offer.limit <= 0:
        checker.say(ERROR, "DEAD_RULE", f"`at most 0` never lets {what} be bought", pos)
