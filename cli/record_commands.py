"""Commands on completion records: record, import, the coordinator's review, waivers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shanhai.cli import output
from shanhai.cli.app import AsOf, Json, app, as_of_option, emit_json, fail, load_app, ready_app

# record and import store what happened; what a future day would look like is only ever previewed
STATUS_PREVIEW = "shanhai status --as-of（只读预览）或门户的预览"


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
        str | None, typer.Option("--count", help="数量（次、个、人次），默认 1；按次数计的事项不填金额")
    ] = None,
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
    from shanhai.models.errors import InputError
    from shanhai.models.records import amount_text, record_completion

    when = as_of_option(as_of)
    day, n, fen = _typed_fields(on, count, amount)
    a = ready_app(when, preview=STATUS_PREVIEW)
    try:
        with a.session() as session:
            rec = record_completion(
                a.catalogue,
                session=session,
                obligation_id=obligation,
                scope=scope,
                on=day,
                as_of=when,
                count=n,
                amount_fen=fen,
                category=category,
                note=note,
                evidence=evidence,
                evidence_dir=a.settings.evidence_dir,
                max_evidence_bytes=a.settings.max_evidence_bytes,
                period=period,
                now=a.clock(),
            )
            late = _late_report_note(session, rec, entered=min(when, a.clock()))
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}（未保存 nothing stored）")
    amount_shown = amount_text(a.catalogue, obligation, rec.amount_fen)
    if as_json:
        return emit_json(
            {"id": rec.id, "occurrence": rec.occurrence_id, "state": rec.state, "amount": amount_shown}
        )
    typer.echo(
        f"已登记 记录 #{rec.id}（期次 #{rec.occurrence_id}）"
        + (f"，金额 {amount_shown}" if amount_shown else "")
        + (f"，数量 {rec.count}" if rec.count != 1 else "")
        + "，待核验。"
        + late
    )


def _typed_fields(on: str, count: str | None, amount: str | None):
    """The date, count and amount as typed, read by the grammar the portal and imports read too (the same
    text gets the same answer everywhere); a refusal names the option and stores nothing."""
    from shanhai.models.amounts import parse_amount, parse_count
    from shanhai.models.errors import InputError
    from shanhai.models.grammar import parse_date

    try:
        return parse_date(on), parse_count(count), parse_amount(amount) if amount is not None else None
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}（未保存 nothing stored）")


def _late_report_note(session, rec, *, entered) -> str:
    """"（补报：…）" when the record is dated by its due date but entered after it, else ""."""
    from shanhai.models.localtime import local_date
    from shanhai.models.queries import reported_late
    from shanhai.models.tables import Occurrence

    occ = session.get(Occurrence, rec.occurrence_id)
    if occ is None or not reported_late(rec.date, local_date(entered), occ.due):
        return ""
    return f"（补报：{rec.date} 完成，在期限后登记，按期计入 {occ.period} 期次）"


@app.command("import")
def import_records(
    path: Annotated[Path, typer.Argument(help="CSV 或 Excel（.xlsx）文件")],
    as_of: AsOf = None,
) -> None:
    """从 CSV/Excel 批量导入完成记录（全部成功才保存；同一文件只导入一次）。 Import records; all or nothing."""
    from shanhai.cli.importer import ImportError_, import_file

    when = as_of_option(as_of)
    a = ready_app(when, preview=STATUS_PREVIEW)
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
    record_id: Annotated[int, typer.Argument(help="记录编号，见 shanhai records --pending")],
    note: Annotated[str | None, typer.Option("--note", help="核验说明（可选）")] = None,
    actor: Annotated[str, typer.Option("--by", help="审核人")] = "市招商局（经合办）",
) -> None:
    """核验通过一条待核验的记录（协调方；每条记录只审核一次）。 Verify a submitted record."""
    _review(record_id, "verified", note, actor)


@app.command()
def reject(
    record_id: Annotated[int, typer.Argument(help="记录编号，见 shanhai records --pending")],
    note: Annotated[str, typer.Option("--note", help="退回理由（告知填报单位，永久保留）")],
    actor: Annotated[str, typer.Option("--by", help="审核人")] = "市招商局（经合办）",
) -> None:
    """退回一条待核验的记录：其不再计数，提醒恢复；更正须登记新记录（协调方）。 Reject a submitted record."""
    _review(record_id, "rejected", note, actor)


def _review(record_id: int, verdict: str, note: str | None, actor: str) -> None:
    from shanhai.models.errors import InputError
    from shanhai.models.records import review_record

    a = load_app()
    a.migrate()
    try:
        with a.session() as session:
            review_record(session=session, record_id=record_id, verdict=verdict, actor=actor, note=note)
    except InputError as exc:
        fail(_input_error(exc))
    typer.echo(f"记录 #{record_id}：{'已核验' if verdict == 'verified' else '已退回'}")


def _input_error(exc) -> str:
    """An option's error names the option; the record or occurrence (the argument) names itself."""
    return exc.message if exc.field in ("record", "occurrence") else f"--{exc.field}：{exc.message}"


@app.command()
def records(
    pending: Annotated[bool, typer.Option("--pending", help="只看待核验（submitted）的记录")] = False,
    scope: Annotated[
        str | None, typer.Option("--scope", help="结对（如 泰顺-鹿城）、单位、园区或 全市")
    ] = None,
    obligation: Annotated[str | None, typer.Option("--obligation", help="事项编号")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help=f"最多列出条数（1–{output.MAX_LIMIT}）；默认全部")
    ] = None,
    as_json: Json = False,
) -> None:
    """完成记录：待核验的在前（最早登记的在前），供 verify / reject 使用编号。 List completion records."""
    from shanhai.models.queries import record_items

    output.check_limit(limit)
    a = load_app()
    a.migrate()
    try:
        items = record_items(a, pending=pending, scope=scope, obligation=obligation)
    except ValueError as exc:
        fail(str(exc))
    if limit is not None:
        items = items[:limit]
    if as_json:
        return emit_json(items)
    with output.paged():
        output.records_table(items)


@app.command()
def waive(
    occurrence_id: Annotated[
        int, typer.Argument(metavar="OCCURRENCE_ID", help="期次编号：shanhai status 表格第一列（--json 的 id，Excel 的 期次#）")
    ],
    reason: Annotated[str, typer.Option("--reason", help="豁免理由（必填，永久记入审计日志）")],
    actor: Annotated[str, typer.Option("--by", help="豁免人（记入审计日志）")] = "市招商局（经合办）",
) -> None:
    """豁免一个期次：此后不再提醒、不再督办，状态为“已豁免”（灰灯）。由协调方执行，须说明理由；每个期次只能豁免一次，不能撤销。
    Waive an occurrence (coordinator; once, with a reason): no more reminders or escalation."""
    from shanhai.models.errors import InputError
    from shanhai.models.records import waive_occurrence

    a = load_app()
    a.migrate()
    try:
        with a.session() as session:
            waive_occurrence(session=session, occurrence_id=occurrence_id, reason=reason, actor=actor)
    except InputError as exc:
        fail(_input_error(exc))
    typer.echo(f"期次 #{occurrence_id} 已豁免。")
