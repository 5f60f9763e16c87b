"""`shanhai holidays`: where a year's working days come from, and importing the State Council notice.

    shanhai holidays 2027 [--json]              the year (a leading year runs the hidden `show`)
    shanhai holidays parse 通知.txt [--json]     what the notice says, nothing written
    shanhai holidays import 通知.txt             write the year into calendar/holidays.yaml

No database and no Prefect: these read the catalogue folder's holiday file and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from shanhai.cli.app import Json, emit_json, fail

_SOURCE_NAMES = {
    "official": "官方（chinese-calendar，依国务院办公厅通知）",
    "file": "节假日文件",
    "provisional": "临时（按《全国年节及纪念日放假办法》推算，不含调休）",
}
_OFFICIAL_NAMES = {
    "new_years_day": "元旦",
    "spring_festival": "春节",
    "tomb_sweeping_day": "清明节",
    "labour_day": "劳动节",
    "dragon_boat_festival": "端午节",
    "mid_autumn_festival": "中秋节",
    "national_day": "国庆节",
    "anti_fascist_70th_day": "抗战胜利70周年纪念日",
}


class _YearFirstGroup(TyperGroup):
    """`holidays 2027` is `holidays show 2027`; words still name the subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors its own click Context
        if args and re.fullmatch(r"\d{1,4}", args[0]):
            args = ["show", *args]
        return super().parse_args(ctx, args)


holidays_app = typer.Typer(
    cls=_YearFirstGroup,
    help="工作日历：某年的节假日与调休从何而来；解析并导入国务院办公厅的节假日安排通知。"
    " 用法：shanhai holidays 年份 [--json]；shanhai holidays parse 通知.txt；shanhai holidays import 通知.txt",
    no_args_is_help=True,
)

MAX_NOTICE_BYTES = 1 << 20  # the State Council's notice is a few kilobytes of text
NoticePath = Annotated[Path, typer.Argument(help="通知全文（UTF-8 纯文本），如从中国政府网复制的 通知.txt")]


def _holiday_path() -> Path:
    """Where default_calendar reads the holiday file; a catalogue folder that is not there ends the
    command (showing the law's calendar for it would hide the mistake, importing would create it)."""
    from shanhai.models.holiday_file import HOLIDAY_FILE_NAME
    from shanhai.settings import get_settings

    folder = get_settings().catalogue_dir
    if not folder.is_dir():
        what = "不是目录" if folder.exists() else "不存在"
        fail(f"SHANHAI_CATALOGUE_DIR：事项目录{what}：{folder}（节假日文件 {HOLIDAY_FILE_NAME} 在该目录中）")
    return folder / HOLIDAY_FILE_NAME


def _calendar():
    from shanhai.models.holiday_file import HolidayFileError
    from shanhai.models.working_days import WorkingCalendar

    path = _holiday_path()
    try:
        return WorkingCalendar.from_file(path)
    except HolidayFileError as exc:
        fail(f"节假日文件有误 the holiday file is invalid:\n{exc}")


def _payload(year: int, source: str, off: list[date], on: list[date], bridges: Sequence[date] = ()) -> dict[str, Any]:
    return {"year": year, "source": source, "off": [d.isoformat() for d in off], "on": [d.isoformat() for d in on],
            "likely_bridges": [d.isoformat() for d in bridges]}


def _names(year: int, source: str) -> dict[date, str]:
    """What each day off is, where the source says so."""
    if source == "official":
        import chinese_calendar

        names: dict[date, str] = {}
        for d in chinese_calendar.get_dates(date(year, 1, 1), date(year, 12, 31)):
            _, holiday = chinese_calendar.get_holiday_detail(d)
            if holiday:
                key = getattr(chinese_calendar.Holiday(holiday), "name", "")
                names[d] = _OFFICIAL_NAMES.get(key, holiday) + ("（调休）" if chinese_calendar.is_in_lieu(d) else "")
        return names
    if source == "provisional":
        from shanhai.models.statutory_holidays import provisional_days

        names = {}
        for s in provisional_days(year):
            names.setdefault(s.day, f"{s.festival} {s.label}")
        return names
    return {}


def _listing(off: list[date], on: list[date], names: dict[date, str]) -> None:
    from shanhai.models.localtime import weekday_name

    typer.echo(f"放假的工作日（周一至周五）{len(off)} 天：")
    for d in off:
        typer.echo(f"  {d.isoformat()} {weekday_name(d)}  {names.get(d, '')}".rstrip())
    typer.echo(f"调休上班的周末 {len(on)} 天：" + ("" if on else "无"))
    for d in on:
        typer.echo(f"  {d.isoformat()} {weekday_name(d)}  {names.get(d, '')}".rstrip())


@holidays_app.command("show", hidden=True)
def show(
    year: Annotated[int, typer.Argument(help="年份，如 2027")],
    as_json: Json = False,
) -> None:
    """某年的工作日历及其来源（official | file | provisional）。 A year's calendar and where it comes from."""
    from shanhai.app import AS_OF_YEARS

    first, last = AS_OF_YEARS  # the years any command evaluates; the law's calendar means nothing for 888
    if not first <= year <= last:
        fail(f"年份 {year} 超出范围（{first}–{last}）")
    from shanhai.models.holiday_watch import likely_bridges

    cal = _calendar()
    source = cal.source(year)
    off, on = cal.deviations(year)
    bridges = likely_bridges(cal, year)
    if as_json:
        return emit_json(_payload(year, source, off, on, bridges))
    where = _SOURCE_NAMES[source]
    if source == "file":
        from shanhai.models.holiday_file import load_holiday_file

        where += f" {_holiday_path()}（{load_holiday_file(_holiday_path())[year].source or '未注明出处'}）"
    typer.echo(f"{year} 年工作日历 来源 source: {source} — {where}")
    if source == "provisional":
        typer.echo(
            f"！！注意：{year} 年是临时日历 PROVISIONAL：只含法定假日及其补假，不含国务院办公厅通知的调休"
            "（调休放假的工作日仍算工作日，调休上班的周末仍算休息日），节假日前后的期限可能有误。\n"
            f"！！修正方法：国务院办公厅《关于{year}年部分节假日安排的通知》发布后，把全文存为 通知.txt，"
            "运行 shanhai holidays import 通知.txt"
        )
    _listing(off, on, _names(year, source))
    _bridges(bridges)


