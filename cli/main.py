"""The `shanhai` command. Prefect is imported only by the commands that run flows."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from shanhai.cli import output

app = typer.Typer(
    help="山海协作工程 温政发〔2018〕26号 任务督办引擎（Shanhai）。",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
catalogue_app = typer.Typer(help="事项目录：校验与查看（catalogue）。", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="评估时点：YYYY-MM-DD（当日12:00）或 YYYY-MM-DDTHH:MM（上海时间）；默认现在。"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="输出 JSON（字段见 README）。")]


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"错误 error: {message}", err=True)
    raise typer.Exit(code)


def _as_of(text: str | None):
    from shanhai.app import parse_as_of

    try:
        return parse_as_of(text)
    except ValueError as exc:
        fail(f"--as-of：无法识别的时间 '{text}'（{exc}）")


def _app():
    from shanhai.models.catalogue import CatalogueError
    from shanhai.models.working_days import HolidayFileError

    from shanhai.app import App

    a = App()
    try:
        a.catalogue  # noqa: B018  (fail early, before any database work)
        a.calendar  # noqa: B018
    except (CatalogueError, HolidayFileError) as exc:
        fail(f"事项目录有误 catalogue is invalid:\n{exc}")
    return a


def _ready(as_of):
    a = _app()
    a.sync(as_of=as_of)
    return a


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.command()
def init(as_of: AsOf = None) -> None:
    """初始化：迁移数据库并载入事项目录（可重复执行）。 Migrate and load the catalogue (idempotent)."""
    when = _as_of(as_of)
    a = _app()
    report = a.sync(as_of=when)
    typer.echo(
        f"数据库 {a.database_url}\n"
        f"单位 {report.units} 个；事项 新增 {report.obligations_added}、变更 {report.obligations_changed}；"
        f"期次 新增 {report.occurrences_added}、更新 {report.occurrences_updated}、移除 {report.occurrences_removed}"
        + ("" if report.changed else "（无变化）")
    )


@catalogue_app.command("validate")
def catalogue_validate(
    path: Annotated[
        Path | None, typer.Argument(help="目录文件或目录；默认 SHANHAI_CATALOGUE_DIR（calendar/）")
    ] = None,
) -> None:
    """校验事项目录，逐条报告文件、行号与字段。 Validate; exit 1 on any error."""
    from shanhai.models.catalogue import CatalogueError, load_catalogue
    from shanhai.models.working_days import HolidayFileError, load_holiday_file

    if path is None:
        from shanhai.settings import get_settings

        path = get_settings().catalogue_dir
    try:
        cat = load_catalogue(path)
        holidays = path / "holidays.yaml" if path.is_dir() else path.parent / "holidays.yaml"
        load_holiday_file(holidays)
    except (CatalogueError, HolidayFileError) as exc:
        problems = getattr(exc, "problems", [exc])
        typer.echo(str(exc), err=True)
        fail(f"{len(problems)} 处错误 error(s)")
    typer.echo(
        f"通过 OK：{len(cat.documents)} 份文件，{len(cat.obligations)} 项事项，{len(cat.units)} 个单位，"
        f"{len(cat.pairings)} 对结对，{len(cat.parks)} 个园区，附件1 {len(cat.plans)} 行"
    )


@app.command()
def obligations(as_json: Json = False) -> None:
    """列出事项目录中的全部事项。 List obligations."""
    from shanhai.cli.views import obligation_items

    items = obligation_items(_app().catalogue)
    if as_json:
        return _emit_json(items)
    output.table(
        items,
        [
            ("id", "编号"),
            ("title", "事项"),
            ("clause", "条款"),
            ("kind", "类型"),
            ("scope", "范围"),
            ("due", "期限"),
            ("min_count", "次数"),
            ("target", "目标"),
            ("valid_from", "起"),
            ("valid_until", "止"),
        ],
    )


@app.command()
def plans(as_json: Json = False) -> None:
    """附件1 生态旅游文化产业园投资计划（万元）。 List the 附件1 plan rows."""
    from shanhai.cli.views import plan_items

    items = plan_items(_app().catalogue)
    if as_json:
        return _emit_json(items)
    output.table(
        items,
        [
            ("park", "产业园"),
            ("year", "年度"),
            ("kind", "类别"),
            ("projects", "项目数"),
            ("planned_total", "计划总投资"),
            ("planned_completion", "计划完成数"),
        ],
    )


@app.command()
def status(
    as_of: AsOf = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="结对（如 泰顺-鹿城）、单位、园区或 全市")
    ] = None,
    obligation: Annotated[str | None, typer.Option("--obligation", help="事项编号")] = None,
    year: Annotated[int | None, typer.Option("--year", help="只看某一年的期次")] = None,
    everything: Annotated[bool, typer.Option("--all", help="列出截至评估时点的全部期次")] = False,
    as_json: Json = False,
) -> None:
    """各期次在某一时点的状态（红黄绿灯）。 Status of every occurrence at a date."""
    from shanhai.cli.views import status_items

    when = _as_of(as_of)
    a = _ready(when)
    try:
        items = status_items(
            a, as_of=when, scope=scope, obligation=obligation, year=year, everything=everything
        )
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        return _emit_json(items)
    output.status_table(items)


@app.command()
def board(as_of: AsOf = None) -> None:
    """总览：结对 × 事项 红黄绿灯。 The board: pairings x obligations."""
    from shanhai.cli.views import board_grid

    when = _as_of(as_of)
    a = _ready(when)
    output.board(board_grid(a, as_of=when), when)


@app.command()
def record(
    obligation: Annotated[str, typer.Argument(help="事项编号，见 shanhai obligations")],
    scope: Annotated[str, typer.Option("--scope", help="结对（如 泰顺-鹿城）、单位、园区或 全市")],
    on: Annotated[str, typer.Option("--date", help="完成日期 YYYY-MM-DD")],
    amount: Annotated[
        str | None,
        typer.Option("--amount", help="金额，须注明单位：元、万（万元）或 亿（亿元），如 11900元、500万、2.5亿"),
    ] = None,
    count: Annotated[
        int, typer.Option("--count", help="数量（次、个、人次），默认 1；按次数计的事项不填金额")
    ] = 1,
    category: Annotated[
        str | None, typer.Option("--category", help="类别，如 八大产业、government、attraction")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="说明")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="证明材料文件")] = None,
    period: Annotated[str | None, typer.Option("--period", help="归属年度（补报上一年度时使用）")] = None,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """登记一条完成记录（待协调方核验）。 Record a completion."""
    from shanhai.models.amounts import parse_amount
    from shanhai.models.errors import InputError
    from shanhai.models.records import amount_text, record_completion

    when = _as_of(as_of)
    try:
        day = date.fromisoformat(on)
    except ValueError:
        fail(f"--date：无法识别的日期 '{on}'（应为 YYYY-MM-DD）")
    a = _ready(when)
    try:
        fen = parse_amount(amount) if amount is not None else None
        with a.session() as session:
            rec = record_completion(
                a.catalogue,
                session=session,
                obligation_id=obligation,
                scope=scope,
                on=day,
                as_of=when,
                count=count,
                amount_fen=fen,
                category=category,
                note=note,
                evidence=evidence,
                evidence_dir=a.settings.evidence_dir,
                max_evidence_bytes=a.settings.max_evidence_bytes,
                period=period,
            )
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}（未保存 nothing stored）")
    amount_shown = amount_text(a.catalogue, obligation, rec.amount_fen)
    if as_json:
        return _emit_json(
            {"id": rec.id, "occurrence": rec.occurrence_id, "state": rec.state, "amount": amount_shown}
        )
    typer.echo(
        f"已登记 记录 #{rec.id}（期次 #{rec.occurrence_id}）"
        + (f"，金额 {amount_shown}" if amount_shown else "")
        + (f"，数量 {rec.count}" if rec.count != 1 else "")
        + "，待核验。"
    )


@app.command("import")
def import_records(
    path: Annotated[Path, typer.Argument(help="CSV 或 Excel（.xlsx）文件")],
    as_of: AsOf = None,
) -> None:
    """从 CSV/Excel 批量导入完成记录（全部成功才保存；同一文件只导入一次）。 Import records; all or nothing."""
    from shanhai.cli.importer import ImportError_, import_file

    when = _as_of(as_of)
    a = _ready(when)
    try:
        result = import_file(a, path, as_of=when)
    except ImportError_ as exc:
        typer.echo(str(exc), err=True)
        fail(f"{len(exc.problems)} 处有误，未导入任何记录 nothing imported")
    for warning in result.warnings:
        typer.echo(f"提示：{warning}")
    typer.echo(result.summary)


@app.command()
def verify(
    record_id: int,
    note: Annotated[str | None, typer.Option("--note")] = None,
    actor: Annotated[str, typer.Option("--by")] = "市招商局（经合办）",
) -> None:
    """核验通过一条记录（协调方）。 Verify a record."""
    _review(record_id, "verified", note, actor)


@app.command()
def reject(
    record_id: int,
    note: Annotated[str, typer.Option("--note", help="退回理由")],
    actor: Annotated[str, typer.Option("--by")] = "市招商局（经合办）",
) -> None:
    """退回一条记录，其不再计数，提醒恢复（协调方）。 Reject a record."""
    _review(record_id, "rejected", note, actor)


def _review(record_id: int, verdict: str, note: str | None, actor: str) -> None:
    from shanhai.models.errors import InputError
    from shanhai.models.records import review_record

    a = _app()
    a.migrate()
    try:
        with a.session() as session:
            review_record(session=session, record_id=record_id, verdict=verdict, actor=actor, note=note)
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}")
    typer.echo(f"记录 #{record_id}：{'已核验' if verdict == 'verified' else '已退回'}")


@app.command()
def waive(
    occurrence_id: int,
    reason: Annotated[str, typer.Option("--reason", help="豁免理由")],
    actor: Annotated[str, typer.Option("--by")] = "市招商局（经合办）",
) -> None:
    """豁免一个期次（协调方，须说明理由）。 Waive an occurrence."""
    from shanhai.models.errors import InputError
    from shanhai.models.records import waive_occurrence

    a = _app()
    a.migrate()
    try:
        with a.session() as session:
            waive_occurrence(session=session, occurrence_id=occurrence_id, reason=reason, actor=actor)
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}")
    typer.echo(f"期次 #{occurrence_id} 已豁免。")


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="输出的 .xlsx 文件")],
    as_of: AsOf = None,
    everything: Annotated[bool, typer.Option("--all", help="包含全部历史期次")] = False,
) -> None:
    """导出状态表到 Excel。 Export status to Excel."""
    from shanhai.cli.exports import export_excel

    when = _as_of(as_of)
    a = _ready(when)
    n = export_excel(a, path, as_of=when, everything=everything)
    typer.echo(f"已导出 {n} 行到 {path}")


@app.command()
def ics(
    unit: Annotated[str, typer.Argument(help="单位名称，如 泰顺县")],
    out: Annotated[Path | None, typer.Option("-o", "--output", help="输出文件；默认标准输出")] = None,
    as_of: AsOf = None,
) -> None:
    """某单位的期限日历（ICS，每项期限前3天09:00提醒）。 An ICS calendar of a unit's deadlines."""
    from shanhai.cli.ics import unit_calendar

    when = _as_of(as_of)
    if out is not None and not out.parent.is_dir():
        fail(f"-o：目录不存在：{out.parent}（请先创建该目录）")
    a = _ready(when)
    try:
        data = unit_calendar(a, unit, as_of=when)
    except ValueError as exc:
        fail(str(exc))
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(f"-o：无法写入 {out}：{exc.strerror or exc}")
    typer.echo(f"已写入 {out}")


