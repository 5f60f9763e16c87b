"""Portal accounts (coordinators and supervisors) and the login rate limit.

Passwords are hashed with argon2id (argon2-cffi). Failed logins are stored in the database, so that
every portal process counts the same failures: five for one name, or twenty from one client address,
within fifteen minutes, and further attempts are refused until the oldest of them is out of the window.
County clerks have no account: they act only through signed links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from shanhai.models.audit import audit
from shanhai.models.errors import InputError
from shanhai.models.portal_sessions import MAX_SESSION_ID, PortalSession, end_sessions_of, session_key
from shanhai.models.tables import utcnow

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20  # an office behind one NAT shares an address: more room than per name
MIN_PASSWORD_LENGTH = 10
NAME = re.compile(r"^[\w.\-@\u4e00-\u9fff]{2,64}$")


class Role(StrEnum):
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"

    @property
    def label(self) -> str:
        return {"coordinator": "协调方（经合办）", "supervisor": "领导小组"}[self.value]


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    name: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    succeeded: bool


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name):
        raise InputError("name", f"账号名“{name}”无效：2–64 个字母、数字、汉字或 . - _ @")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError("password", f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")


def add_user(*, session: Session, name: str, role: str, password: str, actor: str) -> User:
    name = check_name(name)
    try:
        role = Role(role)
    except ValueError:
        raise InputError("role", f"角色应为 coordinator 或 supervisor，而不是“{role}”") from None
    check_password(password)
    if session.execute(select(User).where(col(User.name) == name)).scalar_one_or_none() is not None:
        raise InputError("name", f"账号“{name}”已存在")
    user = User(name=name, role=str(role), password_hash=hash_password(password))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # the same name added at this moment by another process (PostgreSQL)
        raise InputError("name", f"账号“{name}”已存在") from None
    audit(session=session, actor=actor, action="user.added", entity="user", entity_id=name, role=str(role))
    return user


def set_active(*, session: Session, name: str, active: bool, actor: str) -> User:
    user = session.execute(select(User).where(col(User.name) == name)).scalar_one_or_none()
    if user is None:
        raise InputError("name", f"没有账号“{name}”")
    user.active = active
    # a disabled account's open sessions end with it (the portal also re-reads `active` on every request)
    detail = {} if active else {"sessions_ended": end_sessions_of(session=session, user_name=name)}
    audit(
        session=session,
        actor=actor,
        action="user.enabled" if active else "user.disabled",
        entity="user",
        entity_id=name,
        **detail,
    )
    return user


def user_named(*, session: Session, name: str) -> User | None:
    return session.execute(select(User).where(col(User.name) == name)).scalar_one_or_none()


def change_password(*, session: Session, name: str, password: str, actor: str) -> User:
    """Set a new password; every open session of the account ends (a copied cookie goes with the old one)."""
    user = user_named(session=session, name=name)
    if user is None:
        raise InputError("name", f"没有账号“{name}”")
    check_password(password)
    user.password_hash = hash_password(password)
    ended = end_sessions_of(session=session, user_name=name)
    audit(session=session, actor=actor, action="user.password_changed", entity="user", entity_id=name,
          sessions_ended=ended)
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(col(User.name))).scalars())


def active_user(*, session: Session, name: str) -> User | None:
    return session.execute(
        select(User).where(col(User.name) == name, col(User.active).is_(True))
    ).scalar_one_or_none()


def session_user(*, session: Session, session_id: str, now: datetime) -> User | None:
    """The active account an open, unexpired portal session belongs to; None once it was ended."""
    if not session_id or len(session_id) > MAX_SESSION_ID:
        return None
    return session.execute(
        select(User)
        .join(PortalSession, col(PortalSession.user_name) == col(User.name))
        .where(
            col(PortalSession.id_hash) == session_key(session_id),
            col(PortalSession.expires_at) > now,
            col(User.active).is_(True),
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    retry_after: timedelta | None = None  # set when the rate limit refused the attempt unchecked


def _failures(session: Session, column, value: str, since: datetime) -> list[datetime]:
    rows = session.execute(
        select(col(LoginAttempt.at))
        .where(column == value, col(LoginAttempt.succeeded).is_(False), col(LoginAttempt.at) > since)
        .order_by(col(LoginAttempt.at))
    )
    return [r for (r,) in rows]


def _retry_after(failures: list[datetime], limit: int, now: datetime) -> timedelta | None:
    if len(failures) < limit:
        return None
    # free again when enough of them have left the window
    return max(failures[len(failures) - limit] + LOGIN_WINDOW - now, timedelta(seconds=1))


def login(*, session: Session, name: str, password: str, address: str, now: datetime) -> LoginResult:
    """Check a login under the rate limit; every attempt is stored and audited."""
    from argon2.exceptions import InvalidHashError, VerificationError

    name = (name or "").strip()[:64]
    address = (address or "unknown")[:64]
    since = now - LOGIN_WINDOW
    # failures before the name's last success no longer count against the name
    last_ok = session.execute(
        select(func.max(col(LoginAttempt.at))).where(
            col(LoginAttempt.name) == name, col(LoginAttempt.succeeded).is_(True)
        )
    ).scalar()
    if last_ok is not None and last_ok.tzinfo is None:  # an aggregate may come back without the type's zone
        last_ok = last_ok.replace(tzinfo=UTC)
    wait = _retry_after(
        _failures(session, col(LoginAttempt.name), name, max(since, last_ok) if last_ok else since),
        MAX_FAILURES_PER_NAME,
        now,
    ) or _retry_after(_failures(session, col(LoginAttempt.address), address, since), MAX_FAILURES_PER_ADDRESS, now)
    if wait is not None:
        audit(
            session=session, actor=name or "?", action="login.refused", entity="user", entity_id=name or "?",
            address=address, retry_after_s=int(wait.total_seconds()),
        )
        return LoginResult(None, wait)
    user = session.execute(select(User).where(col(User.name) == name)).scalar_one_or_none()
    hasher = _hasher()
    ok = False
    try:
        # an unknown name costs the same hash as a known one: timing tells nothing
        hasher.verify(user.password_hash if user else _DUMMY_HASH.get(), password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(at=now, name=name, address=address, succeeded=ok))
    audit(
        session=session,
        actor=name or "?",
        action="login.succeeded" if ok else "login.failed",
        entity="user",
        entity_id=name or "?",
        address=address,
    )
    if not ok or user is None:
        return LoginResult(None)
    user.last_login_at = now
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return LoginResult(user)


class _Dummy:
    _hash: str | None = None

    def get(self) -> str:
        if self._hash is None:
            self._hash = hash_password("not a password of anyone")
        return self._hash


_DUMMY_HASH = _Dummy()
