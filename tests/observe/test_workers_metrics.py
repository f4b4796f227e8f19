"""`jifen serve --workers 2`: one scrape tells the whole server, whichever worker answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.servers import free_port, graphql

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "server.cli", "serve", "--rules", str(ROOT / "rules")]


def samples(text: str, name: str) -> list:
    return [
        s
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


@pytest.mark.slow
@pytest.mark.parametrize("empty_db_url", ["postgres"], indirect=True)
def test_metrics_add_up_over_workers_and_logs_are_json(empty_db_url, tmp_path):
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
            "JIFEN_LOG_FORMAT": "json",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the workers did not start"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        key = key_file.read_text().strip()
        for _ in range(20):  # spread over both workers by the kernel
            assert graphql(url, key, "query Ping { __typename }")["data"], "no answer"
        seen = set()
        for _ in range(8):
            # A fresh connection each time, so the scrapes too land on either worker.
            with httpx.Client() as scraper:
                text = scraper.get(f"{url}/metrics", timeout=5).text
            (ping,) = [
                s
                for s in samples(text, "jifen_graphql_requests_total")
                if s.labels == {"operation": "Ping", "type": "query", "outcome": "ok"}
            ]
            assert ping.value == 20  # every worker's count, whichever answered
            pools = samples(text, "jifen_db_pool_max_connections")
            seen |= {s.labels["pid"] for s in pools}
        assert len(seen) == 2, seen  # one pool gauge per live worker
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any("Started server process" in line["message"] for line in lines)
    assert any("an admin key was created" in line["message"] for line in lines)
    assert key not in output
