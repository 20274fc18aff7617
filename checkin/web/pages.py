"""The back-office pages (sign-in, visit log, evacuation list, erasure, audit, dashboard) and
the kiosk page, rendered with Jinja2 from templates and assets inside this package (no CDN).

Pages reuse the audited helpers of ``checkin.api.visits``, so viewing the log in a browser is
audited exactly like calling the API. Imports: api.visits, staff, web.auth.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import ValidationError

from checkin.api.visits import (
    ErasureIn,
    SearchParams,
    audited_building,
    audited_checkout,
    audited_detail,
    audited_erasure,
    audited_search,
    detail_out,
    make_filter,
)
from checkin.db import transaction
from checkin.staff import Credentials, LocalAuthenticator, Role, end_session, list_audit
from checkin.staff import start_session as open_session
from checkin.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    FacilitiesPageDep,
    OptionalPrincipalDep,
    Principal,
    SecurityPageDep,
    SessionDep,
    SignInLimiter,
    set_cookie,
)

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@pass_context
def _local(ctx: Any, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time as the lobby's clock shows it."""
    if value is None:
        return ""
    return value.astimezone(ctx["request"].app.state.runtime.settings.tz).strftime(fmt)


templates.env.filters["local"] = _local


def _render(request: Request, name: str, who: Principal | None, **context: Any) -> HTMLResponse:
    nav = []
    if who is not None:
        if who.user.may(Role.SECURITY):
            nav += [("/visits", "Visit log"), ("/building", "In the building"),
                    ("/erasure", "Erasure"), ("/audit", "Audit")]
        if who.user.may(Role.FACILITIES):
            nav.append(("/dashboard", "Dashboard"))
        if who.user.active and who.user.role == Role.ADMIN:  # checkin.web.admin
            nav += [("/admin/users", "Users"), ("/admin/settings", "Settings")]
    return templates.TemplateResponse(request, name, {
        "who": who, "nav": nav, "site": request.app.state.runtime.settings.site.company,
        "csrf": who.csrf_token if who else "", "path": request.url.path, **context})


def _home(who: Principal) -> str:
    return "/visits" if who.user.may(Role.SECURITY) else "/dashboard"


@router.get("/")
async def index(who: OptionalPrincipalDep) -> RedirectResponse:
    """Signed in: the role's home page; otherwise the sign-in page."""
    return RedirectResponse(_home(who) if who else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, who: OptionalPrincipalDep, next: str = "") -> Response:
    """The sign-in form, with a fresh CSRF token in a cookie and a hidden field."""
    if who is not None:
        return RedirectResponse(_home(who), status_code=303)
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, token=token, next=next, error="")
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


def _safe_next(target: str) -> str:
    # Only paths on this site: "//evil.example" and "https://..." would be open redirects.
    return target if target.startswith("/") and not target.startswith("//") else ""


