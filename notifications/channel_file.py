"""The channel file as pydantic sees it: Apprise's YAML shapes, every problem located.

Read with :mod:`shanhai.models.yaml_source` (duplicate keys and alias bombs refused), then
validated with the models below.  Each ``urls`` item is validated on its own, so one bad item
does not hide the next.  Problems are ``file:line: field: message`` with a Chinese message; the
field never contains the URL key (it may hold a literal token): ``urls[2].tag``,
``urls[2][1].secret``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator

from shanhai.models.yaml_source import Problem, Source, YamlFileError, read_yaml

from .redact import mask_url

__all__ = ["ChannelConfigError", "ChannelFile", "UrlEntry", "UrlSettings", "locate", "read_channel_file"]


class ChannelConfigError(YamlFileError):
    """The channel file cannot be used; nothing from it was loaded.

    ``path`` is the file; ``problems`` the located :class:`Problem` list (one line each).
    """

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = str(path)
        super().__init__(problems)
        if len(self.problems) == 1:
            text = f"渠道配置文件有误，未加载任何渠道 (channel file is invalid): {self.problems[0]}"
        else:
            head = f"渠道配置文件 {self.path} 有 {len(self.problems)} 处错误，未加载任何渠道 (channel file is invalid):"
            text = "\n".join([head, *(f"  - {p}" for p in self.problems)])
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------- the file, as pydantic sees it


def _tag_list(value: Any) -> list[str]:
    """``tag: a, b`` / ``tag: [a, b]`` / ``tag: a b`` -> ['a', 'b']."""
    if isinstance(value, str):
        values = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        values = value
    else:
        raise ValueError("tag 应为单位代码字符串（可用逗号分隔）或字符串列表")
    return [t for v in values for t in re.split(r"[\s,]+", v) if t]


Tags = Annotated[list[str], BeforeValidator(_tag_list)]


class UrlSettings(BaseModel):
    """One mapping of settings under a URL: only its tags (options go in the URL's query)."""

    model_config = ConfigDict(extra="forbid")
    tag: Tags = []
    tags: Tags = []

    @property
    def codes(self) -> list[str]:
        return list(dict.fromkeys([*self.tag, *self.tags]))


class UrlEntry(BaseModel):
    """One item of ``urls``: ``{URL: settings}`` with settings a mapping or a list of mappings."""

    url: str
    settings: list[UrlSettings]

    @model_validator(mode="before")
    @classmethod
    def _apprise_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"URL {mask_url(value)} 没有 tag；每个 URL 都必须用 tag 指明所属单位代码")
        if not isinstance(value, dict) or len(value) != 1 or not isinstance(next(iter(value)), str):
            hint = ""
            if isinstance(value, dict) and {"tag", "tags"} & set(value):
                hint = "（tag 要比 URL 多缩进一级，写在 URL 之下）"
            raise ValueError(f"urls 的每一项应为 “URL: {{tag: 单位代码}}”{hint}")
        url, settings = next(iter(value.items()))
        if settings is None:
            settings = []
        elif isinstance(settings, dict):
            settings = [settings]
        elif not (isinstance(settings, list) and all(isinstance(s, dict) for s in settings)):
            raise ValueError(f"URL {mask_url(url)} 的设置应为映射（tag: …）或映射的列表")
        return {"url": url, "settings": settings}

    @model_validator(mode="after")
    def _tagged(self) -> UrlEntry:
        if not any(s.codes for s in self.settings):
            raise ValueError(f"URL {mask_url(self.url)} 没有 tag；每个 URL 都必须用 tag 指明所属单位代码")
        return self


class ChannelFile(BaseModel):
    """The whole file: ``version: 1`` (optional) and ``urls``."""

    model_config = ConfigDict(extra="forbid")
    version: int | str = 1
    urls: list[Any] | None = None  # each item is validated on its own, so every bad one is reported

    @field_validator("version", mode="before")
    @classmethod
    def _version_1(cls, value: Any) -> Any:
        if str(value) != "1":
            raise ValueError("只支持 Apprise YAML version: 1")
        return value

    @field_validator("urls", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, list):
            raise ValueError("urls 应为列表（每一项 “URL: {tag: 单位代码}”）")
        return value


# --------------------------------------------------------------------------- located problems


def _raw_entry(source: Source, index: int) -> tuple[str | None, Any]:
    """The URL key and raw settings of ``urls[index]`` as written (None if not that shape)."""
    try:
        item = source.data["urls"][index]
    except (KeyError, IndexError, TypeError):
        return None, None
    if isinstance(item, dict) and len(item) == 1:
        url, settings = next(iter(item.items()))
        return (url if isinstance(url, str) else None), settings
    return None, None


