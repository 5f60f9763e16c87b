"""Click's own words in Chinese: the help page's headings, the usage line and usage errors.

Typer (0.29) vendors Click and prints "Usage:", "Options", "Show this message and exit." and its usage
errors in English, with no translation hook. A clerk who types ``shanhai record`` without an argument
should read Chinese like every other line the command prints, so the few strings Click and Typer use are
translated here, once, when the CLI starts; the English is kept beside a usage error as its gloss, as the
rest of the CLI's errors do. Nothing outside the ``shanhai`` command is affected: the CLI alone imports
this module.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import IO, Any

import typer
import typer.core
from typer import _click
from typer._click import decorators, exceptions, formatting

HELP_OPTION = "显示本帮助并退出。"
USAGE_PREFIX = "用法："

# the strings Typer passes through gettext
WORDS = {
    "Arguments": "参数",
    "Options": "选项",
    "Commands": "命令",
    "required": "必填",
    "default: {default}": "默认：{default}",
    "env var: {var}": "环境变量：{var}",
    "(dynamic)": "（动态）",
    "Missing command.": "缺少命令。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Aborted!": "已中止。",
}

# Click's usage errors, most specific first; the English stays as the gloss
ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), chinese)
    for pattern, chinese in (
        (r"^Missing argument '(?P<a>[^']*)'\.?(?P<rest>.*)$", "缺少参数 {a}"),
        (r"^Missing option '(?P<a>[^']*)'\.?(?P<rest>.*)$", "缺少选项 {a}"),
        (r"^Missing parameter: (?P<a>\S+)$", "缺少参数 {a}"),
        (r"^No such option: (?P<a>\S+)(?P<rest>.*)$", "没有这个选项：{a}"),
        (r"^Option '(?P<a>[^']*)' requires (?:an argument|\d+ arguments)\.$", "选项 {a} 需要一个值"),
        (r"^Option '(?P<a>[^']*)' does not take a value\.$", "选项 {a} 不带值"),
        (r"^Got unexpected extra argument(?:\(s\)|s)? \((?P<a>.*)\)$", "多余的参数：{a}"),
        (r"^Invalid value for (?P<a>.+?): (?P<rest>.*)$", "{a} 的值无效"),
        (r"^No such command '(?P<a>[^']*)'\.$", "没有命令 {a}"),
        (r"^Missing command\.$", "缺少命令"),
    )
)


def _translate(message: str) -> str:
    return WORDS.get(message, message)


def translate_usage_error(message: str) -> str:
    """``缺少参数 obligation（Missing argument 'obligation'.）``: Chinese first, Click's English as gloss."""
    for pattern, chinese in ERRORS:
        match = pattern.match(message)
        if match:
            return f"{chinese.format(**match.groupdict())}（{message}）"
    return message


def _show_usage_error(self: exceptions.UsageError, file: IO[Any] | None = None) -> None:
    file = file or _click.utils._default_text_stderr()
    if self.ctx is not None:
        hint = ""
        if self.ctx.command.get_help_option(self.ctx) is not None:
            hint = f"运行 {self.ctx.command_path} {self.ctx.help_option_names[0]} 查看帮助。\n"
        _click.echo(f"{self.ctx.get_usage()}\n{hint}", file=file, color=self.ctx.color)
    _click.echo(f"错误 error: {translate_usage_error(self.format_message())}", file=file)


def _chinese_help_option(original: Callable[..., Any]) -> Callable[..., Any]:
    def help_option(param_decls: list[str]) -> Callable[[Any], Any]:
        add = original(param_decls)

        def decorator(command: Any) -> Any:
            command = add(command)
            command.params[-1].help = HELP_OPTION
            return command

        return decorator

    return help_option


def _first_sentence(self: Any, limit: int = 45) -> str:
    """A command's line in a group's listing: its whole first Chinese sentence, never cut mid-word."""
    if self.short_help:
        return inspect.cleandoc(self.short_help).strip()
    text = inspect.cleandoc(self.help or "").partition("\f")[0].strip()
    sentence, stop, _rest = text.partition("。")
    if stop:
        return sentence.strip() + stop
    return _click.utils.make_default_short_help(text, limit)


class ChineseHelpFormatter(formatting.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("[OPTIONS]", "[选项]").replace("COMMAND [ARGS]...", "命令 [参数]...")
        super().write_usage(prog, args, USAGE_PREFIX if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{heading}：\n")


def install() -> None:
    """Idempotent: the CLI calls it when its app is built."""
    if getattr(typer.core, "_shanhai_zh", False):
        return
    typer.core._ = _translate
    decorators.help_option = _chinese_help_option(decorators.help_option)
    exceptions.UsageError.show = _show_usage_error  # type: ignore[method-assign]
    _click.core.Context.formatter_class = ChineseHelpFormatter
    _click.core.Command.get_short_help_str = _first_sentence  # type: ignore[method-assign]
    typer.core._shanhai_zh = True  # type: ignore[attr-defined]
