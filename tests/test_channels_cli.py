"""`shanhai channels` and `shanhai channels test [UNIT]` against a real local webhook and SMTP server;
a configured channel file that is missing or broken stops every command that queues or delivers."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller

from shanhai.models.tables import Delivery, OutboxMessage
from tests.conftest import count_rows, free_port, run_cli

SUNDAY = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # Sunday 11:00 in Shanghai: no reminder goes out today


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def channel_file(tmp_path: Path, entries: list[tuple[str, str]]) -> Path:
    path = tmp_path / "apprise.yaml"
    path.write_text(
        "version: 1\nurls:\n" + "".join(f'  - "{url}":\n      - tag: {tags}\n' for url, tags in entries),
        encoding="utf-8",
    )
    return path


def shanhai(tmp_path: Path, *args: str, config: Path | None = None, env: dict[str, str] | None = None,
            database_url: str | None = None):
    extra = {**(env or {}), **({"SHANHAI_APPRISE_CONFIG": str(config)} if config else {})}
    return run_cli(list(args), home=tmp_path / "home", database_url=database_url, env=extra)


# --------------------------------------------------------------------------- channels test


def test_channels_test_sends_a_marked_message_now_to_each_channel_of_the_unit_even_on_a_sunday(
    tmp_path, webhook, smtp
):
    inbox, smtp_port = smtp
    config = channel_file(tmp_path, [
        (f"json://127.0.0.1:{webhook.port}/hook/${{HOOK}}", "taishun"),
        (f"mailto://127.0.0.1:{smtp_port}?from=shanhai@example.cn&to=taishun@example.cn&mode=insecure", "taishun"),
        (f"json://127.0.0.1:{webhook.port}/other", "lucheng"),
    ])
    with time_machine.travel(SUNDAY, tick=True):
        result = shanhai(tmp_path, "channels", "test", "泰顺", "--json", config=config, env={"HOOK": "s3cret-hook"})

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"unit": "泰顺县", "code": "taishun", "channel": f"json://127.0.0.1:{webhook.port}/hook/${{HOOK}}",
         "status": "sent", "error": None},
        {"unit": "泰顺县", "code": "taishun",
         "channel": f"mailto://127.0.0.1:{smtp_port}?from=shanhai@example.cn&to=taishun@example.cn&mode=insecure",
         "status": "sent", "error": None},
    ]
    [(path, payload)] = webhook.received  # only the unit asked for
    assert path == "/hook/s3cret-hook"
    assert "测试" in payload["title"] and payload["title"].startswith("【山海协作】")
    assert "泰顺县" in payload["message"] and "2026-11-29 11:00" in payload["message"]
    [envelope] = inbox.envelopes
    mail = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail["Subject"] == payload["title"]
    assert "泰顺县" in mail.get_body(preferencelist=("plain",)).get_content()


def test_channels_test_reports_each_failure_and_exits_1(tmp_path, webhook):
    closed = free_port()
    config = channel_file(tmp_path, [
        (f"json://127.0.0.1:{webhook.port}/ok", "taishun"),
        (f"json://127.0.0.1:{webhook.port}/status/404", "taishun"),
        (f"json://127.0.0.1:{closed}/hook", "lucheng"),
        (f"json://127.0.0.1:{webhook.port}/status/500?+X-Token=${{TOKEN}}", "lucheng"),
    ])
    result = shanhai(tmp_path, "channels", "test", "--json", config=config, env={"TOKEN": "tok-secret-value"})

    assert result.exit_code == 1, result.output
    outcome = {(r["code"], r["channel"].split("/", 3)[3]): (r["status"], r["error"]) for r in json.loads(result.stdout)}
    assert outcome["taishun", "ok"] == ("sent", None)
    assert outcome["taishun", "status/404"][0] == "failed" and "HTTP 404" in outcome["taishun", "status/404"][1]
    assert outcome["lucheng", "hook"][0] == "failed" and "连接失败" in outcome["lucheng", "hook"][1]
    status, error = outcome["lucheng", "status/500?+X-Token=${TOKEN}"]
    assert status == "failed" and "HTTP 500" in error
    assert "tok-secret-value" not in result.output
    assert [p for p, _ in webhook.received] == ["/ok"]

    table = shanhai(tmp_path, "channels", "test", "lucheng", config=config, env={"TOKEN": "tok-secret-value"})
    assert table.exit_code == 1
    assert "失败：" in table.stdout and "鹿城区" in table.stdout and "已发送 0 个渠道，失败 2 个" in table.stdout


def test_channels_test_writes_nothing_to_the_outbox(tmp_path, database_url, webhook):
    config = channel_file(tmp_path, [(f"json://127.0.0.1:{webhook.port}/hook", "shi-zhaoshangju")])
    for unit in ("经合办", "市招商局〈经合办〉", "shi-zhaoshangju"):  # short name, alias, code
        result = shanhai(tmp_path, "channels", "test", unit, config=config, database_url=database_url)
        assert result.exit_code == 0, result.output
        assert "已发送" in result.stdout
    assert len(webhook.received) == 3
    assert count_rows(database_url, OutboxMessage) == 0 and count_rows(database_url, Delivery) == 0


def test_channels_test_with_nothing_configured_says_so_and_sends_nothing(tmp_path):
    result = shanhai(tmp_path, "channels", "test")
    assert result.exit_code == 0, result.output
    assert "未配置任何渠道" in result.stdout and "没有发送任何测试消息" in result.stdout
    as_json = shanhai(tmp_path, "channels", "test", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_channels_test_of_a_unit_without_a_channel_says_so(tmp_path, webhook):
    config = channel_file(tmp_path, [(f"json://127.0.0.1:{webhook.port}/hook", "taishun")])
    result = shanhai(tmp_path, "channels", "test", "永嘉县", config=config)
    assert result.exit_code == 0 and "单位「永嘉县」没有配置渠道" in result.stdout
    assert webhook.received == []


def test_channels_test_of_an_unknown_unit_is_an_error_naming_it(tmp_path, webhook):
    config = channel_file(tmp_path, [(f"json://127.0.0.1:{webhook.port}/hook", "taishun")])
    result = shanhai(tmp_path, "channels", "test", "火星县", config=config)
    assert result.exit_code != 0
    assert "火星县" in result.stderr and "Traceback" not in result.output
    assert webhook.received == []


def test_channels_still_lists_each_units_channels_masked(tmp_path, webhook):
    config = channel_file(tmp_path, [(f"json://127.0.0.1:{webhook.port}/hook/${{HOOK}}", "taishun, lucheng")])
    result = shanhai(tmp_path, "channels", "--json", config=config, env={"HOOK": "s3cret-hook"})
    assert result.exit_code == 0, result.output
    channel = f"json://127.0.0.1:{webhook.port}/hook/${{HOOK}}"
    assert json.loads(result.stdout) == [
        {"unit": "泰顺县", "code": "taishun", "channel": channel, "scheme": "json"},
        {"unit": "鹿城区", "code": "lucheng", "channel": channel, "scheme": "json"},
    ]
    table = shanhai(tmp_path, "channels", config=config, env={"HOOK": "s3cret-hook"})
    assert table.exit_code == 0 and "泰顺县" in table.stdout and "未配置渠道的单位" in table.stdout
    assert "s3cret-hook" not in table.output and webhook.received == []


# --------------------------------------------------------------------------- a configured file must work


@pytest.mark.parametrize(
    "command",
    [["remind", "--as-of", "2026-11-30T10:00"], ["deliver"], ["digest", "coordinator", "--as-of", "2026-11-30T10:00"],
     ["channels"], ["channels", "--json"], ["channels", "test"], ["channels", "test", "泰顺县"]],
    ids=lambda c: "-".join(c[:2]),
)
@pytest.mark.parametrize("problem", ["missing", "empty", "invalid"])
def test_every_command_that_queues_or_delivers_stops_on_a_configured_file_that_cannot_be_used(
    tmp_path, command, problem
):
    from shanhai.db import migrate

    database_url = f"sqlite:///{tmp_path / 'shanhai.db'}"  # an initialised home: the channel file is the problem
    migrate(database_url)
    config = tmp_path / "apprise.yaml"
    if problem == "empty":
        config.write_text("", encoding="utf-8")
    elif problem == "invalid":
        config.write_text('urls:\n  - "json://127.0.0.1:1/hook":\n      tag: nowhere\n', encoding="utf-8")
    result = shanhai(tmp_path, *command, config=config, database_url=database_url)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert str(config) in line and line.startswith("错误 error: 渠道配置文件有误")
