"""Request ids in log lines, error extensions and response headers; JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from server.app import prepare_database
from server.core import clock as clocks
from server.core import members
from server.observe import logs
from server.store.db import database

BOOM = 'mutation Boom { memberUpsert(input: {externalId: "z"}) { created } }'


@pytest.fixture
def log_lines():
    """What jifen's logging writes, in the format asked for, while the test runs."""
    stream = io.StringIO()
    handlers = []

    def start(fmt: str) -> io.StringIO:
        handlers.append(logs.configure(fmt, "INFO", stream=stream))
        return stream

    root = logging.getLogger()
    level = root.level
    yield start
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def explode(*args, **kwargs):
    raise RuntimeError("boom")


def test_a_failed_request_logs_with_its_id_which_the_error_and_header_carry(
    api, client, monkeypatch, log_lines
):
    stream = log_lines("json")
    monkeypatch.setattr(members, "upsert", explode)
    response = client.post(
        "/graphql",
        json={"query": BOOM},
        headers={"authorization": f"Bearer {api.token}", "x-request-id": "req-42.a:b"},
    )
    assert response.headers["x-request-id"] == "req-42.a:b"  # a sane incoming id is kept
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-42.a:b"}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (logged,) = [line for line in lines if line["logger"] == "jifen.api"]
    assert logged["request_id"] == "req-42.a:b"
    assert logged["level"] == "ERROR" and "RuntimeError: boom" in logged["error"]
    assert set(logged) == {"time", "level", "logger", "message", "request_id", "error"}


@pytest.mark.parametrize("given", ["has spaces", "x" * 129, "ünïcode", ""])
def test_an_unfit_incoming_id_is_replaced(client, given):
    response = client.post(
        "/graphql",
        json={"query": "{ nope }"},
        headers={"x-request-id": given.encode("utf-8")},
    )
    made = response.headers["x-request-id"]
    assert made != given and re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", made)
    assert response.json()["errors"][0]["extensions"]["requestId"] == made


def test_every_answer_has_an_id_even_without_errors(client):
    first = client.get("/healthz").headers["x-request-id"]
    second = client.post("/graphql", json={"query": "{ __typename }"}).headers["x-request-id"]
    assert first != second


def test_text_lines_carry_the_request_id(api, client, monkeypatch, log_lines):
    stream = log_lines("text")
    monkeypatch.setattr(members, "upsert", explode)
    client.post(
        "/graphql",
        json={"query": BOOM},
        headers={"authorization": f"Bearer {api.token}", "x-request-id": "abc123"},
    )
    logging.getLogger("jifen").info("outside any request")
    text = stream.getvalue()
    assert re.search(r"ERROR jifen\.api \[abc123\]: unexpected error", text), text
    assert "INFO jifen [-]: outside any request" in text


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_first_admin_key_never_reaches_the_logs(
    empty_db_url, tmp_path, monkeypatch, log_lines, fmt
):
    stream = log_lines(fmt)
    key_file = tmp_path / "admin-key"
    monkeypatch.setenv("JIFEN_ADMIN_KEY_FILE", str(key_file))
    try:
        prepare_database(empty_db_url, None, clock=clocks.SystemClock())
    finally:
        database.obj.close_all()
    key = key_file.read_text().strip()
    assert key.startswith("jf_") and oct(key_file.stat().st_mode & 0o777) == "0o600"
    # Even a careless line with the key in it is blotted out before it is written.
    logging.getLogger("jifen").warning("oops: %s and Bearer %s", key, key)
    written = stream.getvalue()
    assert key not in written and key.split("_", 2)[2] not in written  # the secret part
    assert f"first start: an admin key was written to {key_file}" in written
    assert "oops: jf_*** and Bearer jf_***" in written
    if fmt == "json":
        assert all(json.loads(line) for line in written.splitlines())


def test_json_lines_parse_whatever_the_message(log_lines):
    stream = log_lines("json")
    log = logging.getLogger("jifen.test")
    log.info('quotes " and \\ backslashes\nand a newline, 中文')
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("with a traceback")
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["message"] == 'quotes " and \\ backslashes\nand a newline, 中文'
    assert first["request_id"] is None
    assert second["message"] == "with a traceback" and "ValueError: bad" in second["error"]
