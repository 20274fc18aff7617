"""Who is asking: session cookies and API tokens, roles, CSRF, and the sign-in rate limit.

Browsers carry an opaque session cookie (HttpOnly, SameSite=Lax, Secure behind https) whose
digest names a server-side ``staff_sessions`` row; scripts send ``Authorization: Bearer ck_...``.
A state-changing request made with a cookie must also carry the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``); token requests need none, because a browser
never attaches a bearer token by itself. Imports: staff, db, runtime (types only).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.staff import Role, StaffUser, resume_session, user_for_token

SESSION_COOKIE = "checkin_session"
LOGIN_CSRF_COOKIE = "checkin_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member and how they proved it."""

    user: StaffUser
    via: str  # "session" | "token"
    csrf_token: str = ""

    @property
    def email(self) -> str:
        """The account's email (what audit records and check-outs name)."""
        return self.user.email


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A database session for one request; routes that write commit explicitly."""
    async with request.app.state.runtime.sessions() as db:
        yield db


SessionDep = Annotated[AsyncSession, Depends(db_session)]


async def _principal(request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not header and not cookie:
        return None
    async with request.app.state.runtime.sessions() as db:
        if header.lower().startswith("bearer "):
            user = await user_for_token(session=db, token=header[7:].strip())
            await db.commit()
            return Principal(user, "token") if user is not None else None
        found = await resume_session(session=db, cookie=cookie) if cookie else None
        await db.commit()
    if found is None:
        return None
    return Principal(found[0], "session", found[1].csrf_token)


async def optional_principal(request: Request) -> Principal | None:
    """The caller if signed in (cached on the request), else None."""
    if not hasattr(request.state, "principal"):
        request.state.principal = await _principal(request)
    principal: Principal | None = request.state.principal
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    if principal.via != "session" or request.method not in UNSAFE:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = str((await request.form()).get("csrf_token", ""))
    if not sent or not secrets.compare_digest(sent, principal.csrf_token):
        raise HTTPException(403, "CSRF token missing or wrong; reload the page")


def api_user(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller must hold one of ``roles`` (401 / 403 otherwise)."""

    async def dependency(request: Request) -> Principal:
        principal = await optional_principal(request)
        if principal is None:
            raise HTTPException(401, "sign in or send a bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        if not principal.user.may(*roles):
            raise HTTPException(403, "your role does not allow this")
        await _check_csrf(request, principal)
        return principal

    return dependency


def page_user(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """Like ``api_user`` for HTML pages: not signed in means a redirect to the sign-in page."""

    async def dependency(request: Request) -> Principal:
        principal = await optional_principal(request)
        if principal is None:
            target = request.url.path
            raise HTTPException(303, "sign in first", headers={"Location": f"/login?next={target}"})
        if not principal.user.may(*roles):
            raise HTTPException(403, "your role does not allow this page")
        await _check_csrf(request, principal)
        return principal

    return dependency


SecurityUserDep = Annotated[Principal, Depends(api_user(Role.SECURITY))]
FacilitiesUserDep = Annotated[Principal, Depends(api_user(Role.FACILITIES))]
SecurityPageDep = Annotated[Principal, Depends(page_user(Role.SECURITY))]
FacilitiesPageDep = Annotated[Principal, Depends(page_user(Role.FACILITIES))]
StaffPageDep = Annotated[Principal, Depends(page_user(Role.SECURITY, Role.FACILITIES))]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


def is_https(request: Request) -> bool:
    """True behind https (uvicorn's --proxy-headers turns X-Forwarded-Proto into the scheme)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set a cookie the way every checkin cookie is set: HttpOnly, SameSite=Lax, Secure on https."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")


class SignInLimiter:
    """At most ``attempts`` failed sign-ins per address and per account in ``window_s``.

    In memory, per process: with N replicas an attacker gets N times the budget, which is still
    a handful of guesses a minute against argon2 hashes.
    """

    def __init__(self, attempts: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts, self._window, self._clock = attempts, window_s, clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed for every key (0: allowed now)."""
        waits = [self._recent(k)[0] + self._window - self._clock() for k in keys
                 if len(self._recent(k)) >= self._attempts]
        return max([int(w) + 1 for w in waits], default=0)

    def failed(self, *keys: str) -> None:
        """Count one failure against each key."""
        for key in keys:
            self._recent(key).append(self._clock())
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures = {k: v for k, v in self._failures.items() if self._recent(k)}

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of these keys."""
        for key in keys:
            self._failures.pop(key, None)
