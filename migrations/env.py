"""Alembic environment for checkin: the metadata of every table, and how to reach the database.

Imports ``checkin.db`` (Base, sync_url), the model modules (``checkin.visits``,
``checkin.directory.store``) so their tables are registered on ``Base.metadata``, and
``checkin.config`` only to find the URL when the ``alembic`` command is run by hand. Nothing else
from checkin: migrations must not depend on providers or services.

Where the URL comes from, first match wins:
  1. ``config.attributes["database_url"]``   (``checkin.migrate.upgrade_to_head``)
  2. ``$CHECKIN_DATABASE_URL``
  3. ``config.yaml`` / ``$CHECKIN_CONFIG``    (via ``load_settings``)
Alembic runs synchronously: psycopg for PostgreSQL, the stdlib sqlite3 driver for SQLite.
"""

from __future__ import annotations

import os
import zlib
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection

import checkin.directory.store  # noqa: F401  (registers the employees tables)
import checkin.staff  # noqa: F401  (registers the staff and audit tables)
import checkin.visits  # noqa: F401  (registers the visit tables)
from checkin.db import Base, sync_url

config = context.config

# Only the `alembic` command line sets up logging from alembic.ini; when checkin runs the
# migrations itself, the application's logging set-up must stay as it is.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Key of the PostgreSQL advisory lock that serialises migrations between replicas starting
# together: a stable 31-bit number derived from a fixed name.
MIGRATION_LOCK_KEY = zlib.crc32(b"checkin-migrations") & 0x7FFFFFFF


def _database_url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("CHECKIN_DATABASE_URL")
    if not url:
        from checkin.config import load_settings

        url = load_settings().database_url
    return sync_url(str(url))


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        literal_binds=connection is None,
        dialect_opts={"paramstyle": "named"} if connection is None else {},
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    _configure(url=_database_url())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection, one process at a time on PostgreSQL."""
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas may start at the same moment. PostgreSQL DDL is transactional, so one
            # transaction-scoped lock makes the second process wait and then find the schema
            # already at head (Alembic reads the version table after this point).
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
