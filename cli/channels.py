"""`shanhai channels` (validate and list the channel file) and `shanhai channels test [UNIT]`."""

from __future__ import annotations

from typing import Annotated

import typer

from shanhai.cli import output
from shanhai.cli.app import Json

channels_app = typer.Typer(
    help="消息渠道：检查、列出与测试（SHANHAI_APPRISE_CONFIG，密钥已遮蔽）。 Channels.",
    invoke_without_command=True,
    rich_markup_mode=None,
)

NOTHING_CONFIGURED = "未配置任何渠道（SHANHAI_APPRISE_CONFIG 未设置）：消息只保存在本地发件箱，不会离开本机。"


def _load(a):
    """Unit code -> channels; a broken or missing configured file ends the command (exit 1)."""
    from shanhai.cli.app import fail
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.outbox import configured_channels

    try:
        return configured_channels(a)
    except ChannelConfigError as exc:
        fail(str(exc))


@channels_app.callback(invoke_without_command=True)
def channels(ctx: typer.Context, as_json: Json = False) -> None:
    """检查并列出各单位的消息渠道（密钥已遮蔽）；`channels test` 发送测试消息。 Validate and list channels."""
    if ctx.invoked_subcommand is not None:
        return
    from shanhai.cli.app import emit_json, load_app

    a = load_app(need_db=False)
    by_unit = _load(a)
    units = {u.code: u.name for u in a.catalogue.units.values()}
    items = [
        {"unit": units[code], "code": code, "channel": ch.masked_url, "scheme": ch.scheme}
        for code, chs in by_unit.items()
        for ch in chs
    ]
    if as_json:
        return emit_json(items)
    if not items:
        typer.echo(
            NOTHING_CONFIGURED
            if a.settings.apprise_config is None
            else f"{a.settings.apprise_config} 中没有任何渠道（urls: []）：消息只保存在本地发件箱，不会离开本机。"
        )
        return
    output.table(
        items, [("unit", "单位"), ("code", "标签"), ("scheme", "类型"), ("channel", "渠道（已遮蔽）")]
    )
    missing = [name for code, name in units.items() if code not in by_unit]
    if missing:
        typer.echo(f"未配置渠道的单位（消息留在本地发件箱）：{'、'.join(missing)}")


@channels_app.command("test")
def channels_test(
    unit: Annotated[
        str | None, typer.Argument(help="单位名称、简称、别名或代码（如 永嘉县、永嘉、yongjia）；默认全部单位")
    ] = None,
    as_json: Json = False,
) -> None:
    """立即向单位的每个渠道发送一条测试消息（任何一天都可以；不写发件箱），逐个报告结果。 Send a test message now."""
    from datetime import UTC, datetime

    from shanhai.cli.app import emit_json, fail, load_app
    from shanhai.notifications.probe import PROBE_TITLE, probe_channels

    a = load_app(need_db=False)
    units = {u.code: u.name for u in a.catalogue.units.values()}
    codes = list(units)
    if unit is not None:
        spec = a.catalogue.unit(unit)
        code = spec.code if spec else (unit if unit in units else None)
        if code is None:
            fail(f"UNIT：未知的单位 '{unit}'（可写名称、简称、别名或代码，见 calendar/units.yaml）")
        codes = [code]
    by_unit = _load(a)
    if a.settings.apprise_config is None:
        if as_json:
            return emit_json([])
        typer.echo(f"{NOTHING_CONFIGURED}没有发送任何测试消息。")
        return
    targets = [(units[code], ch) for code in codes for ch in by_unit.get(code, [])]
    if not targets:
        if as_json:
            return emit_json([])
        whom = f"单位「{units[codes[0]]}」没有" if unit is not None else "没有任何单位"
        typer.echo(f"{whom}配置渠道（{a.settings.apprise_config}）：没有发送任何测试消息。")
        return

    results = probe_channels(targets, at=datetime.now(UTC), timeout=a.settings.send_timeout_seconds)
    failed = [r for r in results if r.status == "failed"]
    if as_json:
        emit_json([r.as_dict() for r in results])
    else:
        output.table(
            [
                {**r.as_dict(), "result": "已发送" if r.status == "sent" else f"失败：{_reason(r.error, r.channel)}"}
                for r in results
            ],
            [("unit", "单位"), ("code", "标签"), ("channel", "渠道（已遮蔽）"), ("result", "结果")],
        )
        typer.echo(
            f"测试消息「{PROBE_TITLE}」：已发送 {len(results) - len(failed)} 个渠道，失败 {len(failed)} 个。"
        )
    if failed:
        raise typer.Exit(1)


def _reason(error: str | None, channel: str) -> str:
    """The transport's message without the channel it starts with (the table shows it already)."""
    return (error or "").removeprefix(f"{channel}：")
