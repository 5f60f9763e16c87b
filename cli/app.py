"""The `shanhai` Typer app and what every command shares: options, errors, the app, JSON output.

Prefect is imported only by the commands that run flows."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from shanhai.cli import zh_click
from shanhai.cli.errors import ShanhaiGroup

zh_click.install()

app = typer.Typer(
    cls=ShanhaiGroup,
    help="山海协作工程 温政发〔2018〕26号 任务督办引擎（Shanhai）。",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
catalogue_app = typer.Typer(help="事项目录：校验与查看（catalogue）。", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="评估时点：YYYY-MM-DD（当日12:00）或 YYYY-MM-DDTHH:MM（北京时间）；默认现在。"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="输出 JSON（字段见 README）。")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"错误 error: {message}", err=True)
    raise typer.Exit(code)


def as_of_option(text: str | None):
    from shanhai.app import parse_as_of

    try:
        return parse_as_of(text)
    except ValueError as exc:
        fail(f"--as-of：{exc}")


def refuse_future_as_of(a, when, *, preview: str) -> None:
    """A command that stores something runs at a moment that has come: a future ``--as-of`` would spend
    what is planned for a day still ahead (a reminder stage, a digest, a record's day), so it is refused
    before anything is written. A past ``--as-of`` (catching up, 补录) stays allowed."""
    from shanhai.models.localtime import format_local

    now = a.clock()
    if when > now:
        fail(
            f"--as-of：{format_local(when)} 在未来（此刻 {format_local(now)}），写入命令不能提前执行，"
            f"未写入任何内容；预览请用 {preview}"
        )


def load_app(*, need_db: bool = True):
    """The app with its catalogue and calendar checked. Unless ``need_db`` is False (init, demo and the
    commands that read only files), a missing database ends the command before anything is created."""
    from shanhai.app import App
    from shanhai.models.catalogue import CatalogueError
    from shanhai.models.working_days import HolidayFileError

    a = App()
    if not a.settings.catalogue_dir.exists():
        fail(f"SHANHAI_CATALOGUE_DIR：事项目录不存在：{a.settings.catalogue_dir}")
    if need_db:
        require_database(a)
    try:
        a.catalogue  # noqa: B018  (fail early, before any database work)
        a.calendar  # noqa: B018
    except (CatalogueError, HolidayFileError) as exc:
        fail(f"事项目录有误 catalogue is invalid:\n{exc}")
    return a


def require_database(a) -> None:
    """One line and exit 1 when the configured database is not there; nothing is created to find out
    (run from another folder, a wrong SHANHAI_HOME would otherwise get a new, empty, all-red database)."""
    problem = a.missing_database()
    if problem:
        fail(problem)


def ready_app(as_of, *, need_db: bool = True, preview: str | None = None):
    """The app synced at ``as_of``. ``preview`` marks a command that stores something: how to preview it
    instead, named when a future ``as_of`` is refused (before the sync writes anything)."""
    a = load_app(need_db=need_db)
    if preview is not None:
        refuse_future_as_of(a, as_of, preview=preview)
    a.sync(as_of=as_of)
    return a


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
