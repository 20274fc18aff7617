"""The visit-log API, dashboard, kiosk and /metrics through the ASGI app, on both dialects."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from checkin.app import create_app
from checkin.config import load_settings
from checkin.db import transaction, utcnow
from checkin.runtime import build_runtime
from checkin.staff import AuditRecord, Role, create_api_token, create_user
from checkin.visits import BadgeRecord, Notification, Visit, VisitEvent

DIRECTORY = "checkin/demo/directory.csv"


@pytest.fixture
async def app(database_url, sessions, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\n", encoding="utf-8")
    settings = load_settings(config, {"CHECKIN_DATABASE_URL": database_url,
                                      "CHECKIN_BADGE_DIR": str(tmp_path / "badges")})
    from pathlib import Path

    runtime = build_runtime(settings, directory_file=Path(__file__).parents[2] / DIRECTORY)
    application = create_app(runtime, background_jobs=False)
    yield application
    await application.state.kiosk.aclose()
    await runtime.aclose()


async def token_for(sessions, role: Role, email: str) -> str:
    async with transaction(sessions) as db:
        user = await create_user(session=db, email=email, role=role, password="long-password-1")
        return await create_api_token(session=db, user=user, name="test")


def client(app, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                             headers=headers)


async def seed(sessions, tmp_path) -> str:
    badge = tmp_path / "badge.pdf"
    badge.write_bytes(b"%PDF")
    now = utcnow()
    async with transaction(sessions) as db:
        db.add(Visit(id="v1", channel="kiosk", started_at=now - timedelta(minutes=30),
                     ended_at=now, state="COMPLETE", outcome="checked_in",
                     visitor_name="Jane Doe", company="Acme", host_name="Margaret Okafor"))
        db.add(Visit(id="v2", channel="phone", started_at=now - timedelta(minutes=10),
                     ended_at=now, state="TRANSFER_HUMAN", outcome="transferred",
                     visitor_name="Bob Roe", company="Initech", host_name="Jon Whitaker"))
        await db.flush()
        db.add(VisitEvent(visit_id="v1", kind="tool_called", state="IDENTIFY_HOST", at=now,
                          data={"tool": "lookup_employee", "ok": True, "scores": [1.0]}))
        db.add(Notification(id="n1", visit_id="v1", host_employee_id="NW001", channel="offline",
                            payload={"visitor_name": "Jane Doe", "company": "Acme",
                                     "visitor_phone": "+1 555 010 9999",
                                     "host": {"name": "Margaret Okafor", "phone": "+1-555-0100"}},
                            status="delivered", created_at=now - timedelta(seconds=5),
                            delivered_at=now))
        db.add(BadgeRecord(visit_id="v1", visitor_name="Jane Doe", printer="pdf",
                           location=str(badge)))
    return str(badge)


async def test_roles_see_only_what_they_may(app, sessions):
    sec = await token_for(sessions, Role.SECURITY, "sec@example.com")
    fac = await token_for(sessions, Role.FACILITIES, "fac@example.com")
    async with client(app) as anon, client(app, sec) as s, client(app, fac) as f:
        assert (await anon.get("/api/visits")).status_code == 401
        assert (await f.get("/api/visits")).status_code == 403
        assert (await f.get("/api/visits/export.csv")).status_code == 403
        assert (await s.get("/api/dashboard")).status_code == 403
        dash = await f.get("/api/dashboard")
        assert dash.status_code == 200 and "Jane" not in dash.text
        assert (await s.get("/api/visits")).status_code == 200
        assert (await anon.get("/api/visits", headers={"Authorization": "Bearer ck_nope"})
                ).status_code == 401


async def test_search_detail_export_and_audit(app, sessions, tmp_path):
    await seed(sessions, tmp_path)
    sec = await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app, sec) as s:
        found = (await s.get("/api/visits", params={"visitor": "jane"})).json()
        assert found["total"] == 1 and found["items"][0]["company"] == "Acme"
        assert (await s.get("/api/visits", params={"outcome": "transferred"})).json()["total"] == 1
        assert (await s.get("/api/visits", params={"channel": "chat"})).json()["total"] == 0
        detail = (await s.get("/api/visits/v1")).json()
        assert detail["events"][0]["data"]["scores"] == [1.0]
        assert detail["notifications"][0]["recipient"] == "Margaret Okafor"
        assert "555-0100" not in str(detail)  # the host's number is not the reader's business
        csv = await s.get("/api/visits/export.csv", params={"company": "init"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert "Bob Roe" in csv.text and "Jane Doe" not in csv.text
        audit = (await s.get("/api/audit")).json()
    actions = [a["action"] for a in audit]
    assert actions[:3] == ["visits.export", "visits.read", "visits.search"]
    assert audit[0]["filters"] == {"company": "init"} and audit[0]["rows"] == 1


async def test_checkout_and_building(app, sessions, tmp_path):
    await seed(sessions, tmp_path)
    sec = await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app, sec) as s:
        assert [v["id"] for v in (await s.get("/api/building")).json()] == ["v1"]
        out = (await s.post("/api/visits/v1/checkout")).json()
        assert out["checked_out_by"] == "sec@example.com"
        assert (await s.get("/api/building")).json() == []
        assert (await s.post("/api/visits/nope/checkout")).status_code == 404


async def test_erasure_anonymises_everywhere_and_gives_a_receipt(app, sessions, tmp_path):
    badge = await seed(sessions, tmp_path)
    sec = await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app, sec) as s:
        receipt = (await s.post("/api/erasures", json={"visitor_name": "jane doe"})).json()
        assert receipt["visits"] == 1 and receipt["badges"] == 1 and receipt["badge_files"] == 1
        by_phone = (await s.post("/api/erasures", json={"phone": "555 010 9999"})).json()
        assert by_phone["visits"] == 1
        assert (await s.post("/api/erasures", json={})).status_code == 422
    async with sessions() as db:
        visit = await db.get(Visit, "v1")
        note = await db.get(Notification, "n1")
        badge_row = (await db.scalars(select(BadgeRecord))).one()
        audits = (await db.scalars(select(AuditRecord))).all()
    assert visit.visitor_name == "[erased]" and visit.company is None
    assert "Jane" not in str(note.payload) and "9999" not in str(note.payload)
    assert note.payload["host"]["name"] == "Margaret Okafor"
    assert badge_row.visitor_name == "[erased]"
    assert not __import__("pathlib").Path(badge).exists()
    assert all("jane" not in str(a.filters).lower() for a in audits)


async def test_erasure_takes_the_name_out_of_earlier_searches_but_keeps_who_searched(
        app, sessions, tmp_path):
    await seed(sessions, tmp_path)
    sec = await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app, sec) as s:
        for term in ("Jane Doe", "doe", "jane", "acme"):
            assert (await s.get("/api/visits", params={"visitor": term})).status_code == 200
        await s.post("/api/erasures", json={"visitor_name": "Jane Doe"})
    async with sessions() as db:
        searches = (await db.scalars(select(AuditRecord)
                                     .where(AuditRecord.action != "erasure")
                                     .order_by(AuditRecord.id))).all()
    assert [a.filters.get("visitor") for a in searches] == ["[erased]"] * 3 + ["acme"]
    assert {a.actor_email for a in searches} == {"sec@example.com"}


async def test_kiosk_typed_check_in_and_host_suggestions(app, sessions):
    async with client(app) as k:
        hosts = (await k.get("/api/kiosk/hosts", params={"q": "marg"})).json()
        assert hosts == [{"name": "Margaret Okafor", "department": "Executive"}]
        turn = (await k.post("/api/kiosk/visits", json={"language": "en"})).json()
        assert turn["ask"] == "host"
        sid = turn["session_id"]
        for text in ("Margaret Okafor", "yes", "My name is Jane Doe", "I am with Acme"):
            turn = (await k.post(f"/api/kiosk/visits/{sid}/reply", json={"text": text})).json()
        assert turn["done"] and turn["state"] == "COMPLETE"
        assert (await k.post(f"/api/kiosk/visits/{sid}/reply", json={"text": "hi"})
                ).status_code == 404
        metrics = await k.get("/metrics")
    assert 'checkin_reply_latency_seconds_count{channel="kiosk"} 4.0' in metrics.text
    assert 'checkin_visits_today{outcome="checked_in"} 1.0' in metrics.text
    assert "Jane" not in metrics.text


async def _signed_in(app, c: httpx.AsyncClient, email: str) -> None:
    page = await c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = await c.post("/login", data={"email": email, "password": "long-password-1",
                                          "csrf_token": token})
    assert answer.status_code == 303


async def test_cookie_posts_need_the_csrf_token_and_cookies_are_httponly_lax(app, sessions,
                                                                             tmp_path):
    await seed(sessions, tmp_path)
    await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app) as c:
        await _signed_in(app, c, "sec@example.com")
        assert (await c.post("/api/visits/v1/checkout")).status_code == 403
        page = await c.get("/visits/v1")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        ok = await c.post("/api/visits/v1/checkout", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200
    async with client(app) as c:
        page = await c.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        answer = await c.post("/login", data={"email": "sec@example.com",
                                              "password": "long-password-1", "csrf_token": token})
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie


async def test_sign_in_is_rate_limited(app, sessions):
    await token_for(sessions, Role.SECURITY, "sec@example.com")
    async with client(app) as c:
        page = await c.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        codes = [(await c.post("/login", data={"email": "sec@example.com", "password": "wrong",
                                               "csrf_token": token})).status_code
                 for _ in range(6)]
        right = await c.post("/login", data={"email": "sec@example.com",
                                             "password": "long-password-1", "csrf_token": token})
    assert codes == [401] * 5 + [429]
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
