"""Channel configuration: which Apprise URLs reach which unit.

The file is Apprise's own YAML configuration format (``version: 1`` and a
``urls:`` list), where every URL carries a ``tag:`` naming the unit code(s)
it serves.  Both entry shapes Apprise documents are accepted::

    version: 1
    urls:
      # mapping form: the URL is the key, its settings a dict or a list of dicts
      - "dingtalk://${DINGTALK_YONGJIA_SECRET}@${DINGTALK_YONGJIA_TOKEN}/":
          - tag: yongjia
      - "wecombot://${WECOM_OUHAI_KEY}":
          tag: ouhai, city_office          # several units may share a channel
      - "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.gov.cn?to=zsj@example.gov.cn":
          tag: [zhaoshang]

URL forms verified against the installed Apprise (2.x) plugins:

* DingTalk robot ``dingtalk://{token}/``; a signed robot (加签, secret ``SEC…``)
  ``dingtalk://{secret}@{token}/`` or ``dingtalk://{token}/?secret={secret}``.
  Apprise adds ``timestamp`` and ``sign`` (HMAC-SHA256 of
  ``"{timestamp_ms}\\n{secret}"``) to the request itself.
* WeCom group robot ``wecombot://{key}`` (the ``key=`` of the webhook).
* Feishu robot ``feishu://{token}`` (Lark: ``lark://{token}``); Apprise has no
  signing-secret support for Feishu, so use keyword or IP security there.
* Generic webhook ``json://host[:port]/path`` (``jsons://`` for HTTPS).
* Email ``mailtos://user:password@host?to=…`` or, for a local relay without
  authentication, ``mailto://host:port?from=a@x&to=b@y&mode=insecure``.

Secrets never live in the file: ``${NAME}`` placeholders are replaced from
the ``environ`` mapping (values are percent-encoded, so a password containing
``@`` or ``/`` stays one URL component; Apprise decodes it again).  Apprise's
own ``template:`` mechanism is not used, so Apprise never sees a placeholder.

Only ``version`` and ``urls`` are accepted at the top level, and ``tag``/``tags``
inside an entry: options belong in the URL's query string, so that
:class:`Channel.url` alone says everything about a channel.

Loading is all-or-nothing: every problem (YAML syntax, a missing variable, a
URL Apprise cannot load, a tag that is no known unit, a duplicate) is
collected and raised together as one :class:`ChannelConfigError` naming the
file, the line, the unit and the URL as written (placeholders, not secrets;
long literal tokens and passwords masked).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import apprise
import yaml

__all__ = ["Channel", "ChannelConfigError", "load_channels", "mask_url", "new_asset"]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TAG_KEYS = ("tag", "tags")
_TOP_LEVEL_KEYS = ("version", "urls")


class ChannelConfigError(ValueError):
    """The channel file cannot be used; nothing from it was loaded.

    ``problems`` lists every individual problem (one line each).
    """

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        head = f"渠道配置文件 {self.path} 有 {len(self.problems)} 处错误，未加载任何渠道："
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


def new_asset() -> apprise.AppriseAsset:
    """An Apprise asset that keeps no state on disk and masks secrets in its logs."""
    return apprise.AppriseAsset(storage_mode="memory", secure_logging=True)


@dataclass(frozen=True)
class Channel:
    """One delivery channel of one unit.

    ``url`` is the Apprise URL after ``${ENV}`` substitution: it contains
    secrets.  ``repr()`` and :attr:`masked_url` show a masked form; log those.
    """

    unit_code: str
    url: str = field(repr=False)

    @cached_property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()

    @cached_property
    def masked_url(self) -> str:
        """The URL with its secrets masked by Apprise itself (falls back to a heuristic)."""
        try:
            with apprise_log_scope(quiet=True):
                plugin = apprise.Apprise.instantiate(self.url, asset=new_asset())
        except Exception:  # masking must never raise
            plugin = None
        if plugin is None:
            return mask_url(self.url)
        # privacy=True: Apprise masks every field its plugin declares private.
        return _drop_default_params(plugin.url(privacy=True))

    def __repr__(self) -> str:
        return f"Channel(unit_code={self.unit_code!r}, url={self.masked_url!r})"


# --------------------------------------------------------------------------- Apprise log scope

_log_sink: ContextVar[list[logging.LogRecord] | None] = ContextVar("shanhai_apprise_log_sink", default=None)
_log_quiet: ContextVar[bool] = ContextVar("shanhai_apprise_log_quiet", default=False)
_scope_lock = threading.Lock()


class _AppriseLogScope(logging.Filter):
    """Installed once on the ``apprise`` logger; inert unless a scope is active.

    Inside :func:`apprise_log_scope` (a context variable, so per thread/task)
    it copies every record Apprise emits into the scope's list and, with
    ``quiet=True``, keeps the record from the application's handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        sink = _log_sink.get()
        if sink is not None:
            sink.append(record)
        return not _log_quiet.get()