@router.post("/login")
async def login(request: Request, email: Annotated[str, Form(max_length=254)],
                password: Annotated[str, Form(max_length=1024)],
                csrf_token: Annotated[str, Form(max_length=100)] = "",
                next: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Check the password (rate limited per address and per account) and start a session."""
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    keys = (f"ip:{request.client.host if request.client else '?'}", f"user:{email.lower()}")
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or csrf_token != cookie_token:
        return _login_error(request, "The form expired. Please try again.", 403, next)
    wait = limiter.retry_after(*keys)
    if wait:
        log.warning("sign_in_throttled", retry_after_s=wait)
        response = _login_error(request, f"Too many attempts. Try again in {wait} s.", 429, next)
        response.headers["Retry-After"] = str(wait)
        return response
    sessions = request.app.state.runtime.sessions
    async with transaction(sessions) as db:
        user = await LocalAuthenticator().authenticate(
            session=db, credentials=Credentials(email, password))
        cookie = (await open_session(session=db, user=user))[0] if user else ""
    if user is None:
        limiter.failed(*keys)
        log.info("sign_in_failed")
        return _login_error(request, "Wrong email or password.", 401, next)
    limiter.succeeded(*keys)
    log.info("signed_in", user_id=user.id, role=user.role)
    target = _safe_next(next) or ("/visits" if user.may(Role.SECURITY) else "/dashboard")
    landing = RedirectResponse(target, status_code=303)
    set_cookie(request, landing, SESSION_COOKIE, cookie, max_age=12 * 3600)
    landing.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return landing


def _login_error(request: Request, message: str, status: int, next: str) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not token:
        token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, token=token, next=next, error=message)
    response.status_code = status
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/logout")
async def logout(request: Request, who: OptionalPrincipalDep,
                 csrf_token: Annotated[str, Form(max_length=100)] = "") -> RedirectResponse:
    """End the session (the CSRF token stops a third-party page from signing people out)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if who is not None and who.via == "session" and csrf_token == who.csrf_token:
        async with transaction(request.app.state.runtime.sessions) as db:
            await end_session(session=db, cookie=cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/visits")
async def visits_page(request: Request, db: SessionDep, who: SecurityPageDep,
                      page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> HTMLResponse:
    """Search form and results; each view is audited."""
    raw = {k: v for k, v in request.query_params.items() if k != "page" and v}
    try:
        q = SearchParams.model_validate(raw)
        error = ""
    except ValidationError:
        q, error = SearchParams(), "Some search terms were not valid and were ignored."
    where = make_filter(request.app.state.runtime.settings.tz, **q.model_dump())
    rows, total = await audited_search(db=db, who=who, where=where, limit=PAGE_SIZE,
                                       offset=(page - 1) * PAGE_SIZE)
    query = urlencode(q.model_dump(exclude_none=True, mode="json"))
    return _render(request, "visits.html", who, q=q, rows=rows, total=total, page=page,
                   pages=max(1, -(-total // PAGE_SIZE)), query=query, error=error,
                   outcomes=["checked_in", "delivered", "transferred", "no_answer", "abandoned",
                             "disconnected", "error", "open"],
                   channels=["kiosk", "phone", "chat"])


@router.get("/visits/{visit_id}")
async def visit_page(request: Request, visit_id: str, db: SessionDep,
                     who: SecurityPageDep) -> HTMLResponse:
    """One visit with its trail."""
    detail = detail_out(await audited_detail(db=db, who=who, visit_id=visit_id))
    return _render(request, "visit.html", who, d=detail)


@router.post("/visits/{visit_id}/checkout")
async def checkout_form(request: Request, visit_id: str, db: SessionDep,
                        who: SecurityPageDep) -> RedirectResponse:
    """The check-out button (CSRF checked by the dependency)."""
    await audited_checkout(db=db, who=who, visit_id=visit_id)
    back = request.headers.get("referer", "")
    return RedirectResponse("/building" if back.endswith("/building") else f"/visits/{visit_id}",
                            status_code=303)


@router.get("/building")
async def building_page(request: Request, db: SessionDep, who: SecurityPageDep) -> HTMLResponse:
    """The evacuation list, made to be printed."""
    rows = await audited_building(db=db, who=who)
    now = request.app.state.runtime.clock()
    return _render(request, "building.html", who, rows=rows, now=now)


@router.get("/erasure")
async def erasure_page(request: Request, who: SecurityPageDep) -> HTMLResponse:
    """The erasure request form."""
    return _render(request, "erasure.html", who, receipt=None, error="")


@router.post("/erasure")
async def erasure_form(request: Request, db: SessionDep, who: SecurityPageDep,
                       visitor_name: Annotated[str, Form(max_length=200)] = "",
                       phone: Annotated[str, Form(max_length=40)] = "",
                       confirm: Annotated[str, Form(max_length=10)] = "") -> HTMLResponse:
    """Erase, then show the receipt."""
    if confirm != "yes" or not (visitor_name.strip() or phone.strip()):
        return _render(request, "erasure.html", who, receipt=None,
                       error="Give a name or a phone number and tick the confirmation.")
    try:
        receipt = await audited_erasure(db=db, who=who, body=ErasureIn(
            visitor_name=visitor_name or None, phone=phone or None))
    except HTTPException as err:
        return _render(request, "erasure.html", who, receipt=None, error=str(err.detail))
    return _render(request, "erasure.html", who, receipt=receipt, error="")


@router.get("/audit")
async def audit_page(request: Request, db: SessionDep, who: SecurityPageDep) -> HTMLResponse:
    """The audit trail, read-only."""
    return _render(request, "audit.html", who, rows=await list_audit(session=db, limit=300))


@router.get("/dashboard")
async def dashboard_page(request: Request, who: FacilitiesPageDep,
                         refresh: Annotated[int, Query(ge=1, le=600)] = 15) -> HTMLResponse:
    """The facilities dashboard shell; its figures come from /api/dashboard every few seconds."""
    return _render(request, "dashboard.html", who, refresh=refresh)


@router.get("/kiosk")
async def kiosk_page(request: Request,
                     idle: Annotated[int, Query(ge=5, le=600)] = 60,
                     done: Annotated[int, Query(ge=1, le=60)] = 8) -> HTMLResponse:
    """The lobby tablet; after ``idle`` seconds without a tap, or ``done`` seconds after a
    finished visit, it returns to the welcome screen."""
    languages = request.app.state.runtime.settings.site.languages
    return _render(request, "kiosk.html", None, idle=idle, done=done, languages=languages)
