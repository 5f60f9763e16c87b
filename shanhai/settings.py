"""All configuration in one place: environment variables with the SHANHAI_ prefix.

A bad value is refused when the settings are read, naming the variable (:class:`SettingsError`), before
any command does anything with it.

A relative path (SHANHAI_HOME, SHANHAI_CATALOGUE_DIR, SHANHAI_APPRISE_CONFIG, a SQLite file in
SHANHAI_DATABASE_URL) is relative to the repository root, never to the current directory: Prefect's
process worker runs every flow run in a new temporary folder, where ``var`` would name a new, empty
database each time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shanhai import REPO_ROOT

ENV_PREFIX = "SHANHAI_"
# The drivers the application database runs on (insert-ignore, advisory locks and the SQLite pragmas
# are written for these two).
DATABASE_DRIVERS = {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}
MAX_EVIDENCE_LIMIT = 1 << 40  # 1 TiB: anything larger is a typo
# A channel that has not answered in 5 minutes will not: a longer wait only holds a delivery worker.
MAX_SEND_TIMEOUT = 300

# What each variable is, for the one line that refuses a bad value.
_MEANING = {
    "home": "数据目录",
    "database_url": "数据库地址，如 postgresql://user@host/shanhai 或 sqlite:////srv/shanhai/shanhai.db",
    "catalogue_dir": "事项目录",
    "send_hour": "每天开始发送的时刻，0–23 的整数",
    "apprise_config": "渠道文件",
    "secret_key": "签名密钥（轮换时写 新,旧）",
    "portal_url": "门户地址，如 https://shanhai.example.gov.cn",
    "prefect_ui_url": "Prefect 界面地址，如 http://127.0.0.1:4200",
    "max_evidence_bytes": f"证明材料大小上限（字节），1 到 {MAX_EVIDENCE_LIMIT} 的整数",
    "import_chunk_rows": "导入时每次提交的记录条数，1 到 100000 的整数",
    "send_timeout_seconds": f"发送时等待渠道应答的秒数，大于 0、不大于 {MAX_SEND_TIMEOUT}",
}
_SECRET_FIELDS = {"secret_key"}


class SettingsError(ValueError):
    """A SHANHAI_* variable has a value that cannot be used; the message names it (never a secret)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(default=REPO_ROOT / "var", description="data directory: database, evidence, secrets")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home")
    catalogue_dir: Path = Field(default=REPO_ROOT / "calendar")
    send_hour: int = Field(default=9, ge=0, le=23)
    apprise_config: Path | None = None
    secret_key: str | None = Field(
        default=None,
        description="signs links and names channels; 'new,old' while rotating; default: one generated "
        "into the database, shared by every worker",
    )
    portal_url: str = "http://127.0.0.1:8600"
    prefect_ui_url: str = "http://127.0.0.1:4200"
    max_evidence_bytes: int = Field(default=20 * 1024 * 1024, ge=1, le=MAX_EVIDENCE_LIMIT)
    # an import writes this many records per short transaction: the write lock is free between them
    import_chunk_rows: int = Field(default=2000, ge=1, le=100_000)
    send_timeout_seconds: float = Field(
        default=10.0, gt=0, le=MAX_SEND_TIMEOUT,
        description="how long a delivery waits for a channel to connect and to answer; no answer after the "
        "request went out is an unknown outcome, never resent",
    )

    @field_validator("home", "database_url", "catalogue_dir", "apprise_config", "portal_url", "prefect_ui_url",
                     mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        # set but empty is a mistake in a unit file or a shell script, not a request for the default
        if isinstance(value, str) and not value.strip():
            raise ValueError("为空：删除该变量以使用默认值，或填写一个值")
        return value

    @field_validator("home", "catalogue_dir", "apprise_config")
    @classmethod
    def _from_repo_root(cls, value: Path | None) -> Path | None:
        return value if value is None else under_repo_root(value)

    @field_validator("secret_key")
    @classmethod
    def _some_key(cls, value: str | None) -> str | None:
        if value is not None and not any(k.strip() for k in value.split(",")):
            raise ValueError("为空（或只有逗号）：删除该变量以使用数据库中生成的密钥，或填写密钥")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url  # only when a URL is set: the default needs no parsing

        try:
            url = make_url(value.strip())
        except Exception as exc:  # noqa: BLE001  (ArgumentError, or ValueError for a port that is no number)
            raise ValueError(f"不是数据库地址（{exc}）") from None
        if url.drivername not in DATABASE_DRIVERS:
            known = "、".join(sorted(DATABASE_DRIVERS))
            raise ValueError(f"不支持的数据库驱动“{url.drivername}”（可用：{known}）")
        if url.get_backend_name() == "postgresql" and not url.database:
            raise ValueError("缺少数据库名（…/shanhai）")
        if url.get_backend_name() == "sqlite" and _relative_file(url.database):
            assert url.database is not None
            url = url.set(database=str(under_repo_root(Path(url.database))))
            return url.render_as_string(hide_password=False)
        return value.strip()

    @field_validator("portal_url", "prefect_ui_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", value.strip()):
            raise ValueError("应为 http:// 或 https:// 开头的网址")
        return value.strip()

    @model_validator(mode="after")
    def _running_stack(self) -> Settings:
        """Unset addresses follow the stack `shanhai up` runs on this home (its real ports)."""
        unset = {"portal_url", "prefect_ui_url"} - self.model_fields_set
        if not unset:
            return self
        from shanhai.running import read_running_stack

        running = read_running_stack(self.home_dir) or {}
        for name in unset:
            if running.get(name):
                setattr(self, name, running[name])
        return self

    @property
    def home_dir(self) -> Path:
        return self.home.resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_dir / 'shanhai.db'}"

    @property
    def evidence_dir(self) -> Path:
        return self.home_dir / "evidence"

    @property
    def secret_keys(self) -> list[str]:
        """SHANHAI_SECRET_KEY as "new,old,…": the first signs, every one verifies (a rotation)."""
        return [k.strip() for k in (self.secret_key or "").split(",") if k.strip()]


