"""Commands on the catalogue: init, validate, obligations, 附件1 plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shanhai.cli import output
from shanhai.cli.app import AsOf, Json, app, as_of_option, catalogue_app, emit_json, fail, load_app


@app.command()
def init(
    as_of: AsOf = None,
    tracking_from: Annotated[
        str | None,
        typer.Option(
            "--tracking-from",
            help="跟踪起点 YYYY-MM-DD：此前到期的期次只作历史（不提醒、不督办）；默认首次初始化当年的1月1日。",
        ),
    ] = None,
) -> None:
    """初始化：迁移数据库并载入事项目录（可重复执行）。 Migrate and load the catalogue (idempotent)."""
    from shanhai.app import AS_OF_YEARS
    from shanhai.models.errors import InputError
    from shanhai.models.grammar import parse_date

    when = as_of_option(as_of)
    start = None
    if tracking_from is not None:
        try:
            start = parse_date(tracking_from, field="tracking-from", what="跟踪起点")
        except InputError as exc:
            fail(f"--tracking-from：{exc.message}")
        if not AS_OF_YEARS[0] <= start.year <= AS_OF_YEARS[1]:
            fail(f"--tracking-from：{start} 不在 {AS_OF_YEARS[0]}—{AS_OF_YEARS[1]} 年之间")
    a = load_app(need_db=False)
    report = a.sync(as_of=when)
    if start is not None:
        a.set_tracking_from(start, actor="cli")
    typer.echo(
        f"数据目录 {a.settings.home_dir}（SHANHAI_HOME）\n"
        f"数据库 {a.database_location}\n"
        f"单位 {report.units} 个；事项 新增 {report.obligations_added}、变更 {report.obligations_changed}；"
        f"期次 新增 {report.occurrences_added}、更新 {report.occurrences_updated}、移除 {report.occurrences_removed}"
        + ("" if report.changed else "（无变化）")
        + f"\n跟踪起点 {a.tracking_from()}：此前到期的期次只作历史，不提醒、不督办。"
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
        if not path.exists():
            fail(f"SHANHAI_CATALOGUE_DIR：事项目录不存在：{path}")
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
        f"{len(cat.pairings)} 对结对，{len(cat.parks)} 个园区，附件1 {len(cat.plans)} 行，"
        f"调整（overrides.yaml）{sum(len(a) for a in cat.amendments.values())} 条"
    )


@app.command()
def obligations(as_json: Json = False) -> None:
    """列出事项目录中的全部事项。 List obligations."""
    from shanhai.models.queries import obligation_items

    items = obligation_items(load_app(need_db=False).catalogue)
    if as_json:
        return emit_json(items)
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
            ("in_force_until", "止"),
            ("source", "依据"),
        ],
    )
    for item in items:
        for o in item["overrides"]:
            typer.echo(f"调整 {item['id']}：{o['summary']}（依据：{o['source']}）" + (f"；{o['note']}" if o.get("note") else ""))


@app.command()
def plans(as_json: Json = False) -> None:
    """附件1 生态旅游文化产业园投资计划（万元）。 List the 附件1 plan rows."""
    from shanhai.models.queries import plan_items

    cat = load_app(need_db=False).catalogue
    items = plan_items(cat)
    if as_json:
        return emit_json(items)
    from shanhai.models.progress import PLAN_KIND_LABELS

    output.table(
        [{**i, "kind": PLAN_KIND_LABELS.get(i["kind"], i["kind"])} for i in items],
        [
            ("park", "产业园"),
            ("year", "年度"),
            ("kind", "类别"),
            ("projects", "项目数"),
            ("planned_total", "计划总投资（万元）"),
            ("planned_completion", "计划完成数（万元）"),
        ],
    )
    for stated in cat.plan_totals:
        total = sum(r.planned_total for r in stated.rows)
        typer.echo(f"计划总投资合计 {total:,} 万元 = {total / 10_000:.1f} 亿元（文件所述 {stated.stated_total_yi:g} 亿元）")
        if stated.note:
            typer.echo(f"说明：{stated.note}")


@app.command()
def units(as_of: AsOf = None, as_json: Json = False) -> None:
    """各单位及其沿革（更名、合并，自何日起、依据）与消息渠道。 Units, their history and channels."""
    from shanhai.cli.channels import _load
    from shanhai.models.localtime import local_date
    from shanhai.models.unit_history import history_text, unit_items

    day = local_date(as_of_option(as_of))
    a = load_app(need_db=False)
    by_code = {code: [ch.masked_url for ch in chs] for code, chs in (_load(a) or {}).items()}
    items = unit_items(a.catalogue.units, day, by_code)
    if as_json:
        return emit_json(items)
    output.table(
        [
            {
                **i,
                "state": "现行" if i["current"] else f"已由{i['carried_by']}承接",
                "history": history_text(i),
                "channel_text": "、".join(i["channels"]) or ("—" if i["current"] else "（不再接收）"),
            }
            for i in items
        ],
        [("name", "单位"), ("code", "标签"), ("kind", "类别"), ("state", f"{day} 状态"), ("history", "沿革"),
         ("channel_text", "渠道（已遮蔽）")],
    )
