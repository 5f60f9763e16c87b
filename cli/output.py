"""Plain-text tables for the terminal, aware of the double width of Chinese characters."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import typer

from shanhai.models.text import display_width

MAX_LIMIT = 10_000  # rows a listing's --limit may ask for

LIGHT = {"green": "🟢", "yellow": "🟡", "red": "🔴", "grey": "⚪"}


width = display_width


def check_limit(limit: int | None) -> None:
    """``--limit`` of a listing: 1 to MAX_LIMIT, or None for all."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        typer.echo(f"错误 error: --limit：应为 1 到 {MAX_LIMIT} 之间的整数，而不是 {limit}", err=True)
        raise typer.Exit(1)


@contextlib.contextmanager
def paged() -> Iterator[None]:
    """On a terminal, a long listing goes through the pager (``less``; ``$PAGER`` wins) instead of
    scrolling past; piped or redirected, it is printed as it is."""
    if not sys.stdout.isatty():
        yield
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    import pydoc

    pydoc.pager(buffer.getvalue())


def pad(text: str, w: int) -> str:
    return text + " " * max(0, w - width(text))


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict) and "value" in v and "unit" in v:
        return f"{v['value']:g} {v['unit']}"
    return str(v)


def table(items: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    rows = [[_cell(item.get(k)) for k, _ in columns] for item in items]
    heads = [h for _, h in columns]
    widths = [max([width(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(heads)]
    typer.echo("  ".join(pad(h, w) for h, w in zip(heads, widths, strict=True)))
    for r in rows:
        typer.echo("  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"共 {len(items)} 项")


def status_table(items: Sequence[dict[str, Any]], *, bridged: set[str] | frozenset[str] = frozenset()) -> None:
    """``bridged``: ISO due dates the notice will likely give off (可能调休), marked beside the date."""
    from shanhai.models.holiday_watch import LIKELY_BRIDGE_MARK
    from shanhai.models.progress import progress_text
    from shanhai.models.statuses import label_of
    from shanhai.models.working_days import PROVISIONAL_MARK, provisional_footnote

    rows = []
    for it in items:
        label = label_of(it["status"], it.get("history"))
        if it["status"] == "overdue" and it["escalation_level"]:
            label += f"（督办{it['escalation_level']}级）"
        if it["pending"]:
            label += "·待核验"
        rows.append(
            {
                **it,
                "light_label": f"{LIGHT[it['light']]} {label}",
                "progress_text": progress_text(it["progress"]),
                "due_text": (f"{it['due']}（{PROVISIONAL_MARK}" + (f"·{LIKELY_BRIDGE_MARK}" if it["due"] in bridged else "")
                             + "）") if it["provisional_calendar"] else it["due"],
                "accountable_text": "、".join(it["accountable"]) or "—",
            }
        )
    table(
        rows,
        [
            ("id", "#"),
            ("light_label", "状态"),
            ("title", "事项"),
            ("clause", "条款"),
            ("scope", "范围"),
            ("accountable_text", "责任单位"),
            ("period", "期次"),
            ("due_text", "期限"),
            ("progress_text", "进度"),
        ],
    )
    provisional = {int(it["due"][:4]) for it in items if it["provisional_calendar"]}
    if provisional:
        typer.echo(provisional_footnote(provisional))
    if any(it["due"] in bridged for it in items):
        typer.echo(f"标“{LIKELY_BRIDGE_MARK}”的期限：近三年国务院办公厅通知均在该日放假（调休），"
                   "通知导入后期限可能顺延。")


def records_table(items: Sequence[dict[str, Any]]) -> None:
    from shanhai.models.statuses import record_label

    rows = []
    for it in items:
        remark = it["note"] or ""
        if it["review_note"]:
            remark = f"{remark}（审核：{it['review_note']}）" if remark else f"审核：{it['review_note']}"
        if it["same_event"]:
            others = "、".join(f"#{i}" for i in it["same_event"])
            remark = f"同一活动（另见 {others}，计 1 次）；{remark}".rstrip("；")
        if it["reported_late"]:
            remark = f"补报（{it['date']} 完成，期限后登记）；{remark}".rstrip("；")
        rows.append(
            {
                **it,
                "state_label": record_label(it["state"]),
                "measure": it["amount"] or str(it["count"]),
                "remark": remark or None,
            }
        )
    table(
        rows,
        [
            ("id", "#"),
            ("state_label", "审核"),
            ("title", "事项"),
            ("scope", "范围"),
            ("period", "期次"),
            ("date", "完成日期"),
            ("measure", "金额/数量"),
            ("category", "类别"),
            ("evidence", "证明材料"),
            ("submitted_at", "登记时间"),
            ("remark", "说明"),
        ],
    )


def board(grid: dict[str, Any], as_of: datetime) -> None:
    from shanhai.models.localtime import format_local
    from shanhai.models.statuses import LIGHT_LABELS, Light, Status

    typer.echo(f"山海协作工程 督办总览 · {format_local(as_of)}（北京时间）")
    cols = grid["columns"]
    names = [f"{r['title']}" for r in grid["rows"]]
    w0 = max([width(n) for n in names] + [8])
    typer.echo(pad("事项", w0) + "  " + "  ".join(cols))
    for row, name in zip(grid["rows"], names, strict=True):
        cells = []
        for c in cols:
            st = grid["cells"].get(f"{row['obligation']}|{c}")
            mark = LIGHT[Status(st).light] if st else "·"
            cells.append(pad(mark, width(c)))
        typer.echo(pad(name, w0) + "  " + "  ".join(cells))
    typer.echo("  ".join(f"{LIGHT[light]} {LIGHT_LABELS[light]}" for light in Light) + "  · 不适用")


def messages(items: Sequence[dict[str, Any]], *, dry_run: bool) -> None:
    from shanhai.models.statuses import label_of
    from shanhai.models.working_days import PROVISIONAL_MARK, provisional_footnote

    head = "预览（未写入、未发送）" if dry_run else "本次写入发件箱"
    typer.echo(f"{head}：{len(items)} 条消息")
    for m in items:
        role = m.get("role_label") or m["role"]
        typer.echo(f"→ {m['recipient']}（{role}）· {m['stage_label']} · {len(m['items'])} 项")
        for it in m["items"]:
            copied = "（抄送）" if it.get("role") == "co" else ""
            mark = f"（{PROVISIONAL_MARK}）" if it["provisional_calendar"] else ""
            typer.echo(
                f"    {it['due']}{mark}  {label_of(it['status'])}  {it['title']}（{it['scope']}）{copied}"
            )
    provisional = {int(it["due"][:4]) for m in items for it in m["items"] if it["provisional_calendar"]}
    if provisional:
        typer.echo(provisional_footnote(provisional))
