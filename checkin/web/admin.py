"""The admin role's pages: staff accounts, API tokens, and the effective settings (read-only).

Every change (account added or disabled, token created or revoked) is a CSRF-checked form post
(``AdminPageDep``) and writes an audit record in the same transaction. A new token's value is
shown once, on the page that answers its form, and only its digest is stored. The settings view
shows each secret as ``set`` / ``unset`` and hides the password of a database URL. Imports:
config, db, staff, web.auth, web.pages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr

from checkin.config import Settings
from checkin.db import transaction
from checkin.staff import (
    Role,
    StaffUser,
    create_api_token,
    create_user,
    list_api_tokens,
    list_users,
    record_audit,
    revoke_api_token,
    set_user_active,
)
from checkin.web.auth import Principal, page_user
from checkin.web.pages import _render

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)
AdminPageDep = Annotated[Principal, Depends(page_user(Role.ADMIN))]
ROLES = [Role.SECURITY.value, Role.FACILITIES.value, Role.ADMIN.value]


async def _users_page(request: Request, who: Principal, *, status: int = 200,
                      error: str = "", notice: str = "", new_token: str = "") -> HTMLResponse:
    async with request.app.state.runtime.sessions() as db:
        users = await list_users(session=db)
        tokens = await list_api_tokens(session=db)
    response = _render(request, "admin_users.html", who, users=users, tokens=tokens,
                       roles=ROLES, error=error, notice=notice, new_token=new_token)
    response.status_code = status
    return response


@router.get("/admin")
async def admin_home() -> RedirectResponse:
    """The admin section starts at the staff list."""
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/users")
async def users_page(request: Request, who: AdminPageDep) -> HTMLResponse:
    """Staff accounts and API tokens, with the forms that change them."""
    return await _users_page(request, who)


@router.post("/admin/users")
async def add_user(request: Request, who: AdminPageDep,
                   email: Annotated[str, Form(max_length=254)],
                   role: Annotated[str, Form(max_length=16)],
                   password: Annotated[str, Form(max_length=1024)] = "") -> HTMLResponse:
    """Add an account (no password: single sign-on only, once that exists)."""
    if role not in ROLES:
        return await _users_page(request, who, status=422, error="Choose a role.")
    try:
        async with transaction(request.app.state.runtime.sessions) as db:
            user = await create_user(session=db, email=email, role=Role(role),
                                     password=password or None)
            _audit(db, who, "staff.user_added", {"user": user.email, "role": role})
    except ValueError as err:  # our own messages: taken, not an email, password too short
        return await _users_page(request, who, status=422, error=f"Not added: {err}.")
    log.info("staff_user_added", user_id=user.id, role=role)
    return await _users_page(request, who, notice=f"Added {user.email} ({role}).")


@router.post("/admin/users/{user_id}/disable")
async def disable_user(request: Request, user_id: int, who: AdminPageDep) -> Response:
    """Disable an account and end its sessions; its tokens stop working with it."""
    if user_id == who.user.id:
        return await _users_page(request, who, status=422,
                                 error="You cannot disable your own account.")
    async with transaction(request.app.state.runtime.sessions) as db:
        user = await db.get(StaffUser, user_id)
        if user is None:
            raise HTTPException(404, "no such account")
        await set_user_active(session=db, user=user, active=False)
        _audit(db, who, "staff.user_disabled", {"user": user.email})
    log.info("staff_user_disabled", user_id=user_id)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/tokens")
async def add_token(request: Request, who: AdminPageDep,
                    user_id: Annotated[int, Form()],
                    name: Annotated[str, Form(min_length=1, max_length=100)]) -> HTMLResponse:
    """Create a token and show its value on this page only."""
    async with transaction(request.app.state.runtime.sessions) as db:
        user = await db.get(StaffUser, user_id)
        if user is None or not user.active:
            raise HTTPException(404, "no such active account")
        plain = await create_api_token(session=db, user=user, name=name.strip())
        _audit(db, who, "staff.token_created", {"user": user.email, "token": name.strip()})
    log.info("staff_token_created", user_id=user_id)
    page = await _users_page(request, who, new_token=plain,
                             notice=f"Token “{name.strip()}” created for {user.email}.")
    page.headers["Cache-Control"] = "no-store"  # the token must not stay in a browser cache
    return page


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: int, who: AdminPageDep) -> RedirectResponse:
    """Revoke a token at once."""
    async with transaction(request.app.state.runtime.sessions) as db:
        token = await revoke_api_token(session=db, token_id=token_id)
        if token is None:
            raise HTTPException(404, "no such token")
        _audit(db, who, "staff.token_revoked", {"token": token.name, "token_id": token_id})
    log.info("staff_token_revoked", token_id=token_id)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/settings")
async def settings_page(request: Request, who: AdminPageDep) -> HTMLResponse:
    """The effective configuration, secrets as set/unset only."""
    settings: Settings = request.app.state.runtime.settings
    sections = effective_settings(settings)
    return _render(request, "admin_settings.html", who, sections=sections)


def _audit(db: Any, who: Principal, action: str, filters: dict[str, Any]) -> None:
    record_audit(session=db, actor=who.user, via=who.via, action=action, filters=filters,
                 rows=1)


def effective_settings(settings: Settings) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(key, shown value)]) for every setting; secrets never leave as values."""
    plain: list[tuple[str, str]] = []
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name == "credentials":
            rows = [(key, "set" if getattr(value, key) else "unset")
                    for key in type(value).model_fields]
            sections.append(("secrets (environment)", rows))
        elif hasattr(type(value), "model_fields"):
            sections.append((name, _flatten(value.model_dump(), "")))
        else:
            plain.append((name, _show(name, value)))
    return [("general", plain), *sections]


def _flatten(data: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((prefix + key, _show(key, value)))
    return rows


def _show(key: str, value: object) -> str:
    if isinstance(value, SecretStr):
        return "set" if value.get_secret_value() else "unset"
    if key == "database_url" and isinstance(value, str):
        return _without_password(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
