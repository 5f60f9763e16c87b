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
A :class:`Channel` remembers the values it was given, so everything derived
from it is scrubbed at the source (:attr:`Channel.masked_url`,
:meth:`Channel.scrub`; see :mod:`.redact`).

Only ``version`` and ``urls`` are accepted at the top level, and ``tag``/``tags``
inside an entry: options belong in the URL's query string, so that
:attr:`Channel.url` alone says everything about a channel.

A configured file is read with :mod:`shanhai.models.yaml_source` (duplicate
keys and alias bombs refused) and validated with pydantic.  Loading is
all-or-nothing: every problem (a missing or unreadable file, a file without
``urls``, YAML syntax, a missing or empty variable, a URL Apprise cannot
load, a tag that is no known unit, a duplicate) is collected and raised
together as one :class:`ChannelConfigError`, each problem as
``file:line: field: message`` naming the unit and the URL as written
(placeholders, not secrets; literal tokens and passwords masked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import apprise

from shanhai.models.yaml_source import Problem

from .channel_file import ChannelConfigError, locate, read_channel_file
from .redact import PLACEHOLDER, Redactor, log_scope, mask_url

__all__ = ["Channel", "ChannelConfigError", "load_channels", "mask_url", "new_asset"]


def new_asset() -> apprise.AppriseAsset:
    """An Apprise asset that keeps no state on disk and masks secrets in its logs."""
    return apprise.AppriseAsset(storage_mode="memory", secure_logging=True)


@dataclass(frozen=True)
class Channel:
    """One delivery channel of one unit.

    ``url`` is the Apprise URL after ``${ENV}`` substitution: it contains secrets and is only
    ever given to Apprise (and to a keyed hash).  ``template`` is the URL as written and
    ``secrets`` the ``(variable, value)`` pairs substituted into it.  Show :attr:`masked_url`
    (also what ``repr()`` shows) and pass any text derived from the channel through
    :meth:`scrub`.
    """

    unit_code: str
    url: str = field(repr=False)
    template: str | None = field(default=None, repr=False, compare=False)
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @cached_property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()

    @cached_property
    def masked_url(self) -> str:
        """The URL as written: ``${NAME}`` placeholders shown, literal credentials masked, and no
        substituted value in any encoding."""
        shown = self.template if self.template is not None else self.url
        return Redactor(self.secrets).label(mask_url(shown))

    @cached_property
    def _redactor(self) -> Redactor:
        return Redactor(self.secrets, keep=[self.masked_url])

    def scrub(self, text: str) -> str:
        """``text`` (an exception message, a server reply, a log line) without this channel's
        substituted values: whole forms become ``${NAME}``, fragments ``****``."""
        return self._redactor.scrub(text)

    def __repr__(self) -> str:
        return f"Channel(unit_code={self.unit_code!r}, url={self.masked_url!r})"


# --------------------------------------------------------------------------- loading


def _describe_unit(code: str, known_units: Mapping[str, str]) -> str:
    name = known_units.get(code)
    return f"单位「{name}」({code})" if name else f"单位 {code}"


def load_channels(
    path: Path | None,
    *,
    environ: Mapping[str, str],
    known_units: Mapping[str, str],
) -> dict[str, list[Channel]]:
    """Load the channel file; return unit code -> channels (in file order).

    ``path`` None (``SHANHAI_APPRISE_CONFIG`` unset) -> ``{}``: nothing is configured, messages
    stay in the local outbox.  A configured file must exist, be readable and list its ``urls``
    (``urls: []`` says "none, on purpose").  Raises :class:`ChannelConfigError` listing every
    problem; nothing partial is ever returned.
    """
    if path is None:
        return {}
    path = Path(path)
    entries, source, problems = read_channel_file(path)
    where = str(path)

    result: dict[str, list[Channel]] = {}
    seen: dict[tuple[str, str], int] = {}
    asset = new_asset()
    for index, entry in entries:
        template = entry.url
        line = source.line(("urls", index))
        shown = mask_url(template)
        codes = list(dict.fromkeys(c for s in entry.settings for c in s.codes))
        units = "、".join(_describe_unit(c, known_units) for c in codes)

        for j, settings in enumerate(entry.settings):
            for key in ("tag", "tags"):
                for code in getattr(settings, key):
                    if code not in known_units:
                        loc, field_shown = locate(source, ("urls", index, "settings", j, key))
                        problems.append(Problem(
                            where, source.line(loc), field_shown,
                            f"标签 {code!r} 不是已知的单位代码（见 calendar/units.yaml 的 code；URL {shown}）",
                        ))

        url, secrets, bad = _substitute(template, environ)
        if bad:
            problems.extend(Problem(where, line, f"urls[{index}]", f"{units} 的渠道 URL {shown} {b}") for b in bad)
            continue
        redactor = Redactor(secrets)

        # Validate with Apprise itself (the parser that will deliver).  Its plugins log the
        # rejected value (often the token itself): those records stay out of the logs here.
        reason = ""
        plugin = None
        with log_scope(quiet=True):
            try:
                plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=False)
            except Exception as exc:  # any plugin error means "invalid URL"
                reason = mask_url(redactor.scrub(str(exc)))
        if plugin is None:
            scheme = url.partition("://")[0] if "://" in url else ""
            reason = reason or (f"Apprise 不支持 {scheme}:// 渠道" if scheme else "Apprise 无法解析该 URL")
            problems.append(Problem(where, line, f"urls[{index}]", f"{units} 的渠道 URL 无效：{shown}（{reason}）"))
            continue

        for code in codes:
            if code not in known_units:
                continue
            unit_url = (code, url)
            if unit_url in seen:
                problems.append(Problem(
                    where, line, f"urls[{index}]",
                    f"{_describe_unit(code, known_units)} 的渠道 URL {shown} 与第{seen[unit_url]}行重复",
                ))
                continue
            seen[unit_url] = line or 0
            result.setdefault(code, []).append(
                Channel(unit_code=code, url=url, template=template, secrets=tuple(dict.fromkeys(secrets)))
            )

    if problems:
        raise ChannelConfigError(path, sorted(problems, key=lambda p: p.line or 0))
    return result


def _substitute(template: str, environ: Mapping[str, str]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """``${NAME}`` -> the percent-encoded value; (url, substituted pairs, problems)."""
    secrets: list[tuple[str, str]] = []
    bad: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        name = m.group(1)
        value = environ.get(name)
        if value is None:
            bad.append(f"需要环境变量 {name}，但它未设置")
            return m.group(0)
        if value == "":
            bad.append(f"需要环境变量 {name}，但它是空字符串")
            return m.group(0)
        secrets.append((name, value))
        return quote(value, safe="")

    url = PLACEHOLDER.sub(substitute, template)
    rest = PLACEHOLDER.sub("", template)
    if "${" in rest:
        bad.append("含有无法识别的占位符：只支持 ${NAME}（字母、数字、下划线，不以数字开头）")
    return url, secrets, list(dict.fromkeys(bad))