def under_repo_root(path: Path) -> Path:
    """A relative path read against the repository root (absolute ones as they are)."""
    return path if path.is_absolute() else REPO_ROOT / path


def _relative_file(database: str | None) -> bool:
    """A SQLite URL's file given relative (not in memory, not a ``file:`` URI, which SQLite itself reads)."""
    if database is None or database in ("", ":memory:") or database.startswith("file:"):
        return False
    return not Path(database).is_absolute()


def settings_error(exc: ValidationError) -> SettingsError:
    """pydantic's errors as one line, each naming its variable (a secret's value is never repeated)."""
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        variable = f"{ENV_PREFIX}{name.upper()}"
        given = err.get("input")
        if name in _SECRET_FIELDS or not isinstance(given, str | int):
            shown = variable
        else:
            shown = f"{variable}={_masked(str(given))!r}"
        reason = _reason(err)
        meaning = _MEANING.get(name)
        parts.append(f"{shown}：{reason}" + (f"（{meaning}）" if meaning else ""))
    return SettingsError("环境变量有误 invalid setting: " + "；".join(parts))


def _reason(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "不是整数"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "不是数字"
    if kind == "greater_than":
        return f"应大于 {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"应不大于 {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"应不小于 {ctx.get('ge')}"
    return str(err["msg"]).removeprefix("Value error, ")


def mask_url(text: str) -> str:
    """A URL's password hidden (postgresql://user:***@host/db), also in a URL no parser accepts: a
    password may hold "/", ":" or "@", so everything up to the last "@" is the user part. A
    ``password=`` in the query is hidden too (libpq reads it there)."""
    scheme, sep, rest = text.partition("://")
    if sep:
        userinfo, at, host = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if at and colon:
            text = f"{scheme}://{user}:***@{host}"
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)


def _masked(text: str) -> str:
    """A URL's password hidden; anything shortened to what fits a line."""
    text = mask_url(text)
    return text if len(text) <= 200 else text[:200] + "…"


def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
