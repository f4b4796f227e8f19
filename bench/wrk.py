"""HTTP load from wrk (the Debian package `wrk`), where it is installed.

wrk sends from C at a rate no Python client reaches on two cores, so the servers, not the
load generator, are what is measured. Each run gets a Lua script: POST bodies from a
template with a per-request number (a distinct member and idempotency key per check-in),
a check of each response, and one machine-readable line at the end with the count,
duration, failures and latency percentiles. Benchmarks fall back to bench/load.py where
wrk is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

WRK = shutil.which("wrk")
NUMBER = "@N@"  # in a body template: the request's number
_RESULT = re.compile(r"^WRK (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)$", re.M)

_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{authorization}
local template = [==[{template}]==]
local expect = [==[{expect}]==]
counter = {first}
after = "null"
failed = 0
first_failure = ""
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.gsub(template, "@N@", tostring({number}))
  body = string.gsub(body, '"@AFTER@"', after)
  return wrk.format(nil, "{path}", nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    failed = failed + 1
    if first_failure == "" then first_failure = status .. " " .. string.sub(body, 1, 300) end
  end
  if {follow} then
    -- The next request asks for the page after this one, then a first page again.
    local cursor = string.match(body, '"endCursor":"([^"]*)"')
    if after == "null" and cursor then after = '"' .. cursor .. '"' else after = "null" end
  end
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failed")
    if first == "" then first = thread:get("first_failure") end
  end
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %.3f %.3f\\n", summary.requests, summary.duration,
    bad, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write("FIRST " .. first .. "\\n")
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    failed: int  # answered, but not as expected
    errors: int  # connection, read, write, status and timeout errors
    p50_ms: float
    p99_ms: float
    first_failure: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def available() -> bool:
    return WRK is not None


def body(query: str, variables: dict | None = None) -> str:
    """A JSON request body for `run`: NUMBER inside a string becomes the request's number,
    and the value `"@N@#"` becomes that number itself (a JSON number)."""
    text = json.dumps({"query": query, "variables": variables or {}})
    return text.replace(f'"{NUMBER}#"', NUMBER)


def run(
    url: str,
    template: str,
    expect: str,
    *,
    seconds: float,
    connections: int = 8,
    threads: int = 1,
    first: int = 0,
    token: str | None = None,
    number: str = "counter",
    follow: bool = False,
) -> Result:
    """`wrk -t{threads} -c{connections} -d{seconds}s` against `url` (a /graphql URL),
    numbering requests from `first + 1`; a response counts as failed unless it has
    status 200 and contains `expect`. With one thread, numbers never repeat.

    `number`: a Lua expression of `counter` for what NUMBER becomes (default the count
    itself). `follow` (one connection): the value `"@AFTER@"` in the template becomes the
    previous response's `endCursor` every other request (null in between), so a first
    page is followed by its next page."""
    host, _, path = url.partition("//")[2].partition("/")
    script = _SCRIPT.format(
        authorization=f'wrk.headers["Authorization"] = "Bearer {token}"' if token else "",
        template=template,
        expect=expect,
        first=first,
        path="/" + path,
        number=number,
        follow="true" if follow else "false",
    )
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "load.lua"
        lua.write_text(script)
        done = subprocess.run(
            [
                WRK or "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(seconds, 1):.0f}s",
                "--timeout",
                "30s",
                "-s",
                str(lua),
                f"http://{host}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=True,
        )
    found = _RESULT.search(done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    requests, micros, failed, errors = (int(g) for g in found.groups()[:4])
    first_failure = done.stdout.partition("FIRST ")[2].strip()
    return Result(
        requests,
        micros / 1e6,
        failed,
        errors,
        float(found.group(5)),
        float(found.group(6)),
        first_failure,
    )
