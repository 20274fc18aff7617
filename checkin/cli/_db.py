"""Database access for the admin commands: migrate first, then one engine for the command.

Imports db and migrate only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.db import make_engine, make_sessionmaker
from checkin.migrate import upgrade_to_head


@asynccontextmanager
async def migrated_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on ``database_url`` after bringing its schema to head (a fresh machine works)."""
    # Alembic is synchronous: keep it off the event loop.
    await asyncio.to_thread(upgrade_to_head, database_url)
    engine = make_engine(database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
