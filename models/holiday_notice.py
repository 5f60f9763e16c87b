"""Read the State Council's notice 《国务院办公厅关于YYYY年部分节假日安排的通知》 as published.

The year comes from the title.  Each numbered line (``一、元旦：…``) names its holidays and says,
sentence by sentence, which days are off and which weekend days are worked.  The wordings of the
notices since 2008 are understood::

    1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。
    2月14日（周六）、2月28日（周六）上班。
    2022年12月31日至2023年1月2日放假调休，共3天。        (a range across the year)
    9月29日至10月6日放假调休，共8天。                      (a range across months)
    1月1日（周三）放假1天，不调休。
    1月1日放假，1月2日（星期一）补休。                    (older wording)
    5月1日放假，与周末连休。
    鼓励各单位……安排职工在除夕（2月9日）休息。            (advice: not a day off)

What a date's parenthesis says is checked against the date: the weekday (周四, 星期一) and the
lunar date (农历腊月二十八, 除夕).  A stated length (``共N天``, ``放假N天``) must equal the days the
sentence gives off.  Anything else in a holiday line is an error: a notice is parsed exactly or
not at all.  Every error names its line, Chinese first.

Days named outside the notice's year (2022-12-31 in the 2023 notice) are kept apart in
:attr:`Notice.outside_off` / :attr:`Notice.outside_workdays`: a year's arrangement holds its own days.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from lunar_python import Solar

from shanhai.models.holiday_year import YearArrangement
from shanhai.models.localtime import WEEKDAYS, weekday_name

__all__ = ["FESTIVALS", "Notice", "NoticeError", "NoticeLine", "NoticeProblem", "read_notice"]

FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")

_TITLE = re.compile(r"国务院办公厅关于(\d{4})年部分节假日安排的通知")
_DOC_NUMBER = re.compile(r"国办发明电〔\d{4}〕\d+号")
_NUMBERED = re.compile(r"^\s*([一二三四五六七八九十]+)、\s*([^:]{1,40}?)\s*:\s*(.*)$")
_DATE = re.compile(r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日(?:\(([^()]*)\))?")
_CN_NUMBER = {c: i for i, c in enumerate("零一二三四五六七八九十")}
_WEEKDAY = re.compile(r"^(?:周|星期)([一二三四五六日天])$")
_LUNAR_MONTHS = {"正": 1, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
                 "十": 10, "冬": 11, "十一": 11, "腊": 12, "十二": 12}
_LUNAR_DATE = re.compile(r"^(闰?)(正|十一|十二|冬|腊|[一二三四五六七八九十])月(.+)$")

# The shape of a clause once its dates are replaced by "D" (see _clause).
_OFF = re.compile(r"^D(至D)?放假(?:调休|公休)?(?:(\d+)天)?$")
_MAKEUP_OFF = re.compile(r"^D补休$")
_WORK = re.compile(r"^D(、D)*上班$")
_COUNT = re.compile(r"^共(\d+|[一二三四五六七八九十]+)天$")
_NOTHING = re.compile(r"^(不调休|与周[末六日]连休)$")


@dataclass(frozen=True)
class NoticeProblem:
    line: int | None
    message: str
    text: str = ""

    def __str__(self) -> str:
        where = f"第{self.line}行 line {self.line}：" if self.line else ""
        shown = f"\n    {self.text.strip()}" if self.text.strip() else ""
        return f"{where}{self.message}{shown}"


class NoticeError(ValueError):
    """The notice could not be read exactly; nothing from it is used."""

    def __init__(self, problems: list[NoticeProblem], name: str = "通知"):
        self.problems = list(problems)
        self.name = name
        head = f"{name}：无法解析通知，{len(self.problems)} 处问题 (the notice could not be parsed)"
        super().__init__(head + "".join(f"\n  - {p}" for p in self.problems))


@dataclass(frozen=True)
class NoticeLine:
    """One numbered line: ``二、春节：…``."""

    line: int
    festivals: str  # as written: 春节, 中秋节、国庆节
    off: tuple[date, ...]
    workdays: tuple[date, ...]


@dataclass(frozen=True)
class Notice:
    year: int
    title: str
    number: str | None  # 国办发明电〔2025〕N号 when the text carries it
    lines: tuple[NoticeLine, ...]
    arrangement: YearArrangement
    outside_off: frozenset[date] = field(default_factory=frozenset)
    outside_workdays: frozenset[date] = field(default_factory=frozenset)


def _cn_int(text: str) -> int:
    if text.isdigit():
        return int(text)
    if len(text) == 1:
        return _CN_NUMBER[text]
    tens, _, ones = text.partition("十")
    return (_CN_NUMBER[tens] if tens else 1) * 10 + (_CN_NUMBER[ones] if ones else 0)


def _lunar_day(text: str) -> int | None:
    text = text.replace("廿", "二十").replace("卅", "三十")
    if text.startswith("初"):
        text = text[1:]
    try:
        return _cn_int(text)
    except (KeyError, ValueError):
        return None


def _annotation_problems(d: date, note: str | None) -> list[str]:
    """What the parenthesis after a date says that the date is not."""
    problems: list[str] = []
    for part in re.split(r"[、,]", note or ""):
        part = part.strip()
        if m := _WEEKDAY.match(part):
            stated = WEEKDAYS.index(m.group(1).replace("天", "日"))
            if stated != d.weekday():
                problems.append(f"{d.month}月{d.day}日是{weekday_name(d)}，通知却写作“{part}”")
            continue
        lunar_text = part.removeprefix("农历")
        if lunar_text == "除夕":
            nxt = d + timedelta(days=1) if d < date.max else None
            after = Solar.fromYmd(nxt.year, nxt.month, nxt.day).getLunar() if nxt else None
            if after is None or not (after.getMonth() == 1 and after.getDay() == 1):
                problems.append(f"{d.month}月{d.day}日不是除夕，通知却写作“{part}”")
        elif part.startswith("农历") and (m := _LUNAR_DATE.match(lunar_text)):
            lunar = Solar.fromYmd(d.year, d.month, d.day).getLunar()
            month, day = _LUNAR_MONTHS[m.group(2)], _lunar_day(m.group(3))
            actual = (lunar.getMonth() < 0, abs(lunar.getMonth()), lunar.getDay())
            if actual != (bool(m.group(1)), month, day):
                problems.append(
                    f"{d.month}月{d.day}日是农历{lunar.getMonthInChinese()}月"
                    f"{lunar.getDayInChinese().replace('廿', '二十').replace('卅', '三十')}，"
                    f"通知却写作“{part}”"
                )
    return problems


def _clauses(sentence: str) -> list[str]:
    """``sentence`` split at its commas, but not at those inside a date's parenthesis."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in sentence:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


