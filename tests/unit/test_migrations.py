"""Migrations on both dialects: up, down to nothing, up again, concurrent starts, no drift."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

from checkin.db import Base, sync_url
from checkin.migrate import downgrade_to_base, upgrade_to_head

pytestmark = pytest.mark.unit

TABLES = {"employees", "directory_version", "visits", "visit_events", "notifications", "badges",
          "staff_users", "staff_api_tokens", "staff_sessions", "audit_records"}  # 0004


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    upgrade_to_head(empty_database_url)
    assert _tables(empty_database_url) == TABLES

    downgrade_to_base(empty_database_url)
    assert _tables(empty_database_url) == set()

    upgrade_to_head(empty_database_url)
    assert _tables(empty_database_url) == TABLES


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    upgrade_to_head(empty_database_url)
    upgrade_to_head(empty_database_url)
    assert _tables(empty_database_url) == TABLES


def test_concurrent_first_upgrade(empty_database_url: str) -> None:
    # Replicas starting together on an empty database: one migrates, the others wait and find
    # nothing left to do; nobody fails on "table already exists". Separate processes, as in
    # production (Alembic's `op`/`context` proxies are process-global, so threads would not do).
    code = "import sys; from checkin.migrate import upgrade_to_head; upgrade_to_head(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_database_url],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120)[0].decode(errors="replace") for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    assert _tables(empty_database_url) == TABLES

    # And once migrated, concurrent starts are read-only no-ops.
    procs = [subprocess.Popen([sys.executable, "-c", code, empty_database_url]) for _ in range(3)]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]


def test_models_match_migrations(database_url: str) -> None:
    # The same check as `alembic check`: a model change without a migration fails here.
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_0005_adds_employee_alternates(empty_database_url: str) -> None:
    # Issue 5: who hears about a visitor when the host does not answer (assistant, team).
    upgrade_to_head(empty_database_url)
    engine = create_engine(sync_url(empty_database_url), poolclass=pool.NullPool)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("employees")}
    finally:
        engine.dispose()
    assert {"assistant_id", "team_channel"} <= set(columns)
    assert not columns["assistant_id"]["nullable"] and not columns["team_channel"]["nullable"]
    downgrade_to_base(empty_database_url)
    assert _tables(empty_database_url) == set()
