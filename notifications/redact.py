"""Keeping channel secrets out of every text: labels, error messages and log lines.

Two kinds of secret reach a channel URL:

* values substituted from ``${ENV}`` placeholders.  They are known exactly, so they are
  *scrubbed*: :class:`Redactor` replaces every form a library may print them in (raw, percent-encoded
  with any safe set, ``+`` for spaces, double-encoded, any letter case) by ``${NAME}``, and in
  untrusted text (exception messages, server replies, log records) also every run of four or more
  of their URL-safe characters, since Apprise and requests re-encode a URL piecewise (a path token
  ``a/b?c`` comes back as ``a/b%3Fc`` or ``a/b%253Fc``).
* literals written in the file itself (against the rules, but possible).  They cannot be known,
  so :func:`mask_url` *masks* what looks like a credential: a password, the token of a robot
  URL, a header or a secret-named query value, any run of 12 or more token characters.

:func:`log_scope` collects (and optionally hides) the records that Apprise and urllib3 emit, so a
caller can re-log them scrubbed: those libraries print URLs, tokens included.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_CHARS", "PLACEHOLDER", "Redactor", "log_scope", "mask_url", "mask_urls"]

#: ``${NAME}`` in a channel URL as written.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: A substituted value shorter than this (a port such as ``25``) is indistinguishable from
#: ordinary text and is not scrubbed; labels never contain it anyway (they show ``${NAME}``).
MIN_SECRET_CHARS = 3
_MIN_RUN_CHARS = 4
_SAFE_SETS = ("", "/", "@", ":", "/:@", "/:@!$&'()*+,;=", "-._~")

Secrets = Iterable[tuple[str, str]]  # (variable name, value)


# --------------------------------------------------------------------------- scrubbing


def _encodings(value: str) -> set[str]:
    forms = {value}
    for safe in _SAFE_SETS:
        once = quote(value, safe=safe)
        forms |= {once, quote(once, safe=safe), once.lower()}
    forms |= {quote_plus(value), quote_plus(value, safe="/"), quote_plus(quote_plus(value))}
    return {f for f in forms if f}


def _runs(value: str) -> set[str]:
    """Pieces of ``value`` that survive any percent-encoding unchanged (or whole, if not ASCII)."""
    runs = set(re.findall(rf"[A-Za-z0-9._~\-]{{{_MIN_RUN_CHARS},}}", value))
    runs |= {r for r in re.findall(r"[A-Za-z0-9._~\-\u0080-\U0010ffff]{2,}", value) if not r.isascii()}
    return runs


def _compile(alternatives: dict[str, str], keep: Iterable[str]) -> Callable[[str], str]:
    if not alternatives:
        return lambda text: text
    kept = [re.escape(k) for k in sorted(set(keep), key=len, reverse=True) if k]
    forms = sorted(alternatives, key=len, reverse=True)
    # One pass, longest first; placeholders and the ``keep`` texts match first and stay as they
    # are, so a replacement is never scrubbed again and a label stays whole.
    first = [re.escape(f) for f in forms if "${" in f]  # a value that itself looks like a placeholder
    parts = [*first, PLACEHOLDER.pattern, *kept, *(re.escape(f) for f in forms if "${" not in f)]
    pattern = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)
    replacements = {f.lower(): r for f, r in alternatives.items()}

    def apply(text: str) -> str:
        return pattern.sub(lambda m: replacements.get(m.group(0).lower(), m.group(0)), text)

    return apply


class Redactor:
    """Scrubs the substituted values of one channel from text (compiled once).

    :meth:`label` replaces every encoded form of each value by ``${NAME}`` (for text we build,
    such as a label).  :meth:`scrub` treats text as untrusted (exception messages, server
    replies, log records): it also replaces every run of four or more of a value's URL-safe
    characters by ``****``, leaving occurrences of the ``keep`` texts whole.
    """

    def __init__(self, secrets: Secrets, *, keep: Iterable[str] = ()):
        secrets = [(n, v) for n, v in secrets if len(v) >= MIN_SECRET_CHARS]
        exact: dict[str, str] = {}
        for name, value in secrets:
            for form in _encodings(value):
                exact.setdefault(form, f"${{{name}}}")
        loose = dict(exact)
        for _, value in secrets:
            for run in _runs(value):
                for form in {run, quote(run, safe=""), quote(quote(run, safe=""), safe="")}:
                    loose.setdefault(form, "****")
        self.label = _compile(exact, ())
        self.scrub = _compile(loose, keep)


# --------------------------------------------------------------------------- masking literals

_LONG_TOKEN = re.compile(r"(?<![{\w-])[A-Za-z0-9_\-]{12,}")
_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)([^@/?#]+)(@)")
_ROBOT_SCHEMES = frozenset({"dingtalk", "wecombot", "feishu", "lark"})
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|sign|cred", re.IGNORECASE)
_QUERY_PARAM = re.compile(r"(?P<sep>[?&])(?P<key>[^=&#]+)=(?P<value>[^&#]*)")


def _mask_token(s: str) -> str:
    return f"{s[0]}…{s[-1]}" if len(s) > 4 else "****"


def _mask_literal(segment: str) -> str:
    """Mask the literal parts of ``segment``, keeping its placeholders."""
    parts = re.split(r"(\$\{[^}]*\})", segment)
    return "".join(p if p.startswith("${") or not p else _mask_token(p) for p in parts)


def mask_url(text: str) -> str:
    """Mask what looks like a credential in a URL *as written*.

    ``${NAME}`` placeholders are kept (they name the variable to fix).  Masked: the password of
    the user-info part, the token (user-info and host) of a robot URL, the value of a ``+Header``
    or of a query parameter whose name says secret (``pass``, ``token``, ``key`` …), and any other
    literal run of 12 or more token characters.
    """

    def mask_password(m: re.Match[str]) -> str:
        pw = m.group(2)
        return m.group(1) + (pw if PLACEHOLDER.fullmatch(pw) else "****") + m.group(3)

    masked = _USERINFO_PASSWORD.sub(mask_password, text)
    scheme, sep, rest = masked.partition("://")
    if not sep:
        scheme, rest = "", masked
    if scheme.lower() in _ROBOT_SCHEMES:
        authority, slash, tail = _split_authority(rest)
        rest = "@".join(_mask_literal(p) for p in authority.split("@")) + slash + tail

    def mask_param(m: re.Match[str]) -> str:
        key, value = m.group("key"), m.group("value")
        if value and (key.startswith(("+", "%2B", "%2b")) or _SECRET_PARAM.search(key)):
            value = value if PLACEHOLDER.fullmatch(value) else _mask_literal(value)
        return f"{m.group('sep')}{key}={value}"

    rest = _QUERY_PARAM.sub(mask_param, rest)
    # The scheme, placeholders and query keys (``?+Authorization=``) are kept from the long-token mask.
    parts = re.split(r"(\$\{[^}]*\}|[?&][^=&#?\s]+=)", rest)
    rest = "".join(
        p if p.startswith(("${", "?", "&")) else _LONG_TOKEN.sub(lambda m: _mask_token(m.group(0)), p) for p in parts
    )
    return scheme + sep + rest


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s，。；、）)」”]+")


def mask_urls(text: str) -> str:
    """Every URL in a text (an error message) masked with :func:`mask_url`, the prose left as it is."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def _split_authority(rest: str) -> tuple[str, str, str]:
    m = re.search(r"[/?#]", rest)
    if m is None:
        return rest, "", ""
    return rest[: m.start()], m.group(0), rest[m.end():]


