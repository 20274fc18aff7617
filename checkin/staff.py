"""Staff access: local accounts, API tokens, server-side sign-in sessions and the audit trail.

Passwords are argon2id hashes (argon2-cffi); API tokens and session tokens are random 256-bit
strings stored only as SHA-256 digests, so a copy of the database opens no door. The audit
trail is append-only through the product: this module offers ``record_audit`` and
``list_audit`` and nothing that updates or deletes an audit row.

``Authenticator`` is the seam for single sign-on: an OIDC or SAML implementation returns the
same ``StaffUser`` for a verified identity; only ``LocalAuthenticator`` (email + password)
exists today. Imports: db.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, ForeignKey, Integer, String, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from checkin.db import Base, UtcDateTime, transaction, utcnow

SESSION_TTL = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
TOKEN_PREFIX = "ck_"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class Role(StrEnum):
    """What a staff member may see: security the visit log, facilities the dashboard."""

    SECURITY = "security"
    FACILITIES = "facilities"
    ADMIN = "admin"


class StaffUser(Base):
    """A person who signs in to the back office."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: SSO only
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def may(self, *roles: Role) -> bool:
        """True when the user is active and holds one of ``roles`` (admin holds them all)."""
        return self.active and (self.role == Role.ADMIN or self.role in roles)


class ApiToken(Base):
    """A token for scripts, acting as its user; only its digest is stored."""

    __tablename__ = "staff_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StaffSession(Base):
    """A signed-in browser; server-side so sign-out and expiry work across replicas."""

    __tablename__ = "staff_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"),
                                         index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AuditRecord(Base):
    """Who read, exported or erased what: never deleted by the product, and only ever updated
    by an erasure, which removes the erased visitor's name from the search terms it kept."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # kept when the account goes
    actor_email: Mapped[str] = mapped_column(String(254))
    via: Mapped[str] = mapped_column(String(16))  # session | token | cli
    action: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)


def digest(token: str) -> str:
    """SHA-256 hex of a high-entropy token (a slow hash adds nothing at 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Credentials:
    """What a sign-in form posts."""

    email: str
    password: str


class Authenticator(Protocol):
    """Turns a sign-in attempt into a staff user, or None (OIDC/SAML plug in here)."""

    async def authenticate(
        self, *, session: AsyncSession, credentials: Credentials
    ) -> StaffUser | None: ...


class LocalAuthenticator:
    """Email and password against ``staff_users`` (argon2id)."""

    async def authenticate(
        self, *, session: AsyncSession, credentials: Credentials
    ) -> StaffUser | None:
        """The active user whose password matches, or None."""
        user = await find_user(session=session, email=credentials.email)
        ok = check_password(user.password_hash if user else None, credentials.password)
        if user is None or not ok or not user.active:
            return None
        if _hasher.check_needs_rehash(user.password_hash or ""):
            user.password_hash = hash_password(credentials.password)
        return user


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


async def find_user(*, session: AsyncSession, email: str) -> StaffUser | None:
    """The account with this email, or None."""
    query = select(StaffUser).where(StaffUser.email == normalise_email(email))
    return (await session.scalars(query)).first()


async def create_user(
    *, session: AsyncSession, email: str, role: Role, password: str | None
) -> StaffUser:
    """Add an account (``password`` None: single sign-on only); raises ValueError if taken."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError("not an email address")
    if await find_user(session=session, email=email) is not None:
        raise ValueError("an account with this email exists")
    if password is not None and len(password) < 10:
        raise ValueError("passwords need at least 10 characters")
    user = StaffUser(email=email, role=Role(role).value, active=True, created_at=utcnow(),
                     password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    await session.flush()
    return user


async def list_users(*, session: AsyncSession) -> list[StaffUser]:
    """Every account, by email."""
    return list((await session.scalars(select(StaffUser).order_by(StaffUser.email))).all())


async def create_api_token(*, session: AsyncSession, user: StaffUser, name: str) -> str:
    """A new token for ``user``; the plain value is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, digest=digest(plain), created_at=utcnow()))
    await session.flush()
    return plain