def _install_log_scope() -> None:
    logger = logging.getLogger("apprise")
    with _scope_lock:
        if not any(isinstance(f, _AppriseLogScope) for f in logger.filters):
            logger.addFilter(_AppriseLogScope())


@contextlib.contextmanager
def apprise_log_scope(*, quiet: bool = False) -> Iterator[list[logging.LogRecord]]:
    """Collect the ``apprise`` log records emitted in this context (and optionally hide them)."""
    _install_log_scope()
    records: list[logging.LogRecord] = []
    sink_token = _log_sink.set(records)
    quiet_token = _log_quiet.set(quiet)
    try:
        yield records
    finally:
        _log_quiet.reset(quiet_token)
        _log_sink.reset(sink_token)


# --------------------------------------------------------------------------- masking

_LONG_TOKEN = re.compile(r"(?<![{\w-])[A-Za-z0-9_\-]{12,}")
_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)([^@/?#]+)(@)")


def mask_url(text: str) -> str:
    """Mask the parts of a URL *as written* that look like credentials.

    ``${NAME}`` placeholders are kept (they are the point of the message);
    a password in the user-info part and any literal run of 12 or more
    token characters become ``a…z``.
    """

    def mask_token(m: re.Match[str]) -> str:
        s = m.group(0)
        return f"{s[0]}…{s[-1]}"

    def mask_password(m: re.Match[str]) -> str:
        pw = m.group(2)
        return m.group(1) + (pw if _PLACEHOLDER.fullmatch(pw) else "****") + m.group(3)

    masked = _USERINFO_PASSWORD.sub(mask_password, text)
    scheme, sep, rest = masked.partition("://")
    if not sep:
        scheme, rest = "", masked
    # Protect placeholders (and the scheme) from the token mask.
    parts = re.split(r"(\$\{[^}]*\})", rest)
    return scheme + sep + "".join(p if p.startswith("${") else _LONG_TOKEN.sub(mask_token, p) for p in parts)


# Generic arguments Apprise writes into every URL it renders; noise in a log line.
_GENERIC_PARAMS = frozenset(
    {"overflow", "retry", "wait", "optional", "format", "emojis", "store", "tz", "method", "cto", "rto"}
)


def _drop_default_params(url: str) -> str:
    base, sep, query = url.partition("?")
    if not sep:
        return url
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in _GENERIC_PARAMS]
    return base + ("?" + "&".join(kept) if kept else "")


def _scrub(text: str, secrets: list[str]) -> str:
    """Remove substituted secret values (raw or percent-encoded) from a message."""
    for s in sorted(set(secrets), key=len, reverse=True):
        if len(s) >= 3:
            text = text.replace(s, "****").replace(quote(s, safe=""), "****")
    return text


# --------------------------------------------------------------------------- loading


@dataclass
class _Entry:
    line: int  # 1-based line of the URL in the file
    template: str  # the URL as written (placeholders intact)
    tags: list[str]
    tags_line: int


def _describe_unit(code: str, known_units: Mapping[str, str]) -> str:
    name = known_units.get(code)
    return f"单位「{name}」({code})" if name else f"单位 {code}"


def _scalar_str(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _parse_tags(node: yaml.Node) -> list[str] | None:
    """``tag: a, b`` / ``tag: [a, b]`` / ``tag: a b`` -> ['a', 'b']."""
    values: list[str] = []
    if isinstance(node, yaml.ScalarNode):
        values = [node.value]
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode):
                return None
            values.append(item.value)
    else:
        return None
    tags: list[str] = []
    for v in values:
        tags.extend(t for t in re.split(r"[\s,]+", str(v)) if t)
    return tags


def _entries(root: yaml.Node, where: str, problems: list[str]) -> list[_Entry]:
    """Walk the YAML node tree (for line numbers) and collect URL entries."""
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"{where} 第{root.start_mark.line + 1}行：顶层应为映射（version / urls）")
        return []
    urls_node: yaml.Node | None = None
    for key_node, value_node in root.value:
        key = _scalar_str(key_node)
        line = key_node.start_mark.line + 1
        if key == "version":
            if _scalar_str(value_node) != "1":
                problems.append(f"{where} 第{line}行：只支持 Apprise YAML version: 1")
        elif key == "urls":
            urls_node = value_node
        else:
            problems.append(
                f"{where} 第{line}行：不支持的顶层配置项 {key!r}（只接受 {', '.join(_TOP_LEVEL_KEYS)}）"
            )
    if urls_node is None:
        return []
    if isinstance(urls_node, yaml.ScalarNode) and urls_node.value in ("", "~", "null"):
        return []
    if not isinstance(urls_node, yaml.SequenceNode):
        problems.append(f"{where} 第{urls_node.start_mark.line + 1}行：urls 应为列表")
        return []

    entries: list[_Entry] = []
    for item in urls_node.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.ScalarNode):
            problems.append(
                f"{where} 第{line}行：URL {mask_url(str(item.value))} 没有 tag；"
                "每个 URL 都必须用 tag 指明所属单位代码"
            )
            continue
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            problems.append(f"{where} 第{line}行：urls 的每一项应为 “URL: {{tag: 单位代码}}”")
            continue
        url_node, settings = item.value[0]
        template = _scalar_str(url_node)
        if not template:
            problems.append(f"{where} 第{line}行：URL 应为字符串")
            continue
        setting_maps: list[yaml.MappingNode] = []
        if isinstance(settings, yaml.MappingNode):
            setting_maps = [settings]
        elif isinstance(settings, yaml.SequenceNode) and all(
            isinstance(s, yaml.MappingNode) for s in settings.value
        ):
            setting_maps = list(settings.value)
        elif isinstance(settings, yaml.ScalarNode) and settings.value in ("", "~", "null"):
            setting_maps = []
        else:
            problems.append(f"{where} 第{line}行：URL {mask_url(template)} 的设置应为映射（tag: …）")
            continue
        if not setting_maps:
            problems.append(
                f"{where} 第{line}行：URL {mask_url(template)} 没有 tag；每个 URL 都必须用 tag 指明所属单位代码"
            )
            continue
        for smap in setting_maps:
            tags: list[str] | None = None
            tags_line = smap.start_mark.line + 1
            bad = False
            for k_node, v_node in smap.value:
                k = _scalar_str(k_node)
                if k in _TAG_KEYS:
                    tags = _parse_tags(v_node)
                    tags_line = k_node.start_mark.line + 1
                    if tags is None:
                        problems.append(f"{where} 第{tags_line}行：tag 应为字符串或字符串列表")
                        bad = True
                else:
                    problems.append(
                        f"{where} 第{k_node.start_mark.line + 1}行：URL {mask_url(template)} 的设置 {k!r} "
                        "不受支持；请把选项写进 URL 的查询参数（?key=value），这里只接受 tag"
                    )
                    bad = True
            if bad:
                continue
            if not tags:
                problems.append(
                    f"{where} 第{line}行：URL {mask_url(template)} 没有 tag；每个 URL 都必须用 tag 指明所属单位代码"
                )
                continue
            entries.append(_Entry(line=line, template=template, tags=tags, tags_line=tags_line))
    return entries