# --------------------------------------------------------------------------- log scope

#: Loggers whose records may quote a channel URL (Apprise's plugins; urllib3's request lines).
SCOPED_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")

_log_sink: ContextVar[list[logging.LogRecord] | None] = ContextVar("shanhai_log_sink", default=None)
_log_quiet: ContextVar[bool] = ContextVar("shanhai_log_quiet", default=False)
_scope_lock = threading.Lock()


class _LogScope(logging.Filter):
    """Installed once on each scoped logger; inert unless a scope is active in this context.

    Inside :func:`log_scope` (a context variable, so per thread or task) it copies every record
    into the scope's list and, with ``quiet=True``, keeps it from the application's handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        sink = _log_sink.get()
        if sink is not None:
            sink.append(record)
        return not _log_quiet.get()


def _install() -> None:
    with _scope_lock:
        for name in SCOPED_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _LogScope) for f in logger.filters):
                logger.addFilter(_LogScope())


@contextlib.contextmanager
def log_scope(*, quiet: bool = False) -> Iterator[list[logging.LogRecord]]:
    """Collect the records the scoped loggers emit in this context (and optionally hide them).

    Scopes nest: an inner scope is quiet if any enclosing one is, and hands its records on to it.
    """
    _install()
    records: list[logging.LogRecord] = []
    parent = _log_sink.get()
    sink_token = _log_sink.set(records)
    quiet_token = _log_quiet.set(quiet or _log_quiet.get())
    try:
        yield records
    finally:
        _log_quiet.reset(quiet_token)
        _log_sink.reset(sink_token)
        if parent is not None:  # an enclosing scope sees what this one collected
            parent.extend(records)
