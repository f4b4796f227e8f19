"""`jifen serve --workers N`: several server processes on PostgreSQL, refused on SQLite."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.e2e.servers import free_port, graphql

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "server.cli", "serve", "--rules", str(ROOT / "rules")]


def test_sqlite_refuses_several_workers_in_one_line(tmp_path):
    result = subprocess.run(
        [*SERVE, "--workers", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"},
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--workers" in line and "PostgreSQL" in line
    assert not (tmp_path / "j.db").exists()  # refused before anything was done


@pytest.mark.slow
@pytest.mark.parametrize("empty_db_url", ["postgres"], indirect=True)
def test_several_workers_share_one_postgresql_database(empty_db_url, tmp_path):
    port = free_port()
    key_file = tmp_path / "admin-key"
    proc = subprocess.Popen(
        [*SERVE, "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env={
            "DATABASE_URL": empty_db_url,
            "PATH": "/usr/bin",
            "JIFEN_TICK_SECONDS": "0",
            "JIFEN_ADMIN_KEY_FILE": str(key_file),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    first: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not key_file.exists():
            assert time.monotonic() < deadline, "no admin key written"
            time.sleep(0.1)
        key = key_file.read_text().strip()
        while True:
            assert time.monotonic() < deadline, "the workers did not start"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        upsert = "mutation($e: String!) { memberUpsert(input: {externalId: $e}) { created } }"
        for n in range(20):  # spread over both workers by the kernel
            body = graphql(url, key, upsert, {"e": f"m{n}"})
            assert body["data"] == {"memberUpsert": {"created": True}}, body
    finally:
        proc.terminate()
        output = "".join(first) + proc.communicate(timeout=20)[0]
    workers = set(re.findall(r"Started server process \[(\d+)\]", output))
    assert len(workers) == 2, output
    # The database was prepared once, before the workers: one admin key (written to its
    # file, never printed), rules published once.
    assert re.findall(r"jf_[0-9a-f]{12}_[\w-]+", output) == [], output
    assert output.count("an admin key was created") == 1, output
    assert output.count("rules from") == 1, output
    assert "Traceback" not in output, output
