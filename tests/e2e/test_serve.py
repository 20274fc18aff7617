"""The service under uvicorn on 127.0.0.1, as a load balancer and an operator see it."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from checkin.app import create_app
from checkin.config import load_settings
from checkin.runtime import build_runtime

pytestmark = pytest.mark.e2e


def settings_for(tmp_path, database_url):
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\n", encoding="utf-8")
    return load_settings(config, {"CHECKIN_DATABASE_URL": database_url,
                                  "CHECKIN_BADGE_DIR": str(tmp_path / "badges")})


@asynccontextmanager
async def serving(app):
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn-under-test")
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def test_health_reports_the_database_and_every_provider(database_url, tmp_path):
    settings = settings_for(tmp_path, database_url)
    app = create_app(build_runtime(settings), background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert set(body["providers"]) == {"stt", "tts", "llm", "notifier", "printer", "calendar"}
    assert body["providers"]["llm"]["mode"] == "rules"
    assert "password" not in response.text.lower()


async def test_health_says_degraded_when_the_database_is_gone(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}"
    settings = settings_for(tmp_path, url)
    runtime = build_runtime(settings)
    (tmp_path / "missing" / "dir").rmdir()
    app = create_app(runtime, background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "down"