def load_channels(
    path: Path | None,
    *,
    environ: Mapping[str, str],
    known_units: Mapping[str, str],
) -> dict[str, list[Channel]]:
    """Load the channel file; return unit code -> channels (in file order).

    ``path`` None or missing -> ``{}``: nothing is configured, so messages
    stay in the local outbox.  Raises :class:`ChannelConfigError` listing
    every problem; nothing partial is ever returned.
    """
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        return {}
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ChannelConfigError(
            path, [f"{where}：不是 UTF-8 编码（{exc.reason}，字节 {exc.start}）"]
        ) from exc
    except OSError as exc:
        raise ChannelConfigError(path, [f"{where}：无法读取（{exc.strerror}）"]) from exc

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" 第{mark.line + 1}行" if mark is not None else ""
        raise ChannelConfigError(path, [f"{where}{line}：YAML 语法错误：{exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ChannelConfigError(path, [f"{where}：YAML 语法错误：{exc}"]) from exc
    if root is None:
        return {}

    problems: list[str] = []
    entries = _entries(root, where, problems)

    asset = new_asset()
    result: dict[str, list[Channel]] = {}
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        units = ", ".join(_describe_unit(t, known_units) for t in entry.tags)
        shown = mask_url(entry.template)
        for tag in entry.tags:
            if tag not in known_units:
                problems.append(
                    f"{where} 第{entry.tags_line}行：tag {tag!r} 不是已知的单位代码（URL {shown}）"
                )

        # ${ENV} substitution
        missing: list[str] = []
        secrets: list[str] = []

        def substitute(m: re.Match[str], missing: list[str] = missing, secrets: list[str] = secrets) -> str:
            name = m.group(1)
            if name not in environ or environ[name] == "":
                missing.append(name)
                return m.group(0)
            secrets.append(environ[name])
            return quote(environ[name], safe="")

        url = _PLACEHOLDER.sub(substitute, entry.template)
        if missing:
            for name in dict.fromkeys(missing):
                problems.append(
                    f"{where} 第{entry.line}行：{units} 的渠道 URL {shown} 需要环境变量 {name}，但它未设置"
                )
            continue

        # Validate with Apprise itself (same parser that will deliver).  Its
        # plugins log the rejected value (often the token itself), so their
        # records are kept out of the application's logs here.
        reason = ""
        plugin = None
        with apprise_log_scope(quiet=True):
            try:
                plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=False)
            except Exception as exc:  # any plugin error means "invalid URL"
                reason = _scrub(str(exc), secrets)
        if plugin is None:
            scheme = url.partition("://")[0] if "://" in url else ""
            if not reason:
                reason = (
                    f"Apprise 不支持 {scheme}:// 渠道"
                    if scheme and "://" in url
                    else "Apprise 无法解析该 URL"
                )
            problems.append(f"{where} 第{entry.line}行：{units} 的渠道 URL 无效：{shown}（{reason}）")
            continue

        for tag in entry.tags:
            if tag not in known_units:
                continue
            key = (tag, url)
            if key in seen:
                problems.append(
                    f"{where} 第{entry.line}行：{_describe_unit(tag, known_units)} 的渠道 URL {shown} "
                    f"与第{seen[key]}行重复"
                )
                continue
            seen[key] = entry.line
            result.setdefault(tag, []).append(Channel(unit_code=tag, url=url))

    if problems:
        raise ChannelConfigError(path, problems)
    return result
