"""A deployment set up wrong: `jifen` says so in one line naming the setting and what to do,
exits 2 and prints no traceback. Each case runs the real command as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.servers import free_port
from tests.support import PostgresUnavailable, postgres_admin_url, temporary_postgres

ROOT = Path(__file__).resolve().parents[2]


def jifen(*args: str, env: dict[str, str], as_unprivileged: bool = False):
    command = [sys.executable, "-m", "server.cli", *args]
    if as_unprivileged and os.geteuid() == 0:
        # root ignores file modes; without these capabilities it obeys them like anyone.
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line(result, *words: str) -> str:
    """Exit 2, exactly one line on stderr containing every word, no traceback anywhere."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _pg_host() -> tuple[str, int]:
    parts = urlsplit(postgres_admin_url())
    return parts.hostname or "127.0.0.1", parts.port or 5432


@pytest.fixture
def postgres_up():
    """Skips (fails in CI) when no PostgreSQL server answers."""
    from tests.conftest import IN_CI

    try:
        with temporary_postgres(postgres_admin_url()):
            pass
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


def test_a_database_that_refuses_connections():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/jifen"
    line = assert_one_line(jifen("ledger", "verify", env={"DATABASE_URL": url}), "DATABASE_URL")
    assert "connection refused" in line and "start PostgreSQL" in line


def test_an_unknown_database_host():
    url = "postgresql://postgres@no-such-host.invalid:5432/jifen"
    line = assert_one_line(jifen("db", "upgrade", env={"DATABASE_URL": url}), "DATABASE_URL")
    assert "unknown host 'no-such-host.invalid'" in line


def test_an_unknown_role(postgres_up):
    host, port = _pg_host()
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{role}@{host}:{port}/postgres"
    line = assert_one_line(jifen("keys", "list", env={"DATABASE_URL": url}), "DATABASE_URL")
    assert f"no role '{role}'" in line and "createuser" in line


def test_an_unknown_database(postgres_up):
    host, port = _pg_host()
    name = f"missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@{host}:{port}/{name}"
    line = assert_one_line(jifen("tick", env={"DATABASE_URL": url}), "DATABASE_URL")
    assert f"no database '{name}'" in line and "createdb" in line


def test_a_sqlite_file_in_a_missing_folder(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'jifen.db'}"
    line = assert_one_line(jifen("ledger", "verify", env={"DATABASE_URL": url}), "DATABASE_URL")
    assert "does not exist" in line
    assert not (tmp_path / "missing").exists()


def test_a_sqlite_file_in_a_folder_it_cannot_write(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    url = f"sqlite:///{folder / 'jifen.db'}"
    result = jifen("ledger", "verify", env={"DATABASE_URL": url}, as_unprivileged=True)
    line = assert_one_line(result, "DATABASE_URL", str(folder))
    assert "cannot write" in line
    assert list(folder.iterdir()) == []


def test_a_database_url_of_another_kind():
    result = jifen("db", "status", env={"DATABASE_URL": "mysql://root@db/jifen"})
    assert_one_line(result, "DATABASE_URL", "expected sqlite:///FILE or postgresql://")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("JIFEN_COST_BUDGET", "lots", "a whole number of at least 1"),
        ("JIFEN_COST_BUDGET", "0", "a whole number of at least 1"),
        ("JIFEN_MESSAGE_RATE", "-1", "0 or more"),
        ("JIFEN_BUDGET_SHARES", "1000", "from 1 to 256"),
        ("JIFEN_GRAPHIQL", "maybe", "on or off"),
        ("JIFEN_ENV", "prod", "development, staging or production"),
        ("JIFEN_TICK_SECONDS", "soon", "a number of seconds"),
    ],
)
def test_a_malformed_setting_is_named_with_what_it_expects(tmp_path, variable, value, expected):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'jifen.db'}", variable: value}
    for command in (["serve", "--port", str(free_port())], ["ledger", "verify"], ["config"]):
        line = assert_one_line(jifen(*command, env=env), f"{variable}={value!r}", expected)
        assert line.startswith("jifen: ")
    assert not (tmp_path / "jifen.db").exists()


def test_a_port_that_is_no_port(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'jifen.db'}"}
    line = assert_one_line(jifen("serve", "--port", "99999", env=env), "--port", "99999")
    assert "1 to 65535" in line
    assert not (tmp_path / "jifen.db").exists()


def test_a_port_in_use_is_refused_before_anything_is_migrated(tmp_path):
    database = tmp_path / "jifen.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = jifen("serve", "--port", str(port), env={"DATABASE_URL": f"sqlite:///{database}"})
    line = assert_one_line(result, "--port", f"127.0.0.1:{port} is already in use")
    assert "another --port" in line
    assert not database.exists()  # nothing was created, migrated or published


def test_serve_with_the_database_down_says_so_in_one_line():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/jifen"
    result = jifen("serve", "--port", str(free_port()), env={"DATABASE_URL": url})
    assert_one_line(result, "DATABASE_URL", "connection refused")


@pytest.mark.parametrize(
    "command",
    [
        ["ledger", "verify"],
        ["db", "upgrade"],
        ["db", "status"],
        ["keys", "list"],
        ["keys", "create", "--role", "admin", "--name", "x"],
        ["keys", "revoke", "abc"],
        ["keys", "member-token", "ada"],
        ["export", "ledger", "--from", "2026-01-01", "--to", "2026-02-01"],
        ["tick"],
        ["backup", "/tmp/never-written.dump"],
    ],
    ids=" ".join,
)
def test_every_command_with_the_database_down(command):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/jifen"
    assert_one_line(jifen(*command, env={"DATABASE_URL": url}), "DATABASE_URL", "refused")


def test_the_first_admin_key_file_cannot_be_written(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'jifen.db'}",
        "JIFEN_ADMIN_KEY_FILE": str(tmp_path / "missing" / "admin-key"),
    }
    result = jifen("serve", "--port", str(free_port()), env=env)
    line = assert_one_line(result, "JIFEN_ADMIN_KEY_FILE", "writable folder")
    assert "cannot write" in line
    # No key was made that nobody could read: the next start can still hand one out.
    listed = jifen("keys", "list", env=env)
    assert listed.returncode == 0 and listed.stdout == ""


def test_jifen_version():
    from importlib.metadata import version

    result = jifen("--version", env={})
    assert result.returncode == 0
    assert result.stdout.strip() == f"jifen {version('jifen')}"
