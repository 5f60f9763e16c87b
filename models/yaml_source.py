"""YAML files a person edits, read safely and validated with pydantic, every problem located.

Each problem names the file, the line and the dotted field (``obligations[3].due``), so a coordinator
can find it. Reading refuses what PyYAML would silently accept or choke on:

* a key written twice in one mapping (PyYAML keeps the last one without a word);
* anything but a regular file (a directory, a device, a FIFO), a file larger than
  :data:`MAX_FILE_BYTES`, or one whose aliases expand past
  :data:`MAX_EXPANDED_NODES` (a "billion laughs" bomb is refused in milliseconds, not after 3 GB);
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


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[Problem], file: str,
          budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            key_text = key.value if isinstance(key, yaml.ScalarNode) else None
            line = key.start_mark.line + 1
            if key_text is not None and key.tag != "tag:yaml.org,2002:merge":
                if key_text in seen:
                    problems.append(
                        Problem(file, line, dotted((*path, key_text)),
                                f"key '{key_text}' is written twice (first on line {seen[key_text]}); "
                                "YAML would silently keep only the last one")
                    )
                seen.setdefault(key_text, line)
            child = (*path, key_text if key_text is not None else "?")
            lines[child] = line
            _walk(value, child, lines, problems, file, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems, file, budget)


def _impossible_date(node: yaml.Node | None, path: Loc = ()) -> tuple[Loc, int, str] | None:
    """Where a scalar that YAML resolves as a timestamp fails to construct (2026-02-30)."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:timestamp":
            try:
                yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
            except ValueError:
                return path, node.start_mark.line + 1, node.value
        return None
    children: list[tuple[Loc, yaml.Node]] = []
    if isinstance(node, yaml.SequenceNode):
        children = [((*path, i), item) for i, item in enumerate(node.value)]
    elif isinstance(node, yaml.MappingNode):
        children = [((*path, str(key.value)), value) for key, value in node.value]
    for child_path, child in children:
        if found := _impossible_date(child, child_path):
            return found
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
        problems.append(Problem(name, None, "(file)", f"not UTF-8 text (byte {exc.start})"))
        return None
    text = text.removeprefix("\ufeff")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        message = ": ".join(p for p in parts if p) or str(exc).splitlines()[0]
        problems.append(Problem(name, mark.line + 1 if mark else None, "(syntax)", message))
        return None
    if node is None:
        return Source(name, None)
    lines: dict[Loc, int] = {}
    found: list[Problem] = []
    budget = [MAX_EXPANDED_NODES]
    _walk(node, (), lines, found, name, budget)
    if budget[0] < 0:
        problems.append(
            Problem(name, None, "(file)",
                    f"more than {MAX_EXPANDED_NODES:,} values once its aliases (*) are expanded; refused")
        )
        return None
    if found:
        problems.extend(found)
        return None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else None, "(syntax)", str(exc).splitlines()[0]))
        return None
    except ValueError as exc:  # a scalar YAML reads as a date that is no date (2026-02-30)
        loc, line, value = _impossible_date(node) or ((), None, None)
        message = f"'{value}' is not a valid date ({exc})" if value else str(exc)
        problems.append(Problem(name, line, dotted(loc), message))
        return None
    return Source(name, data, lines)


_NOISE = ("function-", "literal[", "list[", "union[", "tagged-union[", "dict[", "json-or-python[")


def validation_problems(exc: ValidationError, source: Source, *, prefix: Loc = ()) -> list[Problem]:
    """pydantic's errors as located problems. A model-level rule that names its field as
    ``"field: message"`` is located at that field."""
    out = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_NOISE)))
        loc = (*prefix, *loc)
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
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
