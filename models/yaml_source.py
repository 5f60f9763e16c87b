"""YAML files a person edits, read safely and validated with pydantic, every problem located.

Each problem names the file, the line and the dotted field (``obligations[3].due``), so a coordinator
can find it. Reading refuses what PyYAML would silently accept or choke on:

* a key written twice in one mapping (PyYAML keeps the last one without a word);
* anything but a regular file (a directory, a device, a FIFO), a file larger than
  :data:`MAX_FILE_BYTES`, or one whose aliases expand past
  :data:`MAX_EXPANDED_NODES` (a "billion laughs" bomb is refused in milliseconds, not after 3 GB);
* an alias inside the very node it names (``a: &x [*x]``), located at the alias;
* text that is not UTF-8, and YAML syntax errors (with the line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shanhai.models.errors import InputError
from shanhai.models.files import read_regular_file

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class YamlFileError(ValueError):
    """One or more located problems; nothing from the file(s) was used."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(loc: Loc) -> str:
    """``("obligations", 3, "due")`` -> ``obligations[3].due``."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        else:
            parts.append(str(p))
    return ".".join(parts) or "(file)"


@dataclass
class Source:
    """A parsed file: its name, its data, and the line of every key and item."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest located ancestor of ``loc``."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.file, self.line(loc), dotted(loc), message)


def _walk(root: yaml.Node, lines: dict[Loc, int], problems: list[Problem], file: str) -> tuple[bool, bool]:
    """Record the line of every key and item and refuse keys written twice.

    Iterative, so that nesting as deep as the parser allows cannot exhaust Python's stack. Returns
    ``(over_budget, recursive)``: the aliases expand past :data:`MAX_EXPANDED_NODES`, or a node contains
    itself (``a: &x [*x]``), which no walk nor loader can expand."""
    budget = MAX_EXPANDED_NODES
    recursive = False
    open_nodes: set[int] = set()  # the nodes on the path from the root: meeting one again is a cycle
    todo: list[tuple[yaml.Node, Loc] | int] = [(root, ())]
    while todo:
        item = todo.pop()
        if isinstance(item, int):  # every child of this node is done
            open_nodes.discard(item)
            continue
        node, path = item
        if id(node) in open_nodes:
            recursive = True
            continue
        budget -= 1
        if budget < 0:
            return True, recursive
        lines.setdefault(path, node.start_mark.line + 1)
        children: list[tuple[yaml.Node, Loc]] = []
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                key_text = key.value if isinstance(key, yaml.ScalarNode) else None
                line = key.start_mark.line + 1
                if key_text is not None and key.tag != "tag:yaml.org,2002:merge":
                    if key_text in seen:
                        problems.append(
                            Problem(file, line, dotted((*path, key_text)),
                                    f"键 '{key_text}' 写了两次（第一次在第 {seen[key_text]} 行）；YAML 会悄悄只保留"
                                    "最后一个 (key written twice)")
                        )
                    seen.setdefault(key_text, line)
                elif key is node or id(key) in open_nodes:  # a key that is its own mapping (&x {*x: 1})
                    recursive = True
                child = (*path, key_text if key_text is not None else "?")
                lines[child] = line
                children.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            children = [(child, (*path, i)) for i, child in enumerate(node.value)]
        if children:
            open_nodes.add(id(node))
            todo.append(id(node))
            todo.extend(reversed(children))  # popped in document order
    return False, recursive


def _recursive_aliases(text: str, file: str) -> list[Problem]:
    """Each alias that names a collection it is inside of, located by the parser's events (the composed
    nodes no longer know where an alias was written)."""
    problems: list[Problem] = []
    anchors: dict[str, int] = {}  # anchor -> line, for collections still open
    # one frame per open collection: [path, is a mapping, items so far, key of the pending value, anchor]
    frames: list[list[Any]] = []
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionEndEvent):
            anchor = frames.pop()[4]
            anchors.pop(anchor, None)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        path: Loc = ()
        if frames:
            parent = frames[-1]
            count = parent[2]
            parent[2] += 1
            if not parent[1]:
                path = (*parent[0], count)
            elif count % 2 == 0:  # a key
                parent[3] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
                path = (*parent[0], "?")
            else:
                path = (*parent[0], parent[3])
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in anchors:
                problems.append(
                    Problem(file, _line_of(event), dotted(path),
                            f"递归别名：*{event.anchor} 位于它所指的 &{event.anchor}（第 {anchors[event.anchor]} 行）"
                            "之内，无法展开 (recursive alias)")
                )
        elif isinstance(event, yaml.CollectionStartEvent):
            frames.append([path, isinstance(event, yaml.MappingStartEvent), 0, "?", event.anchor])
            if event.anchor is not None:
                anchors[event.anchor] = _line_of(event)
    return problems


def _line_of(event: yaml.Event) -> int:
    """1-based line of an event (0 when the parser gave no position)."""
    return event.start_mark.line + 1 if event.start_mark is not None else 0