class _Reader:
    """Parses one notice, collecting every problem with its line."""

    def __init__(self, year: int):
        self.year = year
        self.problems: list[NoticeProblem] = []

    def problem(self, line: int, raw: str, message: str) -> None:
        self.problems.append(NoticeProblem(line, message, raw))

    def dates(self, clause: str, line: int, raw: str, is_new_year: bool,
              context: dict) -> tuple[str, list[date]] | None:
        """The clause with each date replaced by "D", and the dates (None after a problem)."""
        found: list[date] = []
        shape: list[str] = []
        pos = 0
        ok = True
        matches = list(_DATE.finditer(clause))
        read: list[bool] = []  # whether each date of the clause was read
        for i, m in enumerate(matches):
            shape.append(clause[pos:m.start()])
            shape.append("D")
            pos = m.end()
            year_text, month_text, day_text, note = m.groups()
            is_range_end = i > 0 and clause[matches[i - 1].end():m.start()] == "至"
            read.append(False)
            if is_range_end and not read[i - 1]:
                # the end's year and month follow from the start, which is already reported on this line
                ok = False
                continue
            if month_text is None and context.get("month") is None:
                self.problem(line, raw, f"“{m.group(0)}”缺少月份 (the month is missing)")
                ok = False
                continue
            month = int(month_text) if month_text else context["month"]
            if year_text:
                year = int(year_text)
            elif is_range_end:
                year = context["year"] if month >= context["month"] else context["year"] + 1
            elif is_new_year and month == 12:
                year = self.year - 1  # the 元旦 line's December is the year before
            else:
                year = self.year
            try:
                d = date(year, month, int(day_text))
            except ValueError:
                self.problem(line, raw, f"“{m.group(0)}”不是存在的日期 (no such date)")
                ok = False
                continue
            for message in _annotation_problems(d, note):
                self.problem(line, raw, message)  # the date itself is read; only its note is wrong
            context["month"], context["year"] = month, year
            read[i] = True
            found.append(d)
        shape.append(clause[pos:])
        return ("".join(shape), found) if ok else None

    def holiday_line(self, line: int, raw: str, festivals: str, body: str) -> NoticeLine:
        off: list[date] = []
        workdays: list[date] = []
        is_new_year = "元旦" in festivals
        context: dict = {}
        for sentence in re.split(r"[。;]", body):
            sentence = re.sub(r"\s+", "", sentence)
            if not sentence or sentence.startswith("鼓励"):
                continue  # "鼓励…休息" is advice, not a day off
            sentence_off: list[date] = []
            unread = False  # a clause of this sentence could not be read: its length cannot be checked
            for clause in _clauses(sentence):
                if not clause:
                    continue
                parsed = self.dates(clause, line, raw, is_new_year, context)
                if parsed is None:
                    unread = True
                    continue
                shape, days = parsed
                if m := _OFF.match(shape):
                    span = days if m.group(1) is None else self.span(days[0], days[1], line, raw)
                    if m.group(2) is not None and int(m.group(2)) != len(span):
                        self.problem(line, raw, f"写明放假{m.group(2)}天，但所列日期共{len(span)}天 "
                                                f"(the stated length disagrees with the dates)")
                    sentence_off.extend(span)
                elif _MAKEUP_OFF.match(shape):
                    sentence_off.extend(days)
                elif _WORK.match(shape):
                    for d in days:
                        if d.weekday() < 5:
                            self.problem(line, raw, f"上班日 {d.isoformat()} 是{weekday_name(d)}，"
                                                    "调休上班只能是周六或周日")
                    workdays.extend(days)
                elif m := _COUNT.match(shape):
                    try:
                        stated = _cn_int(m.group(1))
                    except (KeyError, ValueError):
                        self.problem(line, raw, f"无法识别“{clause}” (cannot read this clause)")
                        continue
                    if unread:
                        continue
                    if not sentence_off:
                        self.problem(line, raw, f"“{clause}”之前没有放假日期 (a length with no dates)")
                    elif stated != len(set(sentence_off)):
                        self.problem(line, raw, f"写明共{stated}天，但所列放假日期共{len(set(sentence_off))}天 "
                                                "(the stated length disagrees with the dates)")
                elif not _NOTHING.match(shape):
                    self.problem(line, raw, f"无法识别“{clause}” (cannot read this clause)")
            off.extend(sentence_off)
        if not off and not any(p.line == line for p in self.problems):
            self.problem(line, raw, "该节假日没有放假日期 (no day off found)")
        return NoticeLine(line, festivals, tuple(sorted(set(off))), tuple(sorted(set(workdays))))

    def span(self, start: date, end: date, line: int, raw: str) -> list[date]:
        if end < start:
            self.problem(line, raw, f"起止日期颠倒：{start.isoformat()} 至 {end.isoformat()}")
            return [start]
        if (end - start).days > 30:
            self.problem(line, raw, f"放假区间过长：{start.isoformat()} 至 {end.isoformat()}")
            return [start]
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def read_notice(text: str, *, name: str = "通知") -> Notice:
    """Everything the notice says (see the module doc); :class:`NoticeError` lists every problem."""
    raw_lines = text.splitlines()
    norm = [unicodedata.normalize("NFKC", line) for line in raw_lines]
    flat = re.sub(r"\s+", "", "".join(norm))
    title = _TITLE.search(flat)
    if title is None:
        raise NoticeError([NoticeProblem(None, "未找到标题《国务院办公厅关于YYYY年部分节假日安排的通知》，"
                                               "无法确定年份 (no title, so no year)")], name)
    year = int(title.group(1))
    if year < 1000:
        raise NoticeError([NoticeProblem(None, f"标题中的年份 {title.group(1)} 不合理 (not a year)")], name)
    reader = _Reader(year)
    body_year = re.search(r"现将(\d{4})年元旦", flat)
    if body_year and int(body_year.group(1)) != year:
        reader.problems.append(NoticeProblem(
            None, f"标题是 {year} 年，正文却写“现将{body_year.group(1)}年” (the title and the text disagree on the year)"))
    lines: list[NoticeLine] = []
    for number, (raw, line_text) in enumerate(zip(raw_lines, norm, strict=True), start=1):
        m = _NUMBERED.match(line_text)
        if m is None:
            continue
        lines.append(reader.holiday_line(number, raw, m.group(2), m.group(3)))
    if not lines:
        reader.problems.append(NoticeProblem(None, "未找到任何编号的节假日行（如“一、元旦：…”） (no holiday lines)"))
    named = "".join(item.festivals for item in lines)
    missing = [f for f in FESTIVALS if f.removesuffix("节") not in named]
    if lines and missing:
        reader.problems.append(NoticeProblem(None, f"通知缺少：{'、'.join(missing)} (holidays missing)"))
    off = {d for item in lines for d in item.off}
    work = {d for item in lines for d in item.workdays}
    for d in sorted(off & work):
        where = next(item.line for item in lines if d in item.workdays)
        reader.problems.append(NoticeProblem(where, f"{d.isoformat()} 既放假又上班 (both off and worked)",
                                             raw_lines[where - 1]))
    if reader.problems:
        raise NoticeError(reader.problems, name)
    doc_number = _DOC_NUMBER.search(flat)
    source = title.group(0) + (f"（{doc_number.group(0)}）" if doc_number else "")
    arrangement = YearArrangement(
        year=year,
        off=frozenset(d for d in off if d.year == year),
        workdays=frozenset(d for d in work if d.year == year),
        source=source,
    )
    return Notice(
        year=year,
        title=title.group(0),
        number=doc_number.group(0) if doc_number else None,
        lines=tuple(lines),
        arrangement=arrangement,
        outside_off=frozenset(d for d in off if d.year != year),
        outside_workdays=frozenset(d for d in work if d.year != year),
    )
