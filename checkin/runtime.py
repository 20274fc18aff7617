"""The composition root's workshop: builds the providers ``Settings`` ask for, and new visits.

This is the one module that chooses a real or an offline implementation of each role; every
channel (chat, phone, kiosk) gets its conversations from ``Runtime.new_conversation``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from checkin.config import Settings
from checkin.conversation import Conversation
from checkin.db import make_engine, make_sessionmaker, transaction, utcnow
from checkin.delivery import DeliveryPolicy, OutboxDispatcher
from checkin.directory.calendar import IcsCalendar
from checkin.directory.service import Directory, DirectoryCache
from checkin.errors import ConfigError
from checkin.host_replies import HostReplyFeed, visitor_news, waits_for_host
from checkin.llm.rules import RulesLanguageModel
from checkin.notify.setup import NotifyStack, build_notifications, contact_ref
from checkin.printer import PdfBadgePrinter
from checkin.printers import (
    BrotherQlBadgePrinter,
    CupsBadgePrinter,
    ProviderStatus,
    RetryingPrinter,
    ZplBadgePrinter,
)
from checkin.providers import LanguageModel, Notifier
from checkin.tools.base import BadgePrinter, MeetingSource, ToolContext
from checkin.tools.registry import ToolRegistry, default_registry
from checkin.visits import create_visit

if TYPE_CHECKING:  # the anthropic SDK is imported only when providers.llm is claude
    from checkin.llm.setup import ClaudeStack

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    """Long-lived providers shared by every visit of one process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    directory: Callable[[], Awaitable[Directory]]
    calendar: MeetingSource | None
    printer: BadgePrinter
    notifier: Notifier
    dispatcher: OutboxDispatcher
    registry: ToolRegistry
    clock: Clock = utcnow
    printer_status: ProviderStatus | None = None  # last success / error, shown on /health
    notify: NotifyStack | None = None  # Slack/SMS clients, reply hub (api/slack.py, api/sms.py)
    host_replies: HostReplyFeed | None = None  # a visit channel hears its host's answer here
    claude: ClaudeStack | None = None  # SDK client + circuit breaker (providers.llm: claude)

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
        if self.claude is None:
            return Conversation(model=model, fallback=None, registry=self.registry, ctx=ctx)
        # Claude answers; the rules engine takes the visit over, from the same state and facts,
        # when Claude fails or its breaker is open.
        usage = self.claude.new_usage()
        return Conversation(model=self.claude.receptionist(rules=model, usage=usage),
                            fallback=model, registry=self.registry, ctx=ctx, usage=usage)

    @property
    def visitor_wait_s(self) -> float:
        """How long a channel stays with a checked-in visitor for the host's answer; 0 when
        the host cannot answer (the offline notifier prints to a console)."""
        if self.host_replies is None or self.notify is None or self.notify.channels == (
                "offline",):
            return 0.0
        return self.settings.notify.visitor_wait_s

    def host_news(self, conversation: Conversation) -> AsyncIterator[str] | None:
        """The host's answer as sentences for this visitor (``notify.visitor_wait_s`` at
        most), or None when there is nothing to wait for (not checked in, nobody told)."""
        wait_s = self.visitor_wait_s
        if self.host_replies is None or wait_s <= 0 or not waits_for_host(conversation.session):
            return None
        return visitor_news(self.host_replies, conversation.visit_id,
                            language=conversation.session.language, wait_s=wait_s)

    def _model(self, directory: Directory) -> LanguageModel:
        s = self.settings
        if s.providers.llm not in ("rules", "claude"):
            raise ConfigError(f"providers.llm: {s.providers.llm!r} is not available in this build")
        return RulesLanguageModel(
            company=s.site.company, languages=s.site.languages,
            silence_reprompts=s.timeouts.silence_reprompts, silence_action=s.silence_action,
            departments=directory,
        )

    async def aclose(self) -> None:
        """Release database connections."""
        if self.notify is not None:
            await self.notify.aclose()
        if self.claude is not None:
            await self.claude.aclose()
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
    stack = build_notifications(settings, console)
    printer = _printer(settings)
    return Runtime(
        settings=settings, engine=engine, sessions=sessions,
        directory=_directory_source(sessions, directory_file),
        calendar=_calendar(settings, calendar_source),
        printer=printer, printer_status=printer.status, notifier=stack.notifier,
        dispatcher=OutboxDispatcher(sessions, stack.notifier, reception=stack.reception,
                                    hub=stack.hub, policy=_delivery_policy(settings)),
        notify=stack, host_replies=HostReplyFeed(sessions, stack.hub,
                                                 poll_s=settings.notify.poll_s),
        registry=default_registry(timeout_s=settings.timeouts.tool_s), clock=clock,
        claude=_claude(settings),
    )