def locate(source: Source, loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str]:
    """A pydantic location -> (the location in the source, for its line; the field to show).

    The URL key is part of the source location but never of the field shown (it may hold a
    literal token): ``urls[2].tag``, ``urls[2][1].secret``.
    """
    if len(loc) < 2 or loc[0] != "urls" or not isinstance(loc[1], int):
        return loc, ".".join(str(p) for p in loc) or "(file)"
    index = loc[1]
    url, settings = _raw_entry(source, index)
    src: tuple[str | int, ...] = ("urls", index)
    shown = f"urls[{index}]"
    rest = loc[2:]
    if url is not None and rest[:1] == ("settings",):
        src += (url,)
        rest = rest[1:]
        if rest and isinstance(rest[0], int):
            if isinstance(settings, list):
                src += (rest[0],)
                shown += f"[{rest[0]}]"
            rest = rest[1:]
        rest = tuple(p for p in rest if not isinstance(p, int))  # a tag list's item: its key's line
    elif rest[:1] in (("url",), ("settings",)):
        rest = ()
    src += rest
    return src, shown + "".join(f".{p}" for p in rest)


def _validation_problems(exc: ValidationError, source: Source, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    out = []
    for err in exc.errors():
        err["loc"] = (*prefix, *err["loc"])
        src, shown = locate(source, tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = err["loc"][-1]
            if len(err["loc"]) == 1:
                message = f"不支持的顶层配置项 {key!r}（只接受 version、urls）"
            else:
                url, _ = _raw_entry(source, int(err["loc"][1]))
                message = (
                    f"URL {mask_url(url or '')} 的设置 {key!r} 不受支持；"
                    "请把选项写进 URL 的查询参数（?key=value），这里只接受 tag"
                )
        elif err["type"] == "model_type" and not err["loc"]:
            message = "顶层应为映射（version、urls）"
        elif err["type"] != "value_error":
            message = f"格式有误：{message}"
        out.append(Problem(source.file, source.line(src), shown, message))
    return out


def _file_problem(problem: Problem) -> Problem:
    """A reading problem from yaml_source, Chinese first, with no URL (nor its token) as field."""
    shown = problem.field
    if "://" in shown:
        found = re.match(r"urls\[\d+\]", shown)
        shown = found.group(0) if found else "urls"
    message = mask_url(problem.message)
    if problem.field == "(syntax)":
        message = f"YAML 语法错误：{message}"
    elif problem.field == "(file)":
        message = f"无法读取：{message}"
    else:
        message = f"同一映射中有重复的键：{message}"
    return Problem(problem.file, problem.line, shown, message)


def read_channel_file(path: Path) -> tuple[list[tuple[int, UrlEntry]], Source, list[Problem]]:
    """The file's valid entries (with their index), its source, and the problems found so far."""
    where = str(path)
    if not path.exists():
        raise ChannelConfigError(path, [Problem(
            where, None, "(file)",
            "文件不存在 (no such file)；SHANHAI_APPRISE_CONFIG 指向了它。不需要渠道时请取消该设置，消息将只留在本地发件箱",
        )])
    if path.is_dir():
        raise ChannelConfigError(path, [Problem(
            where, None, "(file)", "无法读取：这是一个目录，不是渠道文件；SHANHAI_APPRISE_CONFIG 应指向 Apprise YAML 文件",
        )])
    problems: list[Problem] = []
    source = read_yaml(path, problems)
    if source is None:
        raise ChannelConfigError(path, [_file_problem(p) for p in problems])
    if source.data is None:
        raise ChannelConfigError(path, [Problem(
            where, None, "(file)",
            "文件是空的 (empty file)。确实不需要渠道时请写 urls: []，或取消 SHANHAI_APPRISE_CONFIG",
        )])
    try:
        parsed = ChannelFile.model_validate(source.data)
    except ValidationError as exc:
        problems = _validation_problems(exc, source)
        data = source.data if isinstance(source.data, dict) else {}
        if any(p.field.startswith("urls") or p.field == "(file)" for p in problems) or not data:
            raise ChannelConfigError(path, problems) from None
        parsed = ChannelFile.model_construct(urls=data.get("urls"))  # report its entries' problems too
    if parsed.urls is None:
        raise ChannelConfigError(path, [*problems, Problem(
            where, source.line(("urls",)), "urls",
            "没有列出任何 URL (no urls)。确实不需要渠道时请写 urls: []，或取消 SHANHAI_APPRISE_CONFIG",
        )])
    entries: list[tuple[int, UrlEntry]] = []
    for index, raw in enumerate(parsed.urls):
        try:
            entries.append((index, UrlEntry.model_validate(raw)))
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, source, ("urls", index)))
    return entries, source, problems
