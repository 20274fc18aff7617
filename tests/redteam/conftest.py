"""Red-team fixtures: one fake Messages API server and a SQLite database for the whole suite.

The attempts are about the gate and the redactor, not the SQL dialect, so they run on SQLite
only (the contract and unit suites cover PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checkin.migrate import upgrade_to_head
from tests.fakeservers.fake_anthropic import FakeAnthropic


@pytest.fixture(scope="module")
def database_url(new_database) -> str:  # type: ignore[no-untyped-def]
    """A migrated SQLite database for the module (overrides the two-dialect fixture)."""
    url = new_database("sqlite")
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeAnthropic]:
    """The scripted "model" that attempts the manipulations."""
    with FakeAnthropic(lifetime_s=600) as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeAnthropic) -> FakeAnthropic:
    """The server with an empty script and no recorded requests."""
    fake_server.reset()
    return fake_server
