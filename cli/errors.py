"""What a user sees when a command fails: one readable line, never a traceback.

Every command runs inside :class:`ShanhaiGroup`. Errors the commands do not handle themselves but whose
cause is known (a setting, a catalogue or holiday file, a channel file, a busy or unreachable database,
a file the command could not read or write) become one Chinese-first line naming what is wrong, exit 1.
Anything else is a bug: one line ``内部错误：…`` naming the log that holds the traceback, exit 2. The
fuzz test (tests/test_cli_fuzz.py) fails on that line, so unknown errors are found, not hidden.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

PREFIX = "错误 error: "
INTERNAL = "内部错误"
LOG_NAME = "cli-errors.log"
BUSY = "数据库正忙（另一个 shanhai 进程正在写入），请稍后重试 the database is busy, try again later"


class ShanhaiGroup(TyperGroup):
    """The root command group: arguments are checked for what no shell can pass, and every error a
    command lets through is reported in one line (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors its own click Context
        for arg in args:
            problem = _unpassable(arg)
            if problem:
                typer.echo(f"{PREFIX}{problem}：{arg[:80]!r}", err=True)
                raise typer.Exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise  # typer's own ending (a closed pipe, as in `shanhai status | head`, ends quietly)
        except Exception as exc:  # noqa: BLE001  (every error ends in one line; a bug also in the log)
            known = describe(exc)
            if known is not None:
                typer.echo(f"{PREFIX}{known}", err=True)
                raise typer.Exit(1) from None
            typer.echo(internal_error(exc), err=True)
            raise typer.Exit(2) from None


OS_REASONS = {
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "磁盘配额已满",
    errno.EFBIG: "文件超出允许的大小",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EROFS: "只读文件系统",
    errno.ENOENT: "不存在",
    errno.ENOTDIR: "路径中有一段不是目录",
    errno.EISDIR: "是一个目录",
    errno.ENAMETOOLONG: "文件名过长",
    errno.ELOOP: "符号链接循环",
}


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in Chinese where the cause is a common one."""
    return OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def _unpassable(arg: str) -> str | None:
    """What makes an argument impossible to use: a NUL (no file name, no database text holds one), or
    bytes that are not UTF-8 (Python hands them over as lone surrogates, which nothing can print or
    store)."""
    if "\x00" in arg:
        return "参数中含有空字符（NUL）"
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return "参数不是有效的 UTF-8 文本（请检查终端或脚本的编码）"
    return None


def describe(exc: BaseException) -> str | None:
    """One line (or a located list, for a file's problems) for an error with a known cause, else None."""
    from shanhai.app import DatabaseUnreachable, NotInitialised, connect_reason
    from shanhai.models.errors import InputError
    from shanhai.models.yaml_source import YamlFileError
    from shanhai.settings import SettingsError

    if isinstance(exc, SettingsError):
        return str(exc)
    if isinstance(exc, YamlFileError):  # catalogue, holiday file, channel file: every problem with file:line
        from shanhai.models.catalogue import CatalogueError

        what = "事项目录有误 catalogue is invalid" if isinstance(exc, CatalogueError) else "文件有误 invalid file"
        return f"{what}:\n{exc}"
    if isinstance(exc, InputError):
        return f"--{exc.field}：{exc.message}（未保存 nothing stored）"
    if isinstance(exc, DatabaseUnreachable):
        return f"无法连接数据库：{_database()}：{connect_reason(str(exc))}"
    if isinstance(exc, NotInitialised):
        return f"{_database()}：{exc}"
    if _is_sqlalchemy(exc, "DBAPIError") and _db().is_disk_full(exc):
        return f"磁盘空间不足：{_database()} 无法写入，未保存任何内容 nothing stored。请清理磁盘或扩容后重试 the disk is full"
    if _is_sqlalchemy(exc, "OperationalError"):
        first = _driver_reason(exc)
        if _db().is_busy(exc):
            return BUSY
        if "no such table" in first:
            return f"数据库未初始化或不是山海的数据库：{_database()}：{first}。请运行 shanhai init"
        return f"数据库操作失败：{_database()}：{connect_reason(first)}。请检查 SHANHAI_DATABASE_URL 与数据库服务器，然后重试"
    if _is_sqlalchemy(exc, "ProgrammingError") and _NO_RELATION.search(_driver_reason(exc)):
        return f"数据库未初始化或不是山海的数据库：{_database()}：{_driver_reason(exc)}。请运行 shanhai init"
    if _is_sqlalchemy(exc, "DatabaseError") and _NOT_A_DATABASE.search(_driver_reason(exc)):
        # the file answered but not as a database would; any other database error (a value too long, an
        # aborted transaction, a broken constraint) is a bug and stays an internal error, never hidden here
        return (
            f"数据库无法使用：{_database()}：{_driver_reason(exc)}。"
            "请检查 SHANHAI_DATABASE_URL / SHANHAI_HOME 是否指向山海的数据库"
        )
    if isinstance(exc, OSError) and (exc.filename or exc.strerror):
        if exc.filename:
            return f"无法访问文件 {exc.filename}：{os_reason(exc)}（未保存 nothing stored）"
        return f"系统错误：{os_reason(exc)}（未保存 nothing stored）"
    return None


_NO_RELATION = re.compile(r'relation "[^"]+" does not exist')  # PostgreSQL: a table migrations create is missing
_NOT_A_DATABASE = re.compile(r"file is not a database|database disk image is malformed")  # SQLite


def _driver_reason(exc: BaseException) -> str:
    """The database driver's first line (the SQL statement SQLAlchemy appends is left out)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return reason[0] if reason else type(exc).__name__


def _db():
    """shanhai.db, which reads a database error (busy, disk full) for the CLI and the portal alike;
    imported only once SQLAlchemy has raised."""
    from shanhai import db

    return db


def _is_sqlalchemy(exc: BaseException, name: str) -> bool:
    if "sqlalchemy" not in sys.modules:  # never imported: it cannot have raised
        return False
    from sqlalchemy import exc as sa_exc

    return isinstance(exc, getattr(sa_exc, name))


def _database() -> str:
    """The configured database, fit to show (no password), from the environment: the settings may be
    what failed."""
    url = os.environ.get("SHANHAI_DATABASE_URL")
    if not url:
        return str(_home() / "shanhai.db")
    from shanhai.settings import mask_url

    # masked as written, not as parsed: a parser can take part of a password containing "@" for the host
    return mask_url(url)


def _home() -> Path:
    """SHANHAI_HOME as the settings read it (relative to the repository), from the environment alone."""
    from shanhai.settings import under_repo_root

    return under_repo_root(Path(os.environ.get("SHANHAI_HOME") or "var")).resolve()


def log_path() -> Path:
    return _home() / "logs" / LOG_NAME


def internal_error(exc: BaseException) -> str:
    """The one line for a bug; its traceback goes to $SHANHAI_HOME/logs/cli-errors.log (private)."""
    import traceback
    from datetime import UTC, datetime

    message = " ".join(str(exc).split())[:300]
    path = log_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(f"--- {datetime.now(UTC).isoformat()} shanhai {' '.join(sys.argv[1:])}\n")
            log.write("".join(traceback.format_exception(exc)))
        where = f"详见 {path}"
    except OSError as log_error:
        where = f"日志无法写入 {path}：{log_error.strerror or log_error}"
    return f"{INTERNAL}：{type(exc).__name__}: {message}（{where}）"
