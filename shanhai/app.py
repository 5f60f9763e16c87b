"""What every entrypoint needs: settings, the catalogue, the working calendar and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from shanhai.settings import Settings, get_settings

if TYPE_CHECKING:  # the database stack is imported only by commands that use it
    from sqlmodel import Session

AS_OF_YEARS = (2000, 2100)  # the document's era with room; a typo such as 9999 is refused, not computed


def parse_as_of(text: str | None) -> datetime:
    """None: now. A bare date means 12:00 that day in Asia/Shanghai; a datetime without offset is local.
    Anything else (a duration such as P1D, a time alone, a date out of range) is a ValueError."""
    import pendulum

    from shanhai.models.localtime import TZ_NAME

    if text is None:
        return pendulum.now("UTC")
    try:
        parsed = pendulum.parse(text.strip(), tz=TZ_NAME, exact=True)
    except (ValueError, OverflowError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ValueError(f"'{text}' is not a date or datetime (YYYY-MM-DD[THH:MM])") from exc
    if isinstance(parsed, pendulum.Date) and not isinstance(parsed, pendulum.Duration):
        if not AS_OF_YEARS[0] <= parsed.year <= AS_OF_YEARS[1]:
            raise ValueError(f"'{text}' is outside the years {AS_OF_YEARS[0]}-{AS_OF_YEARS[1]}")
        if isinstance(parsed, pendulum.DateTime):
            return parsed
        return pendulum.datetime(parsed.year, parsed.month, parsed.day, 12, tz=TZ_NAME)
    raise ValueError(f"'{text}' is not a date or datetime (YYYY-MM-DD[THH:MM])")


@dataclass
class App:
    settings: Settings = field(default_factory=get_settings)

    @property
    def database_url(self) -> str:
        return self.settings.effective_database_url

    @cached_property
    def catalogue(self):
        from shanhai.models.catalogue import load_catalogue

        return load_catalogue(self.settings.catalogue_dir)

    @cached_property
    def calendar(self):
        from shanhai.models.working_days import default_calendar

        return default_calendar(self.settings.catalogue_dir)

    @contextmanager
    def session(self) -> Iterator[Session]:
        from shanhai.db import session_scope

        with session_scope(self.database_url) as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """For reads only (pages, listings): on SQLite it takes no write lock, so readers run together."""
        from shanhai.db import read_scope

        with read_scope(self.database_url) as session:
            yield session

    def migrate(self) -> None:
        from shanhai.db import migrate

        self.settings.home_dir.mkdir(parents=True, exist_ok=True)
        migrate(self.database_url)

    @cached_property
    def catalogue_fingerprint(self) -> str:
        """Every file the occurrences derive from (catalogue and holiday file), by content."""
        import hashlib

        digest = hashlib.sha256()
        root = self.settings.catalogue_dir
        for path in sorted(root.glob("*.yaml")) if root.is_dir() else [root]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def sync_in(self, session: Session, *, as_of: datetime, actor: str = "system"):
        from shanhai.models.store import sync_catalogue

        return sync_catalogue(
            self.catalogue,
            self.calendar,
            session=session,
            as_of=as_of,
            actor=actor,
            fingerprint=self.catalogue_fingerprint,
        )

    def sync(self, *, as_of: datetime, actor: str = "system"):
        """Migrate, then store the catalogue and the occurrences it implies up to as_of's next year."""
        self.migrate()
        with self.session() as session:
            return self.sync_in(session, as_of=as_of, actor=actor)
