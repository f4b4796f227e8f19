"""A simulation's range and running time are bounded, and the API prices what the
command line prices: the draft's board closes included."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from server.core import simulate as simulation
from server.core.errors import DomainError
from server.core.simulate import simulate
from tests.e2e.test_simulation import ROOT, live_history

BOARD = 'campaign "talk" {\n  message award 1\n  every day top 3 by messages award 10, 5, 1\n}\n'
SIMULATE = """query($s: String!, $f: DateTime!, $t: DateTime!) { rulesSimulate(source: $s,
  from: $f, to: $t) { points closes { campaign period line points ended } } }"""


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("2026-01-01T00:00:00+00:00", "9998-12-01T00:00:00+00:00", "to"),
        ("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00+00:00", "from"),
        ("1990-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "from"),
        ("2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "to"),
    ],
)
def test_a_range_it_cannot_walk_is_refused_naming_the_field(db, clock, since, until, field):
    with pytest.raises(DomainError) as refused:
        simulate(
            [("d.rules", BOARD)],
            datetime.fromisoformat(since),
            datetime.fromisoformat(until),
            now=clock.now(),
        )
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", field)


@pytest.mark.parametrize(
    "args",
    [["--to", "9998-12-01"], ["--from", "0001-01-01T00:00:00+14:00"]],
)
def test_the_command_refuses_such_a_range_in_one_line(db, db_url, tmp_path, args):
    draft = tmp_path / "d.rules"
    draft.write_text(BOARD)
    base = {"--from": "2026-01-01", "--to": "2026-02-01"}
    base[args[0]] = args[1]
    db.close()
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "rules", "simulate", str(draft)]
        + [x for pair in base.items() for x in pair],
        cwd=ROOT,
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("jifen: `") and args[0][2:] in line


class _Jumps:
    """time.monotonic that moves an hour at every call."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 3600
        return self.now


def test_the_api_stops_a_simulation_that_runs_too_long(api, clock, monkeypatch):
    since, until = live_history(clock)
    monkeypatch.setattr(simulation, "time", _Jumps())
    body = api.raw(SIMULATE, {"s": BOARD, "f": since.isoformat(), "t": until.isoformat()})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SIMULATION_TOO_LONG"
    assert "shorter range" in error["message"]


def test_the_api_and_the_command_price_the_same_board_closes(api, clock, db_url, tmp_path):
    since, until = live_history(clock)
    until = until + timedelta(days=2)  # two closes still to come
    clock.set(until - timedelta(days=1))
    variables = {"s": BOARD, "f": since.isoformat(), "t": until.isoformat()}
    closes = api.call(SIMULATE, variables)["rulesSimulate"]["closes"]
    assert len(closes) >= 14 and {c["campaign"] for c in closes} == {"talk"}
    ended = [c for c in closes if c["ended"]]
    assert ended and all(c["points"] == 16 for c in ended)  # three places each day
    core = simulate([("draft", BOARD)], since, until, now=clock.now()).closes
    assert [(c.period, c.points, c.ended) for c in core] == [
        (c["period"], c["points"], c["ended"]) for c in closes
    ]
