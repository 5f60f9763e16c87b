"""Commands that show status: the status list, the board, Excel and ICS exports, the demo history, up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shanhai.cli import output
from shanhai.cli.app import AsOf, Json, app, as_of_option, emit_json, fail, ready_app


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
    from shanhai.app import AS_OF_YEARS
    from shanhai.models.queries import status_items

    when = as_of_option(as_of)
    if year is not None and not AS_OF_YEARS[0] <= year <= AS_OF_YEARS[1]:
        fail(f"--year：{year} 不在 {AS_OF_YEARS[0]}—{AS_OF_YEARS[1]} 年之间")
    a = ready_app(when)
    try:
        items = status_items(
            a, as_of=when, scope=scope, obligation=obligation, year=year, everything=everything
        )
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        return emit_json(items)
    from shanhai.models.holiday_watch import likely_bridges

    years = {int(it["due"][:4]) for it in items if it["provisional_calendar"]}
    output.status_table(items, bridged={d.isoformat() for y in years for d in likely_bridges(a.calendar, y)})


@app.command()
def board(as_of: AsOf = None) -> None:
    """总览：结对 × 事项 红黄绿灯。 The board: pairings x obligations."""
    from shanhai.models.holiday_watch import missing_notice
    from shanhai.models.localtime import local_date
    from shanhai.models.queries import board_grid

    when = as_of_option(as_of)
    a = ready_app(when)
    output.board(board_grid(a, as_of=when), when)
    notice = missing_notice(a.calendar, local_date(when))
    if notice:
        typer.echo(f"！！{notice}")


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="输出的 .xlsx 文件")],
    as_of: AsOf = None,
    everything: Annotated[bool, typer.Option("--all", help="包含全部历史期次")] = False,
) -> None:
    """导出状态表到 Excel（按紧急程度排序，含责任单位与截至时间，可筛选）。 Export status to Excel."""
    from shanhai.cli.exports import ExportError, check_target, export_excel

    when = as_of_option(as_of)
    try:
        check_target(path)
        a = ready_app(when)
        n = export_excel(a, path, as_of=when, everything=everything)
    except ExportError as exc:
        fail(str(exc))
    typer.echo(f"已导出 {n} 行到 {path}")


@app.command()
def ics(
    unit: Annotated[str, typer.Argument(help="单位名称，如 泰顺县")],
    out: Annotated[Path | None, typer.Option("-o", "--output", help="输出文件；默认标准输出")] = None,
    as_of: AsOf = None,
) -> None:
    """某单位的期限日历（ICS，每项期限前3天09:00提醒）。 An ICS calendar of a unit's deadlines."""
    from shanhai.cli.exports import ExportError, check_target
    from shanhai.models.ics import unit_calendar

    when = as_of_option(as_of)
    if out is not None:
        try:
            check_target(out)  # a missing folder, a directory, a FIFO (whose open would wait), a device
        except ExportError as exc:
            fail(f"-o：{exc}")
    a = ready_app(when)
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

    when = as_of_option(as_of)
    a = ready_app(when, need_db=False, preview="status --as-of（只读）")
    n = load_demo_history(a, as_of=when)
    typer.echo(f"演示历史：新增 {n} 条记录。" if n else "演示历史已载入，未重复载入。")


@app.command()
def up() -> None:
    """一键启动本地全部服务：Prefect 服务器、工作进程、全部部署、事项目录与演示历史；Ctrl-C 停止。 Start everything."""
    from shanhai.cli.up import up_command

    up_command()