def _claude(settings: Settings) -> ClaudeStack | None:
    if settings.providers.llm != "claude":
        return None
    from checkin.llm.setup import build_claude  # loads the anthropic SDK only when chosen

    return build_claude(settings)


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
    if settings.providers.calendar == "caldav" and not override:
        return _caldav_calendar(settings)
    source = override or settings.paths.calendar
    if settings.providers.calendar == "none" or not source:
        return None
    if settings.providers.calendar not in ("ics", "caldav"):  # caldav + a file given: the file
        raise ConfigError(f"providers.calendar: {settings.providers.calendar!r} is not "
                          "available in this build")
    return IcsCalendar(source, timeout_s=settings.timeouts.tool_s)


def _caldav_calendar(settings: Settings) -> MeetingSource:
    from checkin.directory.caldav_calendar import CalDavCalendar  # caldav is slow to import

    c, secret = settings.caldav, settings.credentials.caldav_password
    if not c.url:
        raise ConfigError("providers.calendar is caldav: set caldav.url")
    return CalDavCalendar(c.url, calendar=c.calendar, username=c.username,
                          password=secret.get_secret_value() if secret else None,
                          timeout_s=settings.timeouts.tool_s)


def _printer(settings: Settings) -> RetryingPrinter:
    """The lobby's printer, wrapped to retry once and keep the status /health shows."""
    kind, p = settings.providers.printer, settings.printer
    inner: BadgePrinter
    if kind == "pdf":
        inner = PdfBadgePrinter(settings.paths.badges)
    elif kind == "zpl":
        if not p.host:
            raise ConfigError("providers.printer is zpl: set printer.host")
        inner = ZplBadgePrinter(p.host, p.port, timeout_s=p.timeout_s, dpi=p.dpi)
    elif kind == "brother":
        try:
            inner = BrotherQlBadgePrinter(host=p.host, port=p.port, device=p.device,
                                          model=p.model, label=p.label, timeout_s=p.timeout_s)
        except ValueError as err:
            raise ConfigError(f"printer: {err} (providers.printer is brother)") from None
        except ImportError:
            raise ConfigError("providers.printer is brother: install checkin[brother]") from None
    elif kind == "cups":
        if not p.queue:
            raise ConfigError("providers.printer is cups: set printer.queue")
        inner = CupsBadgePrinter(p.queue, options=p.lp_options, timeout_s=p.timeout_s)
    else:
        raise ConfigError(f"providers.printer: {kind!r} is not available in this build")
    return RetryingPrinter(inner, kind=kind, retry_delay_s=p.retry_delay_s)


def _delivery_policy(settings: Settings) -> DeliveryPolicy:
    n = settings.notify
    return DeliveryPolicy(
        claim_s=n.claim_s, retry_initial_s=n.retry_initial_s, retry_max_s=n.retry_max_s,
        max_attempts=n.max_attempts, escalate_after_s=n.escalate_after_min * 60,
        inline_budget_s=max(0.5, settings.timeouts.tool_s - 1.5),
        alternate=contact_ref(n.alternate, role="alternate"),
    )
