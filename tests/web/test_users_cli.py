"""``wi users`` (the real Typer app, in process) and the first-start admin."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import make_settings
from workflow_integrator import cli
from workflow_integrator.app import build_services
from workflow_integrator.cli import context


@pytest.fixture(autouse=True)
def _fresh_cli_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CLI builds its services once per process; each test has its own data folder.
    for key in [k for k in os.environ if k.startswith("WI_")]:
        monkeypatch.delenv(key)
    context.services.cache_clear()
    yield
    if "WI_DATA_DIR" in os.environ:
        context.services().close()
    context.services.cache_clear()
    os.environ.pop("WI_DATA_DIR", None)


def wi(data_dir: Path, *args: str, stdin: str | None = None) -> Result:
    os.environ["WI_DATA_DIR"] = str(data_dir)
    return CliRunner().invoke(cli.app, list(args), input=stdin)


def test_add_list_passwd_delete(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = wi(
        data,
        "users",
        "add",
        "carol",
        "--role",
        "admin",
        "--password-stdin",
        stdin="carol-password-1\n",
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(wi(data, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("carol", "admin")]
    assert "password" not in json.dumps(listed)

    services = build_services(make_settings(data))
    users = services.users
    assert users.sign_in("carol", "carol-password-1").principal.role == "admin"
    # The database holds an argon2id hash, never the password.
    with services.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar_one()
    assert stored.startswith("$argon2id$")
    assert "carol-password-1" not in stored

    assert (
        wi(
            data, "users", "passwd", "carol", "--password-stdin", stdin="carol-password-2\n"
        ).exit_code
        == 0
    )
    assert users.sign_in("carol", "carol-password-2")
    # The only admin cannot be deleted or demoted: nobody could manage WI any more.
    last = wi(data, "users", "delete", "carol")
    assert last.exit_code == 2
    assert "only admin" in last.output
    assert wi(data, "users", "role", "carol", "viewer").exit_code == 2
    assert (
        wi(
            data,
            "users",
            "add",
            "dan",
            "--role",
            "admin",
            "--password-stdin",
            stdin="dan-password-12\n",
        ).exit_code
        == 0
    )
    assert wi(data, "users", "delete", "carol").exit_code == 0
    assert [u["name"] for u in json.loads(wi(data, "users", "list", "--json").stdout)] == ["dan"]
    services.close()


def test_bad_input_gets_a_clear_error_and_exit_code_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    short = wi(data, "users", "add", "dave", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
    role = wi(
        data,
        "users",
        "add",
        "dave",
        "--role",
        "root",
        "--password-stdin",
        stdin="dave-password-1\n",
    )
    assert role.exit_code == 2
    assert "role must be one of admin, viewer" in role.output
    assert (
        wi(data, "users", "add", "dave", "--password-stdin", stdin="dave-password-1\n").exit_code
        == 0
    )
    again = wi(data, "users", "add", "dave", "--password-stdin", stdin="dave-password-1\n")
    assert again.exit_code == 2
    assert "already exists" in again.output
    missing = wi(data, "users", "delete", "nobody")
    assert missing.exit_code == 2
    assert "no user named 'nobody'" in missing.output


def test_first_start_creates_an_admin_with_a_private_password_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    services = build_services(make_settings(data))
    users = services.users
    created = users.ensure_initial_admin(data)
    assert created is not None
    name, password, path = created
    assert name == "admin"
    assert path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert users.sign_in("admin", password).principal.can_write
    # Not again once users exist.
    assert users.ensure_initial_admin(data) is None
    services.close()


def test_password_change_ends_existing_sessions(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path / "data"))
    users = services.users
    users.add("erin", "viewer", "erin-password-1")
    session = users.sign_in("erin", "erin-password-1")
    assert users.resume(session.token) is not None
    users.set_password("erin", "erin-password-2")
    assert users.resume(session.token) is None
    services.close()