def _bridges(days: list[date]) -> None:
    from shanhai.models.holiday_watch import LIKELY_BRIDGE_MARK
    from shanhai.models.localtime import weekday_name

    if not days:
        return
    typer.echo(f"{LIKELY_BRIDGE_MARK} {len(days)} 天（临时日历按工作日计算，但近三年国务院办公厅通知均在该日放假；"
               "通知导入前，落在这些日子的期限可能顺延）：")
    for d in days:
        typer.echo(f"  {d.isoformat()} {weekday_name(d)}  {LIKELY_BRIDGE_MARK}")


def _read(path: Path):
    from shanhai.models.errors import InputError
    from shanhai.models.files import read_regular_file
    from shanhai.models.holiday_notice import NoticeError, read_notice

    try:
        data = read_regular_file(path, max_bytes=MAX_NOTICE_BYTES, field="NOTICE", what="通知文件")
    except InputError as exc:
        fail(exc.message)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} 不是 UTF-8 文本；请另存为 UTF-8 纯文本")
    try:
        return read_notice(text, name=str(path))
    except NoticeError as exc:
        fail(str(exc))


def _day(d: date, year: int) -> str:
    return f"{d.month}月{d.day}日" if d.year == year else f"{d.year}年{d.month}月{d.day}日"


def _spill(notice) -> list[date]:
    """Days the notice names in another year that change whether that day is worked."""
    return sorted({d for d in notice.outside_off if d.weekday() < 5} | set(notice.outside_workdays))


@holidays_app.command("parse")
def parse(path: NoticePath, as_json: Json = False) -> None:
    """解析通知并显示结果，不写入任何文件。 Parse a notice; write nothing."""
    notice = _read(path)
    arrangement = notice.arrangement
    off, on = arrangement.deviations()
    if as_json:
        return emit_json(_payload(notice.year, "file", off, on))
    typer.echo(f"{arrangement.source}\n{notice.year} 年：{len(notice.lines)} 个节假日行，解析无误（未写入）")
    for item in notice.lines:
        days = "、".join(_day(d, notice.year) for d in item.off)
        work = "；上班 " + "、".join(_day(d, notice.year) for d in item.workdays) if item.workdays else ""
        typer.echo(f"  第{item.line}行 {item.festivals}：放假 {days}{work}")
    for d in _spill(notice):
        typer.echo(f"  注意：{d.isoformat()} 属于 {d.year} 年，不写入 {notice.year} 年的条目")
    _listing(off, on, {})


@holidays_app.command("import")
def import_notice(path: NoticePath) -> None:
    """解析通知并写入事项目录的 holidays.yaml（chinese-calendar 已知的年份不写入）。 Import a notice."""
    from shanhai.models.holiday_file import HolidayFileError, load_holiday_file, save_year
    from shanhai.models.working_days import WorkingCalendar, official_year_known

    notice = _read(path)
    arrangement, year = notice.arrangement, notice.year
    off, on = arrangement.deviations()
    if official_year_known(year):
        official_off, official_on = WorkingCalendar().deviations(year)
        if (official_off, official_on) == (off, on):
            typer.echo(f"{year} 年 chinese-calendar 已知，且与通知逐日一致：无需导入，未写入任何文件。")
            return
        differ = sorted(set(official_off) ^ set(off) | set(official_on) ^ set(on))
        fail(
            f"{year} 年 chinese-calendar 已知，但与该通知不一致（{len(differ)} 天不同："
            + "、".join(d.isoformat() for d in differ[:10])
            + ("…" if len(differ) > 10 else "")
            + "）。chinese-calendar 已知的年份以它为准，未写入任何文件；请核对通知是否完整、年份是否正确。"
        )
    target = _holiday_path()
    cal = _calendar()
    wrong = [d for d in _spill(notice) if cal.is_working_day(d) != (d in notice.outside_workdays)]
    if wrong:
        fail(
            "通知涉及其他年份的日期，而该年的日历与通知不符："
            + "、".join(d.isoformat() for d in wrong)
            + "。请先导入该年份的通知；未写入任何文件。"
        )
    try:
        before = load_holiday_file(target).get(year)
        if before == arrangement:
            typer.echo(f"{target} 中的 {year} 年已与该通知一致：未改动。")
            return
        save_year(target, arrangement)
    except HolidayFileError as exc:
        fail(f"节假日文件有误，未写入 the holiday file is invalid, nothing written:\n{exc}")
    except OSError as exc:
        fail(f"无法写入 {target}：{exc.strerror or exc}（未改动）")
    action = "已更新" if before is not None else "已写入"
    typer.echo(
        f"{action} {target}：{year} 年，放假的工作日 {len(off)} 天，调休上班的周末 {len(on)} 天"
        f"（{arrangement.source}）。{year} 年的工作日历来源现为 file。"
    )
