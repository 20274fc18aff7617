"""Bring a database to the newest schema: ``alembic upgrade head`` from code, from any folder.

Every command that touches the database calls ``upgrade_to_head`` first, so a fresh machine just
works. Concurrency, because several replicas (or `checkin serve` and a `checkin chat`) may start
together:
- already at head: one read of ``alembic_version`` and nothing else, no lock taken;
- PostgreSQL: ``migrations/env.py`` holds a transaction-scoped advisory lock around the whole
  (transactional) upgrade, so a second process waits and then finds nothing to do;
- SQLite: an exclusive ``flock`` on ``<database file>.migrate-lock`` does the same job, as SQLite
  DDL is not transactional under Alembic. A failed SQLite upgrade may leave a partial schema.

Where the scripts are: ``alembic.ini`` and ``migrations/`` sit at the repository root, next to
the ``checkin`` package, which is where an editable install (and the container, which copies the
repository) finds them. A wheel does not ship them; see ``MIGRATIONS_DIR``.

Imports db and errors only (env.py imports the model modules).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import make_url

from checkin.db import sync_url
from checkin.errors import CheckinError

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
VERSION_TABLE = "alembic_version"


def alembic_config(database_url: str) -> Config:
    """An Alembic ``Config`` aimed at ``database_url`` that works from any working directory."""
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise CheckinError(f"migrations not found at {MIGRATIONS_DIR} (install checkin editable)")
    cfg = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not as sqlalchemy.url: ConfigParser would treat a "%" in a
    # password as interpolation syntax.
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_to_head(database_url: str) -> None:
    """Migrate ``database_url`` to the newest revision; a cheap no-op when it is already there."""
    cfg = alembic_config(database_url)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    if _current_heads(database_url) == heads:
        return
    with _sqlite_lock(database_url):
        try:
            command.upgrade(cfg, "heads")
        except CommandError as err:
            # Usually a database written by a newer checkin (a revision this code does not know).
            raise CheckinError(f"cannot migrate the database: {err}") from None
    log.info("database_migrated", revisions=sorted(heads))


def downgrade_to_base(database_url: str) -> None:
    """Drop every checkin table (tests and disaster drills; never run by the service)."""
    with _sqlite_lock(database_url):
        command.downgrade(alembic_config(database_url), "base")


def _current_heads(database_url: str) -> set[str]:
    # Read alembic_version directly rather than through a MigrationContext, which logs two
    # INFO lines on every command even when there is nothing to do.
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return set()
            rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            return set(rows.scalars())
    finally:
        engine.dispose()


@contextmanager
def _sqlite_lock(database_url: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite file; nothing for other databases."""
    url = make_url(sync_url(database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    lock_path = Path(url.database).with_name(Path(url.database).name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
