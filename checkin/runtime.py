"""The composition root's workshop: builds the providers ``Settings`` ask for, and new visits.

This is the one module that chooses a real or an offline implementation of each role; every
channel (chat, phone, kiosk) gets its conversations from ``Runtime.new_conversation``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from checkin.config import Settings
from checkin.conversation import Conversation
from checkin.db import make_engine, make_sessionmaker, transaction, utcnow
from checkin.delivery import OutboxDispatcher
from checkin.directory.calendar import IcsCalendar
from checkin.directory.service import Directory, DirectoryCache
from checkin.errors import ConfigError
from checkin.llm.rules import RulesLanguageModel
from checkin.notify.offline import ConsoleNotifier
from checkin.printer import PdfBadgePrinter
from checkin.providers import LanguageModel, Notifier
from checkin.tools.base import MeetingSource, ToolContext
from checkin.tools.registry import ToolRegistry, default_registry
from checkin.visits import create_visit

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    """Long-lived providers shared by every visit of one process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    directory: Callable[[], Awaitable[Directory]]
    calendar: MeetingSource | None
    printer: PdfBadgePrinter
    notifier: Notifier
    dispatcher: OutboxDispatcher
    registry: ToolRegistry
    clock: Clock = utcnow

    async def new_conversation(self, *, channel: str) -> Conversation:
        """Open a visit record and the dialogue that will fill it."""
        directory = await self.directory()
        async with transaction(self.sessions) as db:
            visit = await create_visit(session=db, channel=channel)
        ctx = ToolContext(
            visit_id=visit.id, directory=directory, sessions=self.sessions,
            printer=self.printer, dispatcher=self.dispatcher,
            notifier_channel=self.settings.providers.notifier, calendar=self.calendar,
            now=self.clock, tz=self.settings.tz, site_name=self.settings.site.company,
        )
        model = self._model(directory)
        return Conversation(model=model, fallback=None, registry=self.registry, ctx=ctx)

    def _model(self, directory: Directory) -> LanguageModel:
        s = self.settings
        if s.providers.llm != "rules":
            raise ConfigError(f"providers.llm: {s.providers.llm!r} is not available in this build")
        return RulesLanguageModel(
            company=s.site.company, languages=s.site.languages,
            silence_reprompts=s.timeouts.silence_reprompts, silence_action=s.silence_action,
            departments=directory,
        )

    async def aclose(self) -> None:
        """Release database connections."""
        await self.engine.dispose()


def build_runtime(
    settings: Settings,
    *,
    directory_file: Path | None = None,
    calendar_source: str | None = None,
    clock: Clock = utcnow,
    console: TextIO = sys.stderr,
) -> Runtime:
    """Providers for ``settings``; ``directory_file`` replaces the database directory."""
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    notifier = _notifier(settings, console)
    return Runtime(
        settings=settings, engine=engine, sessions=sessions,
        directory=_directory_source(sessions, directory_file),
        calendar=_calendar(settings, calendar_source),
        printer=_printer(settings), notifier=notifier,
        dispatcher=OutboxDispatcher(sessions, notifier),
        registry=default_registry(timeout_s=settings.timeouts.tool_s), clock=clock,
    )


def _directory_source(
    sessions: async_sessionmaker[AsyncSession], directory_file: Path | None
) -> Callable[[], Awaitable[Directory]]:
    if directory_file is None:
        return DirectoryCache(sessions).get
    from checkin.directory.importer import read_employees

    fixed = Directory(read_employees(directory_file))

    async def from_file() -> Directory:
        return fixed

    return from_file


def _calendar(settings: Settings, override: str | None) -> MeetingSource | None:
    source = override or settings.paths.calendar
    if settings.providers.calendar == "none" or not source:
        return None
    if settings.providers.calendar != "ics":
        raise ConfigError(f"providers.calendar: {settings.providers.calendar!r} is not "
                          "available in this build")
    return IcsCalendar(source, timeout_s=settings.timeouts.tool_s)


def _printer(settings: Settings) -> PdfBadgePrinter:
    if settings.providers.printer != "pdf":
        raise ConfigError(f"providers.printer: {settings.providers.printer!r} is not available "
                          "in this build")
    return PdfBadgePrinter(settings.paths.badges)


def _notifier(settings: Settings, console: TextIO) -> Notifier:
    if settings.providers.notifier != "offline":
        raise ConfigError(f"providers.notifier: {settings.providers.notifier!r} is not "
                          "available in this build")
    return ConsoleNotifier(console, show_names=console.isatty())
