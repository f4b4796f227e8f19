"""Did-you-mean hints for a misspelt name."""

from __future__ import annotations

import difflib
import os


def suggest(word: str, options: list[str], common: tuple[str, ...] = ()) -> str:
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
