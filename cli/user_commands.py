"""The portal's commands: accounts (`shanhai user add|list|disable|passwd`) and serving it (`shanhai portal`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shanhai.cli.app import Json, app, emit_json, fail, load_app

user_app = typer.Typer(help="门户账号：协调方与领导小组（user）。承办单位无需账号，使用提醒中的链接。", no_args_is_help=True)
app.add_typer(user_app, name="user")

def _ready():
    a = load_app()
    a.migrate()
    return a


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="账号名，如 jinghe-zhang")],
    role: Annotated[str, typer.Option("--role", help="coordinator（协调方，可核验、退回、豁免）或 supervisor（领导小组，只读）")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码（一行）")] = False,
) -> None:
    """新建门户账号（密码以 argon2 哈希保存）。 Add a portal account."""
    from shanhai.models.accounts import add_user, check_name, check_password
    from shanhai.models.errors import InputError

    try:
        check_name(name)
        if role not in ("coordinator", "supervisor"):
            raise InputError("role", f"角色应为 coordinator 或 supervisor，而不是“{role}”")
    except InputError as exc:
        fail(f"--{exc.field}：{exc.message}")
    a = _ready()  # a missing database ends the command before anyone types a password for nothing
    password = _read_password(password_stdin)
    try:
        check_password(password)
        with a.session() as session:
            add_user(session=session, name=name, role=role, password=password, actor="cli")
    except InputError as exc:
        where = "密码" if exc.field == "password" else f"--{exc.field}"  # typed at a prompt or on stdin
        fail(f"{where}：{exc.message}（未保存 nothing stored）")
    from shanhai.models.accounts import Role

    typer.echo(f"已创建账号 {name.strip()}（{Role(role).label}）。")


def _read_password(from_stdin: bool, prompt: str = "密码") -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt="再次输入密码")


@user_app.command("list")
def user_list(as_json: Json = False) -> None:
    """列出门户账号。 List portal accounts."""
    from shanhai.models.accounts import Role, list_users
    from shanhai.models.localtime import format_local

    a = _ready()
    with a.session() as session:
        users = list_users(session=session)
    items = [
        {
            "name": u.name,
            "role": u.role,
            "active": u.active,
            "created_at": format_local(u.created_at),
            "last_login": format_local(u.last_login_at) if u.last_login_at else None,
        }
        for u in users
    ]
    if as_json:
        return emit_json(items)
    if not items:
        typer.echo("尚无账号：shanhai user add NAME --role coordinator")
        return
    from shanhai.cli import output

    rows = [{**i, "role": Role(u.role).label, "active": "启用" if u.active else "已停用"} for i, u in zip(items, users, strict=True)]
    output.table(
        rows,
        [("name", "账号"), ("role", "角色"), ("active", "状态"), ("created_at", "创建时间"), ("last_login", "最近登录")],
    )


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="账号名")]) -> None:
    """停用门户账号（立即失效，包括已登录的会话）。 Disable a portal account."""
    from shanhai.models.accounts import set_active
    from shanhai.models.errors import InputError

    a = _ready()
    try:
        with a.session() as session:
            set_active(session=session, name=name, active=False, actor="cli")
    except InputError as exc:
        fail(exc.message)
    typer.echo(f"账号 {name} 已停用。")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="账号名")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取新密码（一行）")] = False,
) -> None:
    """修改门户账号的密码；该账号已登录的会话全部失效。 Change a portal account's password."""
    from shanhai.models.accounts import change_password, check_name, user_named
    from shanhai.models.errors import InputError

    a = _ready()
    try:
        name = check_name(name)
        with a.read_session() as session:
            if user_named(session=session, name=name) is None:  # before anyone types a password for nothing
                raise InputError("name", f"没有账号“{name}”")
        password = _read_password(password_stdin, "新密码")
        with a.session() as session:
            change_password(session=session, name=name, password=password, actor="cli")
    except InputError as exc:
        fail(f"{exc.message}（未修改 nothing changed）")
    typer.echo(f"账号 {name} 的密码已修改，原有登录会话已全部失效。")


@app.command()
def portal(
    host: Annotated[str, typer.Option("--host", help="监听地址；单位需从其他电脑访问时用 0.0.0.0")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口")] = 8600,
) -> None:
    """启动门户网站（总览、单位与期次页面、填报链接、核验队列）。 Serve the web portal."""
    import uvicorn

    if not 1 <= port <= 65535:
        fail(f"--port：应为 1 到 65535 之间的端口号，而不是 {port}")
    a = load_app()
    a.migrate()
    typer.echo(f"门户 portal：http://{host}:{port}（提醒中的链接指向 SHANHAI_PORTAL_URL={a.settings.portal_url}）")
    uvicorn.run("shanhai.portal.app:create_app", factory=True, host=host, port=port, proxy_headers=False)


FIRST_ACCOUNTS = {"coordinator": "admin", "supervisor": "leader"}


def ensure_first_accounts(a) -> dict[str, tuple[str, str | None]]:
    """For `shanhai up`: per role, an active account to try the portal with. On a fresh home a coordinator
    `admin` and a supervisor `leader` are created with random passwords, returned once so they can be
    printed; later starts return the first active account of each role with no password."""
    import secrets

    from shanhai.models.accounts import add_user, list_users

    found: dict[str, tuple[str, str | None]] = {}
    with a.session() as session:
        users = list_users(session=session)
        for role, name in FIRST_ACCOUNTS.items():
            mine = [u for u in users if u.role == role and u.active]
            if mine:
                found[role] = (mine[0].name, None)
            elif not any(u.name == name for u in users):
                password = secrets.token_urlsafe(12)
                add_user(session=session, name=name, role=role, password=password, actor="up")
                found[role] = (name, password)
    return found
