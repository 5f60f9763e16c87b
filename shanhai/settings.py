"""All configuration in one place: environment variables with the SHANHAI_ prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shanhai import REPO_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHANHAI_", extra="ignore")

    home: Path = Field(default=Path("var"), description="data directory: database, evidence, secrets")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home")
    catalogue_dir: Path = Field(default=REPO_ROOT / "calendar")
    timezone: str = "Asia/Shanghai"
    send_hour: int = Field(default=9, ge=0, le=23)
    apprise_config: Path | None = None
    secret_key: str | None = Field(
        default=None, description="signs report links; default: generated under home"
    )
    portal_url: str = "http://127.0.0.1:8600"
    prefect_ui_url: str = "http://127.0.0.1:4200"
    max_evidence_bytes: int = 20 * 1024 * 1024

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

    def signing_secret(self) -> str:
        """The configured secret, or one generated once and kept under home (never in the repo)."""
        if self.secret_key:
            return self.secret_key
        import os
        import secrets
        import time

        path = self.home_dir / "secret_key"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # O_EXCL: one process creates it, private from the first byte; the others read that one
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):  # the creator may not have written it yet
                if text := path.read_text().strip():
                    return text
                time.sleep(0.02)
            raise RuntimeError(f"{path} is empty: remove it or set SHANHAI_SECRET_KEY") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        return path.read_text().strip()


def get_settings() -> Settings:
    return Settings()
