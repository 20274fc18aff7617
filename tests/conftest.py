"""Shared fixtures: a real, migrated database on SQLite and on PostgreSQL, and sessions on it.

``database_url`` is parametrized over both dialects. Each test module gets a fresh database
(a temporary SQLite file, or a new PostgreSQL database on the server named by
``CHECKIN_TEST_POSTGRES_URL``, which ``scripts/test`` starts), migrated with ``upgrade_to_head``
so the migrations run on every test run. ``sessions`` empties every table before each test.

Without ``CHECKIN_TEST_POSTGRES_URL`` the PostgreSQL cases are skipped, except under CI (``CI``
set), where that is an error: CI must prove both dialects.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import checkin.directory.store  # noqa: F401  (registers tables on Base.metadata)
import checkin.staff  # noqa: F401  (staff and audit tables, issue 6)
import checkin.visits  # noqa: F401
from checkin.db import Base, make_engine, make_sessionmaker
from checkin.migrate import upgrade_to_head

POSTGRES_ENV = "CHECKIN_TEST_POSTGRES_URL"

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of a PostgreSQL server where tests may create and drop databases."""
    url = os.environ.get(POSTGRES_ENV, "")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} is not set: CI must test PostgreSQL (use scripts/test)")
    pytest.skip(f"{POSTGRES_ENV} is not set (scripts/test starts a PostgreSQL server for you)")


def _libpq_url(url: str) -> str:
    # psycopg.connect wants a libpq URL, without SQLAlchemy's "+driver" part.
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NewDatabase]:
    """A factory of empty databases (dropped at the end of the session)."""
    factory = NewDatabase(request, tmp_path_factory)
    yield factory
    factory.drop_all()


class NewDatabase:
    """Creates empty databases: ``new_database("sqlite")`` or ``new_database("postgresql")``."""

    def __init__(self, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> None:
        self._request = request
        self._tmp = tmp
        self._created: list[tuple[str, str]] = []  # (server url, database name)

    def __call__(self, dialect: str) -> str:
        if dialect == "sqlite":
            return f"sqlite:///{self._tmp.mktemp('db') / 'checkin.db'}"
        server = self._request.getfixturevalue("postgres_server_url")
        name = f"checkin_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq_url(server), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append((server, name))
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for server, name in self._created:
            with psycopg.connect(_libpq_url(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=DIALECTS)
def database_url(request: pytest.FixtureRequest, new_database: NewDatabase) -> str:
    """A migrated database for this test module, once per dialect."""
    url = new_database(request.param)
    upgrade_to_head(url)
    return url


@pytest.fixture(params=DIALECTS)
def empty_database_url(request: pytest.FixtureRequest, new_database: NewDatabase) -> str:
    """A brand-new database with no tables at all, once per dialect."""
    return new_database(request.param)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the module's database, emptied of rows before the test."""
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def dialect(database_url: str) -> str:
    """``sqlite`` or ``postgresql``: the backend of this test's database."""
    return make_url(database_url).get_backend_name()

