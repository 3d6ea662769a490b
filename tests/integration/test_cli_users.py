"""``newsline users add | list | set-role | ban | unban`` on a real database, through the CLI:
accounts made there sign in on the site, and every change is in the audit log. One test
runs the installed ``newsline`` command in a subprocess, configured by ``NEWSLINE_CONFIG``
as with a running ``newsline demo --data-dir DIR``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsline import urls
from newsline.cli import app
from newsline.community import accounts
from newsline.community.audit import entries
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.web.app import create_app

pytestmark = pytest.mark.postgres

PASSWORD = "a long enough secret"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings()
    return made


@pytest.fixture
def config(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_add_makes_a_verified_account_that_signs_in(settings: Settings, config: Path) -> None:
    code, _, err = run(
        config,
        "users",
        "add",
        "Boss@Example.org",
        "--role",
        "editor",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert "role editor, verified" in err
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "boss@example.org")
        assert user is not None and user.role == "editor" and user.verified_at is not None
        assert user.password_hash and user.password_hash.startswith("$argon2id$")
        (entry,) = entries(session, action="user.add")
        assert entry.actor.startswith("cli:") and entry.target_id == str(user.id)
    with TestClient(create_app(settings)) as client:
        signed = client.post(
            urls.API + urls.API_SESSION, json={"email": "boss@example.org", "password": PASSWORD}
        )
        assert signed.status_code == 200
        assert signed.json()["user"]["role"] == "editor"


def test_users_add_refuses_bad_input_in_one_line(config: Path) -> None:
    code, out, err = run(
        config, "users", "add", "x@example.org", "--password-stdin", stdin="short\n"
    )
    assert code == 1 and out == ""
    assert err.strip() == "error: Your password needs at least 10 characters."
    code, _, err = run(
        config, "users", "add", "x@example.org", "--password-stdin", stdin="password123456\n"
    )
    assert code == 1 and "most common" in err
    code, _, err = run(
        config,
        "users",
        "add",
        "x@example.org",
        "--role",
        "king",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 1 and "unknown role 'king'" in err
    code, _, err = run(config, "users", "add", "not-an-address", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "is not an e-mail address" in err
    assert run(config, "users", "add", "x@example.org", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, _, err = run(config, "users", "add", "X@example.org", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "exists already" in err


def test_list_set_role_ban_and_unban(settings: Settings, config: Path) -> None:
    for email, name in (("ann@example.org", "Ann"), ("bob@example.org", "Bob B")):
        code, _, err = run(
            config, "users", "add", email, "--name", name, "--password-stdin", stdin=PASSWORD
        )
        assert code == 0, err
    assert run(config, "users", "set-role", "ann@example.org", "moderator")[0] == 0
    code, _, err = run(
        config, "users", "set-role", "bob@example.org", "moderator", "--channel", "news"
    )
    assert code == 0, err
    code, _, err = run(
        config, "users", "set-role", "bob@example.org", "admin", "--channel", "nosuch"
    )
    assert code == 1 and "unknown channel 'nosuch'" in err
    code, _, err = run(config, "users", "set-role", "nobody@example.org", "admin")
    assert code == 1 and "no account" in err
    code, _, err = run(
        config, "users", "ban", "bob@example.org", "--hours", "2", "--reason", "spam"
    )
    assert code == 0 and "banned bob@example.org until" in err
    assert run(config, "users", "ban", "203.0.113.7/24", "--reason", "flood")[0] == 0

    code, out, _ = run(config, "users", "list", "--json")
    assert code == 0
    listed = {row["email"]: row for row in json.loads(out)}
    assert listed["ann@example.org"]["role"] == "moderator"
    assert listed["bob@example.org"]["channel_roles"] == {"news": "moderator"}
    assert listed["bob@example.org"]["banned"] and listed["bob@example.org"]["banned_until"]
    assert not listed["ann@example.org"]["banned"]
    code, out, _ = run(config, "users", "list")
    assert code == 0 and "news:moderator" in out and "Bob B" in out

    with session_scope(settings.database_url) as session:
        bob = accounts.user_by_email(session, "bob@example.org")
        assert accounts.is_banned(session, bob, None) is not None
        assert accounts.is_banned(session, None, "203.0.113.200") is not None
        assert accounts.is_banned(session, None, "203.0.114.1") is None
        actions = [e.action for e in entries(session)]
    assert actions.count("user.set_role") == 2 and actions.count("ban.add") == 2

    assert run(config, "users", "unban", "bob@example.org")[0] == 0
    assert run(config, "users", "unban", "203.0.113.0/24")[0] == 0
    code, _, err = run(config, "users", "unban", "bob@example.org")
    assert code == 1 and "no ban in force" in err
    with session_scope(settings.database_url) as session:
        assert accounts.is_banned(session, bob, "203.0.113.200") is None
        assert [e.action for e in entries(session, action="ban.lift")] == ["ban.lift"] * 2


def test_the_installed_command_with_newsline_config(settings: Settings, config: Path) -> None:
    env = {**os.environ, "NEWSLINE_CONFIG": str(config)}
    command = [sys.executable, "-m", "newsline.cli", "users"]
    made = subprocess.run(
        [*command, "add", "ops@example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run(
        [*command, "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [(r["email"], r["role"], r["verified"]) for r in json.loads(listed.stdout)] == [
        ("ops@example.org", "admin", True)
    ]


def test_users_add_prompts_for_the_password_twice(settings: Settings, config: Path) -> None:
    code, _, err = run(
        config, "users", "add", "ask@example.org", stdin=f"{PASSWORD}\nanother one!\n"
    )
    assert code != 0  # the two entries differ: typer asks again and input runs out
    code, _, err = run(config, "users", "add", "ask@example.org", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, err
    with session_scope(settings.database_url) as session:
        assert accounts.authenticate(session, "ask@example.org", PASSWORD).verified_at is not None
    # An account for e-mail links only.
    code, _, err = run(config, "users", "add", "links@example.org", "--no-password")
    assert code == 0, err
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "links@example.org")
        assert user is not None and user.password_hash is None
