"""Schemathesis against the OpenAPI document of the back-office, kiosk and metrics endpoints.

Every operation under ``/api``, ``/metrics`` and ``/health`` is called with generated input as
an admin (bearer token); no answer may be a server error. The same run from a shell,
against ``scripts/serve`` (schemathesis' CLI; its requests transport needs a matching urllib3)::

    .venv/bin/schemathesis run http://127.0.0.1:8080/openapi.json \\
        --include-path-regex '^/(api|metrics|health)' -H "Authorization: Bearer $TOKEN"
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet
from starlette.testclient import TestClient

from checkin.app import create_app
from checkin.config import load_settings
from checkin.db import make_engine, make_sessionmaker, transaction
from checkin.migrate import upgrade_to_head
from checkin.runtime import build_runtime
from checkin.staff import Role, create_api_token, create_user
from tests.web.conftest import ROOT, _in_thread

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fuzzed(new_database, tmp_path_factory):
    """The app on a migrated SQLite database, and an admin token for it."""
    url = new_database("sqlite")
    upgrade_to_head(url)
    token: list[str] = []

    async def admin() -> None:
        engine = make_engine(url)
        async with transaction(make_sessionmaker(engine)) as db:
            user = await create_user(session=db, email="admin@example.com", role=Role.ADMIN,
                                     password="fuzz-password-1")
            token.append(await create_api_token(session=db, user=user, name="fuzz"))
        await engine.dispose()

    _in_thread(admin())
    tmp = tmp_path_factory.mktemp("fuzz")
    settings_ = load_settings(None, {"CHECKIN_DATABASE_URL": url,
                                     "CHECKIN_BADGE_DIR": str(tmp / "badges")})
    runtime = build_runtime(settings_, directory_file=ROOT / "checkin/demo/directory.csv")
    app = create_app(runtime, background_jobs=False)
    return app, token[0]


def test_no_server_errors_and_responses_match_the_schema(fuzzed):
    app, token = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/(api|metrics|health)")
    operations = [result.ok() for result in schema.get_all_operations()]
    client = TestClient(app, raise_server_exceptions=False)
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            # Sent with Starlette's TestClient: schemathesis' own requests transport breaks on
            # the urllib3 version installed here (AttributeError in its connection counting).
            body = case.body if not isinstance(case.body, NotSet) else None
            response = client.request(case.method, case.formatted_path, params=case.query,
                                      json=body, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (case.method, case.formatted_path)
            if response.status_code < 400 and "json" in response.headers.get("content-type", ""):
                response.json()

        call()