@app.command()
def demo(as_of: AsOf = None) -> None:
    """载入演示历史（多年记录，部分逾期、部分缺失；只载入一次）。 Load the demo history."""
    from shanhai.cli.demo import load_demo_history

    when = _as_of(as_of)
    a = _ready(when)
    n = load_demo_history(a, as_of=when)
    typer.echo(f"演示历史：新增 {n} 条记录。" if n else "演示历史已载入，未重复载入。")


@app.command()
def remind(
    as_of: AsOf = None,
    obligation: Annotated[str | None, typer.Option("--obligation", help="只检查某一事项")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只预览：不写发件箱、不发送")] = False,
    as_json: Json = False,
) -> None:
    """计算此刻应发的提醒与督办，写入发件箱并投递（与 Prefect 流程相同）。 Plan and send reminders."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.dispatch import check_obligation, deliver_outbox

    when = _as_of(as_of)
    a = _app()
    try:
        result = check_obligation(a, obligation, as_of=when, dry_run=dry_run)
        # as_of chooses what to plan; what leaves the machine follows the real clock (working hours)
        report = None if dry_run else deliver_outbox(a)
    except ChannelConfigError as exc:
        fail(f"渠道配置有误 channel configuration is invalid:\n{exc}")
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        return _emit_json(result.messages)
    output.messages(result.messages, dry_run=dry_run)
    typer.echo(result.summary)
    if report is not None:
        typer.echo(report.summary)
        if a.settings.apprise_config is None:
            typer.echo("未配置任何渠道（SHANHAI_APPRISE_CONFIG）：消息只保存在本地发件箱，没有离开本机。")


@app.command()
def deliver(as_of: AsOf = None) -> None:
    """投递发件箱中待发送或待重试的消息。 Deliver the outbox."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.dispatch import deliver_outbox

    a = _app()
    try:
        report = deliver_outbox(a, as_of=_as_of(as_of) if as_of else None)
    except ChannelConfigError as exc:
        fail(f"渠道配置有误 channel configuration is invalid:\n{exc}")
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
    from shanhai.notifications.dispatch import send_digest

    if audience not in ("coordinator", "supervisor"):
        fail(f"audience：应为 coordinator 或 supervisor，而不是 '{audience}'")
    try:
        result = send_digest(_app(), audience=audience, as_of=_as_of(as_of), dry_run=dry_run)  # type: ignore[arg-type]
    except ChannelConfigError as exc:
        fail(f"渠道配置有误 channel configuration is invalid:\n{exc}")
    if as_json:
        return _emit_json(result.messages)
    output.messages(result.messages, dry_run=dry_run)
    typer.echo(result.summary)


@app.command()
def outbox(
    limit: Annotated[int, typer.Option("--limit", help="最多显示条数")] = 50,
    show: Annotated[int | None, typer.Option("--show", help="显示某条消息全文")] = None,
    as_json: Json = False,
) -> None:
    """发件箱：已写入的消息及其投递状态。 List stored messages with delivery state."""
    from shanhai.cli.views import outbox_items

    a = _app()
    a.migrate()
    items = outbox_items(a, limit=limit, message_id=show)
    if show is not None:
        if not items:
            fail(f"没有编号为 {show} 的消息")
        typer.echo(f"{items[0]['title']}\n\n{items[0]['body']}")
        return
    if as_json:
        return _emit_json(items)
    rows = [
        {**i, "deliveries_text": "、".join(f"{d['channel']}:{d['status']}" for d in i["deliveries"])}
        for i in items
    ]
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


@app.command()
def channels(as_json: Json = False) -> None:
    """检查并列出各单位的消息渠道（SHANHAI_APPRISE_CONFIG，密钥已遮蔽）。 Validate and list channels."""
    from shanhai.notifications.channels import ChannelConfigError
    from shanhai.notifications.dispatch import configured_channels

    a = _app()
    try:
        by_unit = configured_channels(a)
    except ChannelConfigError as exc:
        fail(f"渠道配置有误 channel configuration is invalid:\n{exc}")
    units = {u.code: u.name for u in a.catalogue.units.values()}
    items = [
        {"unit": units[code], "code": code, "channel": ch.masked_url, "scheme": ch.scheme}
        for code, chs in by_unit.items()
        for ch in chs
    ]
    if as_json:
        return _emit_json(items)
    if not items:
        typer.echo(
            "未配置任何渠道（SHANHAI_APPRISE_CONFIG 未设置或文件不存在）：消息只保存在本地发件箱，不会离开本机。"
        )
        return
    output.table(
        items, [("unit", "单位"), ("code", "标签"), ("scheme", "类型"), ("channel", "渠道（已遮蔽）")]
    )
    missing = [name for code, name in units.items() if code not in by_unit]
    if missing:
        typer.echo(f"未配置渠道的单位（消息留在本地发件箱）：{'、'.join(missing)}")


@app.command()
def up() -> None:
    """一键启动本地全部服务：Prefect 服务器、工作进程、全部部署、事项目录与演示历史；Ctrl-C 停止。 Start everything."""
    from shanhai.cli.up import up_command

    up_command()


def main() -> None:
    import warnings

    # the working calendar's fallback is already logged once, in full; don't print it a second time
    warnings.filterwarnings("ignore", message="工作日历", category=RuntimeWarning)
    app()


if __name__ == "__main__":
    main()