async def user_for_token(*, session: AsyncSession, token: str) -> StaffUser | None:
    """The active user behind an unrevoked API token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (await session.scalars(select(ApiToken).where(
        ApiToken.digest == digest(token), ApiToken.revoked_at.is_(None)))).first()
    if row is None:
        return None
    user = await session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = utcnow()
    return user


async def start_session(*, session: AsyncSession, user: StaffUser) -> tuple[str, StaffSession]:
    """Sign ``user`` in: returns the cookie value (only its digest is stored) and the row."""
    plain = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(digest=digest(plain), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                       created_at=now, last_seen_at=now, expires_at=now + SESSION_TTL)
    session.add(row)
    user.last_sign_in_at = now
    await session.flush()
    return plain, row


async def resume_session(
    *, session: AsyncSession, cookie: str
) -> tuple[StaffUser, StaffSession] | None:
    """The user and session behind a session cookie, unless expired, idle or deactivated."""
    row = await session.get(StaffSession, digest(cookie))
    now = utcnow()
    if row is None or row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        return None
    user = await session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # one write a minute, not per request
        row.last_seen_at = now
    return user, row


async def end_session(*, session: AsyncSession, cookie: str) -> None:
    """Sign out: the session row goes."""
    row = await session.get(StaffSession, digest(cookie))
    if row is not None:
        await session.delete(row)


def record_audit(
    *, session: AsyncSession, actor: StaffUser | None, via: str, action: str,
    filters: dict[str, Any], rows: int, actor_email: str = "",
) -> AuditRecord:
    """Append one audit record in the caller's transaction."""
    record = AuditRecord(at=utcnow(), actor_id=actor.id if actor else None,
                         actor_email=actor.email if actor else actor_email, via=via,
                         action=action, filters=filters, rows=rows)
    session.add(record)
    return record


async def scrub_audit_terms(
    *, session: AsyncSession,
    scrub: Callable[[dict[str, Any]], tuple[dict[str, Any], bool]],
) -> int:
    """Apply ``scrub`` to every record's search terms (an erasure: a name typed into a search
    must not outlive the visitor's records); how many records changed. Who searched, when
    and how many rows they saw stay as they were."""
    changed = 0
    for record in (await session.scalars(select(AuditRecord))).all():
        if not record.filters:
            continue
        filters, hit = scrub(record.filters)
        if hit:
            record.filters = filters
            changed += 1
    return changed


async def list_audit(
    *, session: AsyncSession, limit: int = 200, action: str | None = None
) -> list[AuditRecord]:
    """Audit records, newest first."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if action:
        query = query.where(AuditRecord.action == action)
    return list((await session.scalars(query)).all())


async def set_user_active(*, session: AsyncSession, user: StaffUser, active: bool) -> None:
    """Enable or disable an account; disabling also signs it out everywhere at once."""
    user.active = active
    if not active:
        await session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


async def list_api_tokens(*, session: AsyncSession) -> list[tuple[ApiToken, StaffUser]]:
    """Every API token with its user, newest first (digests only; the values are gone)."""
    query = (select(ApiToken, StaffUser).join(StaffUser, StaffUser.id == ApiToken.user_id)
             .order_by(ApiToken.id.desc()))
    return [(token, user) for token, user in (await session.execute(query)).all()]


async def revoke_api_token(*, session: AsyncSession, token_id: int) -> ApiToken | None:
    """Revoke a token (idempotent); None when there is no such token."""
    token = await session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


async def purge_expired_sessions(*, session: AsyncSession, now: datetime | None = None) -> int:
    """Delete sign-in sessions past their lifetime or idle limit; returns how many went.

    ``resume_session`` already refuses them; this keeps the table from growing for ever.
    """
    now = now or utcnow()
    result = await session.execute(delete(StaffSession).where(or_(
        StaffSession.expires_at <= now, StaffSession.last_seen_at <= now - SESSION_IDLE)))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_staff_sessions(*, sessions: async_sessionmaker[AsyncSession]) -> int:
    """``purge_expired_sessions`` in a transaction of its own (the daily retention job)."""
    async with transaction(sessions) as db:
        return await purge_expired_sessions(session=db)
