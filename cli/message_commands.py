"""Commands on messages: remind, deliver, digests, the outbox, channels."""

from __future__ import annotations

from typing import Annotated

import typer

from shanhai.cli import output
from shanhai.cli.app import AsOf, Json, app, as_of_option, emit_json, fail, load_app, refuse_future_as_of


@app.command()
def remind(
    as_of: AsOf = None,
    obligation: Annotated[str | None, typer.Option("--obligation", help="只检查某一事项")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只预览：不写发件箱、不发送")] = False,
    as_json: Json = False,
) -> None:
    """计算此刻应发的提醒与督办，写入发件箱并投递（Prefect 中由检查流程写入、发件箱投递流程发送）。 Plan and send reminders."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.checking import check_obligation
    from shanhai.notifications.delivery import deliver_outbox

    when = as_of_option(as_of)
    a = load_app()
    if not dry_run:
        refuse_future_as_of(a, when, preview="--dry-run")
    if obligation is not None:
        try:
            a.catalogue.require_obligation(obligation)
        except ValueError as exc:
            fail(str(exc))
    try:
        result = check_obligation(a, obligation, as_of=when, dry_run=dry_run)
        # as_of chooses what to plan; what leaves the machine follows the real clock (working hours)
        report = None if dry_run else deliver_outbox(a)
    except ChannelConfigError as exc:
        fail(str(exc))
    if as_json:
        return emit_json(result.messages)
    output.messages(result.messages, dry_run=dry_run)
    typer.echo(result.summary)
    if report is not None:
        typer.echo(report.summary)
        if a.settings.apprise_config is None:
            typer.echo("未配置任何渠道（SHANHAI_APPRISE_CONFIG）：消息只保存在本地发件箱，没有离开本机。")


@app.command()
def deliver() -> None:
    """投递发件箱中待发送或待重试的消息（按真实时钟：仅工作日发送时段）。 Deliver the outbox."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.delivery import deliver_outbox

    a = load_app()
    try:
        report = deliver_outbox(a)
    except ChannelConfigError as exc:
        fail(str(exc))
    typer.echo(report.summary)


@app.command()
def digest(
    audience: Annotated[
        str, typer.Argument(help="coordinator（每周，协调方）或 supervisor（每月，领导小组）")
    ],
    as_of: AsOf = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只预览")] = False,
    as_json: Json = False,
) -> None:
    """生成督办摘要：协调方每周一次，领导小组每月一次。 Queue a digest."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.digests import send_digest

    if audience not in ("coordinator", "supervisor"):
        fail(f"audience：应为 coordinator 或 supervisor，而不是 '{audience}'")
    when = as_of_option(as_of)
    a = load_app()
    if not dry_run:
        refuse_future_as_of(a, when, preview="--dry-run")
    try:
        result = send_digest(a, audience=audience, as_of=when, dry_run=dry_run)  # type: ignore[arg-type]
    except ChannelConfigError as exc:
        fail(str(exc))
    if as_json:
        return emit_json(result.messages)
    output.messages(result.messages, dry_run=dry_run)
    typer.echo(result.summary)


@app.command()
def outbox(
    limit: Annotated[int, typer.Option("--limit", help=f"最多显示条数（1–{output.MAX_LIMIT}）")] = 50,
    show: Annotated[int | None, typer.Option("--show", help="显示某条消息全文")] = None,
    as_json: Json = False,
) -> None:
    """发件箱：已写入的消息及其投递状态。 List stored messages with delivery state."""
    from shanhai.models.queries import outbox_items

    output.check_limit(limit)
    a = load_app()
    a.migrate()
    items = outbox_items(a, limit=limit, message_id=show)
    if show is not None:
        if not items:
            fail(f"没有编号为 {show} 的消息")
        typer.echo(f"{items[0]['title']}\n\n{items[0]['body']}")
        return
    if as_json:
        return emit_json(items)
    from shanhai.models.statuses import delivery_label
    from shanhai.notifications.planner import Role

    labels = {r.value: r.label for r in Role}
    rows = [
        {
            **i,
            "role": labels.get(i["role"], i["role"]),
            "deliveries_text": "、".join(f"{d['channel']}：{delivery_label(d['status'])}" for d in i["deliveries"]),
        }
        for i in items
    ]
    with output.paged():
        output.table(
            rows,
            [
                ("id", "#"),
                ("created_at", "写入时间"),
                ("recipient", "收件单位"),
                ("role", "角色"),
                ("stage_label", "阶段"),
                ("item_count", "事项数"),
                ("deliveries_text", "投递"),
            ],
        )
