"""The command speaks one language: Click's own help and usage errors in Chinese, whole summaries,
Chinese confirmations and headers, and long listings paged on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import REAL_CATALOGUE, run_cli

ENGLISH = ("Usage:", "Options:", "Commands:", "Show this message", "Try '", "Error:")
AS_OF = ("--as-of", "2026-05-04")
PAIR = "泰顺-鹿城"


def test_help_is_in_chinese(tmp_path):
    for args in (["--help"], ["record", "--help"], ["user", "--help"], ["holidays", "--help"]):
        out = run_cli(args, home=tmp_path).output
        assert "用法：" in out and "选项：" in out and "显示本帮助并退出。" in out, out
        assert not [word for word in ENGLISH if word in out], out


def test_a_group_lists_each_command_by_its_whole_first_sentence(tmp_path):
    out = run_cli(["--help"], home=tmp_path).output
    assert out.startswith("用法：root [选项] 命令 [参数]...")
    assert "..." not in out.partition("命令：")[2]
    waive = next(line for line in out.splitlines() if line.strip().startswith("waive"))
    assert waive.rstrip().endswith("状态为“已豁免”（灰灯）。"), waive
    remind = next(line for line in out.splitlines() if line.strip().startswith("remind"))
    assert "Plan" not in remind and remind.rstrip().endswith("。"), remind


@pytest.mark.parametrize(
    ("args", "chinese"),
    [
        (["record"], "缺少参数 obligation"),
        (["status", "--bogus"], "没有这个选项：--bogus"),
        (["outbox", "--limit", "many"], "'--limit' 的值无效"),
        (["status", "extra"], "多余的参数：extra"),
        (["nosuch"], "没有命令"),
    ],
)
def test_a_usage_error_is_chinese_first(tmp_path, args, chinese):
    result = run_cli(args, home=tmp_path)
    assert result.exit_code == 2
    assert f"错误 error: {chinese}" in result.stderr, result.stderr
    assert "Error:" not in result.stderr and "Usage:" not in result.stderr


def test_user_add_confirms_the_role_in_chinese_and_user_list_has_a_header(cli):
    assert cli("init", "--as-of", "2026-03-02").exit_code == 0
    from tests.conftest import run_cli as run

    added = run(["user", "add", "zhang", "--role", "supervisor", "--password-stdin"], home=cli.home,
                database_url=cli.database_url, input="a-long-password\n")
    assert added.exit_code == 0, added.output
    assert "已创建账号 zhang（领导小组）" in added.stdout
    listed = cli("user", "list")
    header = listed.stdout.splitlines()[0].split()
    assert header == ["账号", "角色", "状态", "创建时间", "最近登录"]
    assert "zhang" in listed.stdout and "领导小组" in listed.stdout and "启用" in listed.stdout


def test_a_short_password_from_stdin_does_not_name_an_option_that_does_not_exist(cli):
    assert cli("init", "--as-of", "2026-03-02").exit_code == 0
    result = run_cli(["user", "add", "li", "--role", "coordinator", "--password-stdin"], home=cli.home,
                     database_url=cli.database_url, input="short\n")
    assert result.exit_code == 1
    assert "--password" not in result.stderr.replace("--password-stdin", "")
    assert "密码：密码至少 10 个字符" in result.stderr


def test_records_take_a_limit(sh):
    for day in ("2026-03-03", "2026-03-04", "2026-03-05"):
        assert sh("record", "joint-meeting", "--scope", PAIR, "--date", day, *AS_OF).exit_code == 0
    assert len(_json(sh("records", "--json"))) == 3
    assert len(_json(sh("records", "--limit", "2", "--json"))) == 2
    refused = sh("records", "--limit", "0")
    assert refused.exit_code == 1 and "--limit：应为 1 到 10000 之间的整数" in refused.stderr


def test_plans_name_their_unit_on_the_columns(tmp_path):
    header = run_cli(["plans"], home=tmp_path).stdout.splitlines()[0]
    assert "计划总投资（万元）" in header and "计划完成数（万元）" in header


def test_a_listing_goes_through_the_pager_on_a_terminal(tmp_path):
    """On a terminal `shanhai plans`-style listings page; `records` is run under a pseudo-terminal with a
    pager that writes what it is given to a file."""
    paged = tmp_path / "paged.txt"
    home = tmp_path / "home"
    env = {**os.environ, "SHANHAI_HOME": str(home), "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE),
           "SHANHAI_SECRET_KEY": "test-secret", "PAGER": f"cat > {paged}"}
    shanhai = [sys.executable, "-m", "shanhai.cli.main"]
    subprocess.run([*shanhai, "init", "--as-of", "2026-03-02"], env=env, check=True, capture_output=True)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([*shanhai, "outbox"], env=env, stdin=secondary, stdout=secondary,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    assert "收件单位" in paged.read_text(), "the listing went to the pager"


def _json(result):
    import json

    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