def _impossible_date(root: yaml.Node | None) -> tuple[Loc, int, str] | None:
    """Where a scalar that YAML resolves as a timestamp fails to construct (2026-02-30)."""
    todo: list[tuple[yaml.Node | None, Loc]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:timestamp":
                try:
                    yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
                except ValueError:
                    return path, node.start_mark.line + 1, node.value
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(reversed([(item, (*path, i)) for i, item in enumerate(node.value)]))
        elif isinstance(node, yaml.MappingNode):
            todo.extend(reversed([(value, (*path, str(key.value))) for key, value in node.value]))
    return None


def read_yaml(path: Path, problems: list[Problem], *, missing_ok: bool = False) -> Source | None:
    """Parse one file; on any problem append it and return None (nothing partial)."""
    name = str(path)
    if missing_ok and not os.path.lexists(path):
        return Source(name, None)
    try:
        # a regular file, read in bounded chunks: a path to /dev/zero, a FIFO or a sparse file of
        # gigabytes is refused at once instead of filling memory or waiting forever
        raw = read_regular_file(Path(path), max_bytes=MAX_FILE_BYTES, field="(file)", what="文件", allow_empty=True)
    except InputError as exc:
        problems.append(Problem(name, None, "(file)", exc.message))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, None, "(file)", f"不是 UTF-8 文本（第 {exc.start} 字节）(not UTF-8 text)"))
        return None
    text = text.removeprefix("\ufeff")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        message = ": ".join(p for p in parts if p) or str(exc).splitlines()[0]
        problems.append(Problem(name, mark.line + 1 if mark else None, "(syntax)", f"YAML 语法错误 ({message})"))
        return None
    if node is None:
        return Source(name, None)
    lines: dict[Loc, int] = {}
    found: list[Problem] = []
    over_budget, recursive = _walk(node, lines, found, name)
    if recursive:  # the loader would build a list that contains itself; nothing downstream expects one
        problems.extend(_recursive_aliases(text, name) or [Problem(name, None, "(file)", "递归别名 (recursive alias)")])
        return None
    if over_budget:
        problems.append(
            Problem(name, None, "(file)",
                    f"别名（*）展开后超过 {MAX_EXPANDED_NODES:,} 个值，拒绝读取 "
                    f"(more than {MAX_EXPANDED_NODES:,} values once its aliases are expanded)")
        )
        return None
    if found:
        problems.extend(sorted(found, key=lambda p: p.line or 0))
        return None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else None, "(syntax)",
                                f"YAML 语法错误 ({str(exc).splitlines()[0]})"))
        return None
    except ValueError as exc:  # a scalar YAML reads as a date that is no date (2026-02-30)
        loc, line, value = _impossible_date(node) or ((), None, None)
        message = f"'{value}' 不是存在的日期 (is not a valid date: {exc})" if value else f"无效的值 ({exc})"
        problems.append(Problem(name, line, dotted(loc), message))
        return None
    return Source(name, data, lines)


# pydantic's messages, Chinese first: the English one follows as the gloss
_ZH: dict[str, str] = {
    "missing": "缺少此项",
    "extra_forbidden": "不认识的字段（拼写有误？）",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "dict_type": "应为键值映射",
    "model_type": "应为键值映射",
    "model_attributes_type": "应为键值映射",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不带时刻",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "至多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "至多 {max_length} 项",
    "string_pattern_mismatch": "格式不符（应匹配 {pattern}）",
    "union_tag_invalid": "类型不符",
    "is_instance_of": "类型不符",
}


def _chinese(err: Any) -> str | None:
    template = _ZH.get(err["type"])
    if template is None:
        return None
    try:
        return template.format(**(err.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return template.split("{")[0].strip() or None


_NOISE = ("function-", "literal[", "list[", "union[", "tagged-union[", "dict[", "json-or-python[")


def validation_problems(exc: ValidationError, source: Source, *, prefix: Loc = ()) -> list[Problem]:
    """pydantic's errors as located problems. A model-level rule that names its field as
    ``"field: message"`` is located at that field."""
    out = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_NOISE)))
        loc = (*prefix, *loc)
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if zh := _chinese(err):  # our own validators' messages are Chinese first already
            msg = f"{zh} ({msg})"
        head, sep, rest = msg.partition(": ")
        if sep and re.fullmatch(r"[a-z_]+", head):
            loc, msg = (*loc, head), rest
        out.append(source.problem(loc, msg))
    return out


def validate(model: type[M], source: Source, problems: list[Problem], *, data: Any = None,
             prefix: Loc = (), context: dict[str, Any] | None = None) -> M | None:
    """``model`` validated from the source's data (or ``data`` found at ``prefix`` in it)."""
    payload = source.data if data is None else data
    try:
        return model.model_validate(payload, context=context)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, source, prefix=prefix))
        return None


def load_model(path: Path, model: type[M], *, missing: Callable[[], M] | None = None) -> M:
    """Read and validate one file as ``model``; raise :class:`YamlFileError` with every problem.
    ``missing``: what a missing file means (default: an error)."""
    problems: list[Problem] = []
    source = read_yaml(Path(path), problems, missing_ok=missing is not None)
    if source is not None and source.data is None and missing is not None and not Path(path).exists():
        return missing()
    if source is not None:
        result = validate(model, source, problems, data={} if source.data is None else source.data)
        if result is not None and not problems:
            return result
    raise YamlFileError(problems)
