"""Portal accounts: `shanhai user add|list|disable`, argon2 hashes, and bad input refused with nothing stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shanhai.models.accounts import User, add_user, login
from shanhai.models.errors import InputError
from shanhai.models.tables import AuditEntry
from tests.conftest import REAL_CATALOGUE, at, count_rows, make_app

PASSWORD = "correct horse battery staple"


def user_cli(home, database_url, *args: str, input: str | None = None):  # noqa: A002
    from shanhai.cli.main import app

    env = {
        "SHANHAI_HOME": str(home),
        "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE),
        "SHANHAI_DATABASE_URL": database_url,
        "SHANHAI_SECRET_KEY": "test-secret",
    }
    return CliRunner().invoke(app, ["user", *args], env=env, input=input, catch_exceptions=False)


def test_user_add_with_the_password_on_stdin_then_list_and_disable(tmp_path, database_url):
    added = user_cli(tmp_path, database_url, "add", "jinghe", "--role", "coordinator", "--password-stdin",
                     input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "已创建账号 jinghe（协调方（经合办））" in added.output
    assert user_cli(tmp_path, database_url, "add", "lingdao", "--role", "supervisor", "--password-stdin",
                    input=PASSWORD + "\n").exit_code == 0
    listed = user_cli(tmp_path, database_url, "list", "--json")
    items = json.loads(listed.stdout)
    assert [(i["name"], i["role"], i["active"], i["last_login"]) for i in items] == [
        ("jinghe", "coordinator", True, None),
        ("lingdao", "supervisor", True, None),
    ]
    assert set(items[0]) == {"name", "role", "active", "created_at", "last_login"}
    assert user_cli(tmp_path, database_url, "disable", "lingdao").exit_code == 0
    assert "已停用" in user_cli(tmp_path, database_url, "list").stdout
    app = make_app(tmp_path, database_url)
    with app.session() as session:
        refused = login(session=session, name="lingdao", password=PASSWORD, address="x", now=at(2026, 10, 20))
        accepted = login(session=session, name="jinghe", password=PASSWORD, address="x", now=at(2026, 10, 20))
    assert refused.user is None and accepted.user is not None
    with app.session() as session:
        actions = [e.action for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]
    assert actions.count("user.added") == 2 and "user.disabled" in actions


def test_user_add_prompts_for_the_password_twice(tmp_path, database_url):
    mismatch = user_cli(tmp_path, database_url, "add", "jinghe", "--role", "coordinator",
                        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "再次输入密码" in mismatch.output
    assert count_rows(database_url, User) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "jinghe", "--role", "admin", "--password-stdin"], PASSWORD, "角色应为 coordinator 或 supervisor"),
        (["add", "x", "--role", "coordinator", "--password-stdin"], PASSWORD, "账号名“x”无效"),
        (["add", "jinghe", "--role", "coordinator", "--password-stdin"], "short", "密码至少 10 个字符"),
        (["disable", "nobody"], "", "没有账号“nobody”"),
    ],
)
def test_bad_user_input_is_refused_and_nothing_is_stored(tmp_path, database_url, args, stdin, message):
    result = user_cli(tmp_path, database_url, *args, input=stdin + "\n")
    assert result.exit_code == 1
    assert message in result.output
    assert count_rows(database_url, User) == 0


def test_a_name_is_taken_once(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with app.session() as session:
        add_user(session=session, name="jinghe", role="coordinator", password=PASSWORD, actor="test")
    with pytest.raises(InputError, match="已存在"), app.session() as session:
        add_user(session=session, name="jinghe", role="supervisor", password=PASSWORD, actor="test")
    assert count_rows(database_url, User) == 1


def test_a_wrong_password_for_an_unknown_name_costs_a_hash_too(tmp_path, database_url):
    """An unknown name is not answered faster than a known one (no user enumeration by timing)."""
    import time

    app = make_app(tmp_path, database_url)
    with app.session() as session:
        add_user(session=session, name="jinghe", role="coordinator", password=PASSWORD, actor="test")

    def timed(name: str) -> float:
        with app.session() as session:
            t = time.perf_counter()
            assert login(session=session, name=name, password="wrong!", address=name, now=at(2026, 10, 20)).user is None
            return time.perf_counter() - t

    timed("warm-up")
    known, unknown = min(timed("jinghe") for _ in range(3)), min(timed("nobody") for _ in range(3))
    assert unknown > known / 3


def test_up_makes_a_first_coordinator_and_supervisor_account_once(tmp_path, database_url):
    from shanhai.cli.user_commands import ensure_first_accounts

    app = make_app(tmp_path, database_url)
    first = ensure_first_accounts(app)
    assert {role: name for role, (name, _) in first.items()} == {"coordinator": "admin", "supervisor": "leader"}
    assert all(len(password or "") >= 16 for _, password in first.values())
    again = ensure_first_accounts(app)
    assert again == {"coordinator": ("admin", None), "supervisor": ("leader", None)}, "passwords shown once"
    with app.session() as session:
        for name, password in first.values():
            assert password is not None
            assert login(session=session, name=name, password=password, address="x", now=at(2026, 10, 20)).user
    assert count_rows(database_url, User) == 2


def test_user_add_refuses_a_missing_database_before_asking_for_a_password(tmp_path):
    home = tmp_path / "home"
    result = user_cli(home, f"sqlite:///{home / 'shanhai.db'}", "add", "jinghe", "--role", "coordinator",
                      input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 1, result.output
    assert "密码" not in result.stdout, "no prompt was shown"
    assert "未找到数据库" in result.stderr and "shanhai init" in result.stderr
    assert not home.exists()


def test_user_passwd_changes_the_password_and_refuses_bad_input_changing_nothing(tmp_path, database_url):
    assert user_cli(tmp_path, database_url, "add", "jinghe", "--role", "coordinator", "--password-stdin",
                    input=PASSWORD + "\n").exit_code == 0
    unknown = user_cli(tmp_path, database_url, "passwd", "nobody", "--password-stdin", input="whatever long one\n")
    assert unknown.exit_code != 0 and "没有账号“nobody”" in unknown.output
    short = user_cli(tmp_path, database_url, "passwd", "jinghe", "--password-stdin", input="short\n")
    assert short.exit_code != 0 and "密码至少 10 个字符" in short.output and "未修改" in short.output
    prompted = user_cli(tmp_path, database_url, "passwd", "jinghe", input="new passphrase!\nnew passphrase!\n")
    assert prompted.exit_code == 0, prompted.output
    app = make_app(tmp_path, database_url)
    with app.session() as session:
        old = login(session=session, name="jinghe", password=PASSWORD, address="x", now=at(2026, 10, 20))
        new = login(session=session, name="jinghe", password="new passphrase!", address="x", now=at(2026, 10, 20))
    assert old.user is None and new.user is not None
