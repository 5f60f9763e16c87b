"""What every entrypoint needs: settings, the catalogue, the working calendar and a database session."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shanhai.settings import Settings, get_settings

if TYPE_CHECKING:  # the database stack is imported only by commands that use it
    from sqlmodel import Session


class DatabaseUnreachable(Exception):
    """The configured database server cannot be reached (the driver's reason, without secrets)."""


def connect_reason(reason: str) -> str:
    """libpq's "timeout expired" said in Chinese first: the server did not answer in time."""
    if "timeout expired" not in reason:
        return reason
    from shanhai.db import PG_CONNECT_SECONDS

    return f"数据库服务器没有在限定时间（默认 {PG_CONNECT_SECONDS} 秒，URL 中的 connect_timeout 可改）内应答 ({reason})"


class DatabaseMissing(RuntimeError):
    """No initialised database where the settings point; the message (Chinese) says where and what to do."""


class NotInitialised(Exception):
    """The database lacks what its migrations create (the installation row): it was emptied by hand or
    is not Shanhai's."""

    def __init__(self) -> None:
        super().__init__("数据库中没有安装记录（installation）：请运行 shanhai init 初始化")


# Where versions before the installation table kept the generated key (read to verify, never written).
LEGACY_SECRET_FILE = "secret_key"
AS_OF_YEARS = (2000, 2100)  # the document's era with room; a typo such as 9999 is refused, not computed


# The only forms --as-of (and a flow's as_of) takes: a date, or an ISO datetime with minutes, optional
# seconds and fraction, and an optional offset. pendulum's parser also takes week dates, ordinals,
# durations and times alone: a typo there would silently mean another day.
_AS_OF_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AS_OF_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
_AS_OF_FORMS = "应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM[:SS][+08:00]"


def parse_as_of(text: str | None) -> datetime:
    """None: now (UTC). A bare date means 12:00 that day, Shanghai time; a datetime without offset is
    Shanghai time, one with an offset keeps it. Anything else (another ISO form, a duration, a time
    alone, a day that does not exist, a year outside :data:`AS_OF_YEARS`) is a ValueError whose
    message says, in Chinese, what is accepted."""
    import pendulum

    from shanhai.models.localtime import TZ_NAME

    if text is None:
        return pendulum.now("UTC")
    given = text.strip()
    try:
        if _AS_OF_DATE.fullmatch(given):
            day = date.fromisoformat(given)
            parsed = pendulum.datetime(day.year, day.month, day.day, 12, tz=TZ_NAME)
        elif _AS_OF_DATETIME.fullmatch(given):
            parsed = pendulum.instance(datetime.fromisoformat(given), tz=TZ_NAME)  # tz: for a naive one only
        else:
            raise ValueError(_AS_OF_FORMS)
    except ValueError as exc:
        reason = str(exc) if str(exc) == _AS_OF_FORMS else f"没有这一天或这一时刻；{_AS_OF_FORMS}"
        raise ValueError(f"“{text}”不是日期或时间：{reason}") from None
    if not AS_OF_YEARS[0] <= parsed.year <= AS_OF_YEARS[1]:
        raise ValueError(f"“{text}”超出 {AS_OF_YEARS[0]}—{AS_OF_YEARS[1]} 年")
    return parsed


def real_now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


@dataclass
class App:
    """Settings, the catalogue, the working calendar, sessions, and the clock that owns real state.

    ``clock`` is the real clock: it stamps claims, moves the high-water mark that freezes history,
    bounds the dates a record may carry and issues links. ``as_of`` (a preview) never does."""

    settings: Settings = field(default_factory=get_settings)
    clock: Callable[[], datetime] = real_now

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

    @property
    def database_location(self) -> str:
        """Where the database is, fit to show: the SQLite file's path, or the URL without its password."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return url.database
        from shanhai.settings import mask_url

        # masked as written, not as parsed: a parser can take part of a password containing "@" for the host
        return mask_url(self.database_url)

    def database_exists(self) -> bool:
        """Whether an initialised database is there, creating nothing to find out: for SQLite its file,
        for a server database the ``alembic_version`` table. An unreachable server raises
        :class:`DatabaseUnreachable`."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            # opening a missing SQLite file would create it (and its folder): look, don't touch
            return not url.database or url.database == ":memory:" or Path(url.database).is_file()
        from sqlalchemy.exc import SQLAlchemyError

        from shanhai.db import schema_revision

        try:
            return schema_revision(self.database_url) is not None
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise DatabaseUnreachable(reason[0] if reason else type(exc).__name__) from exc

    def missing_database(self) -> str | None:
        """Why the configured database cannot be used, in one Chinese line, or None when it is there.
        Creates nothing to find out."""
        where = f"{self.database_location}（SHANHAI_HOME={self.settings.home_dir}）"
        try:
            found = self.database_exists()
        except DatabaseUnreachable as exc:
            return f"无法连接数据库：{where}：{connect_reason(str(exc))}。请检查 SHANHAI_DATABASE_URL 与数据库服务器。"
        if found:
            return None
        return (
            f"未找到数据库：{where}。"
            "请先运行 shanhai init，或设置 SHANHAI_HOME / SHANHAI_DATABASE_URL 指向已有的数据。"
        )

    def require_database(self) -> None:
        """Raise :class:`DatabaseMissing` unless the configured database is there. Every entrypoint but
        ``init``, ``demo`` and ``up`` calls it first: migrating on a wrong path would make a new, empty,
        all-red database (a flow run's working directory is a fresh temporary folder)."""
        problem = self.missing_database()
        if problem:
            raise DatabaseMissing(problem)

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

        self.settings.home_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: links, names
        migrate(self.database_url)

    @cached_property
    def catalogue_fingerprint(self) -> str:
        """Every file the occurrences derive from (catalogue and holiday file), by content."""
        import hashlib

        digest = hashlib.sha256()
        root = self.settings.catalogue_dir
        # the files load_catalogue read (regular files only: a FIFO named *.yaml must not hang this)
        for path in sorted(p for p in root.glob("*.yaml") if p.is_file()) if root.is_dir() else [root]:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def sync_in(self, session: Session, *, as_of: datetime, now: datetime | None = None, actor: str = "system"):
        from shanhai.models.store import sync_catalogue

        return sync_catalogue(
            self.catalogue,
            self.calendar,
            session=session,
            as_of=as_of,
            now=now or self.clock(),
            actor=actor,
            fingerprint=self.catalogue_fingerprint,
        )

    def sync(self, *, as_of: datetime, now: datetime | None = None, actor: str = "system"):
        """Migrate, then store the catalogue and the occurrences it implies up to the year after as_of
        (a preview may look ahead; only the real clock, ``now``, freezes history). When a read shows
        nothing would change, nothing is written and no write lock is taken."""
        now = now or self.clock()
        current = self._sync_is_current(as_of=as_of, now=now)
        if current is not None:
            return current
        self.migrate()
        with self.session() as session:
            return self.sync_in(session, as_of=as_of, now=now, actor=actor)

    def _sync_is_current(self, *, as_of: datetime, now: datetime):
        """The report of a sync with nothing to write, found by reading only (on SQLite a reading command
        then never waits for a writer's lock), or None when the sync must write (or migrate)."""
        from sqlalchemy.engine import make_url

        from shanhai.db import schema_revision
        from shanhai.migrations import HEAD
        from shanhai.models.store import SyncReport, sync_is_current

        if make_url(self.database_url).get_backend_name() == "sqlite" and not self.database_exists():
            return None  # a new file: the write path creates it (privately)
        if schema_revision(self.database_url) != HEAD:
            return None
        with self.read_session() as session:
            if not sync_is_current(session, as_of=as_of, now=now, fingerprint=self.catalogue_fingerprint):
                return None
        return SyncReport(len(self.catalogue.units), 0, 0, 0, 0)

    def tracking_from(self):
        """The installation's tracking start (a date): occurrences due before it are history."""
        from shanhai.models.installation import read_installation

        with self.read_session() as session:
            row = read_installation(session=session)
        if row is None:
            raise NotInitialised
        return row.tracking_from

    def set_tracking_from(self, start, *, actor: str) -> None:
        from shanhai.models.installation import set_tracking_from

        with self.session() as session:
            set_tracking_from(session=session, tracking_from=start, actor=actor)

    def signing_keys(self, *, session: Session | None = None) -> list[str]:
        """Keys that sign links and name channels: SHANHAI_SECRET_KEY ("new,old" while rotating) or the
        key the migration generated into the database. The first signs; every one verifies. Without
        SHANHAI_SECRET_KEY, a key an older version kept in ``$SHANHAI_HOME/secret_key`` still verifies,
        so links and channel names made before the upgrade keep working.
        Pass the open ``session`` when there is one (on SQLite a second one would wait for its lock)."""
        if self.settings.secret_keys:
            return self.settings.secret_keys
        if self._installation_secret is None:
            from shanhai.models.installation import read_installation

            if session is not None:
                row = read_installation(session=session)
            else:
                with self.read_session() as own:
                    row = read_installation(session=own)
            if row is None:
                raise NotInitialised
            self._installation_secret = row.secret
        legacy = self._legacy_secret()
        return [self._installation_secret] + ([legacy] if legacy and legacy != self._installation_secret else [])

    def _legacy_secret(self) -> str | None:
        """The key older versions generated into ``$SHANHAI_HOME/secret_key`` (one line), if it is there."""
        path = self.settings.home_dir / LEGACY_SECRET_FILE
        try:
            with path.open("rb") as fh:
                text = fh.read(1024).decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):  # none (the usual case), or unreadable: nothing to adopt
            return None
        return text or None

    _installation_secret: str | None = field(default=None, init=False, repr=False)
