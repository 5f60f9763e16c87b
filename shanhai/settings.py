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
    send_hour: int = Field(default=9, ge=0, le=23)
    apprise_config: Path | None = None
    secret_key: str | None = Field(
        default=None,
        description="signs links and names channels; 'new,old' while rotating; default: one generated "
        "into the database, shared by every worker",
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

    @property
    def secret_keys(self) -> list[str]:
        """SHANHAI_SECRET_KEY as "new,old,…": the first signs, every one verifies (a rotation)."""
        return [k.strip() for k in (self.secret_key or "").split(",") if k.strip()]


def get_settings() -> Settings:
    return Settings()
