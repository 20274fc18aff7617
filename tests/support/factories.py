"""Plain factory functions: a small directory, and a conversation wired to offline providers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.conversation import Conversation
from checkin.db import transaction
from checkin.delivery import OutboxDispatcher
from checkin.directory.model import Employee
from checkin.directory.service import Directory
from checkin.llm.rules import RulesLanguageModel
from checkin.llm.usage import VisitUsage
from checkin.printer import PdfBadgePrinter
from checkin.providers import LanguageModel, Notifier
from checkin.states import Session
from checkin.tools.base import ToolContext
from checkin.tools.registry import ToolRegistry, default_registry
from checkin.visits import create_visit

NOW = datetime(2026, 3, 18, 14, 50, tzinfo=UTC)


def employees() -> list[Employee]:
    """A made-up office: two Priyas, homophones, and someone who left."""
    rows = [
        ("E1", "Priya", "Patel", "Engineering", "Staff Engineer"),
        ("E2", "Priya", "Raman", "Marketing", "Marketing Manager"),
        ("E3", "Marcus", "Oyelaran", "Finance", "Controller"),
        ("E4", "Steven", "Clark", "IT", "Systems Administrator"),
        ("E5", "Stephen", "Clarke", "Operations", "Operations Lead"),
        ("E6", "Dana", "Whitcombe", "Legal", "Counsel"),
    ]
    out = [Employee(id=i, first_name=first, last_name=last, department=d, title=t,
                    email=f"{first.lower()}.{last.lower()}@example.test",
                    phone=f"+1-555-010{i[1]}", slack_id=f"U{i}")
           for i, first, last, d, t in rows]
    out.append(Employee(id="E9", first_name="Robert", last_name="Tennant", department="Sales",
                        email="robert.tennant@example.test", phone="+1-555-0199", active=False))
    return out


async def conversation(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, notifier: Notifier,
    *, model: LanguageModel | None = None, fallback: LanguageModel | None = None,
    usage: VisitUsage | None = None, session: Session | None = None,
    registry: ToolRegistry | None = None,
) -> Conversation:
    """A chat visit on the offline stack, with ``notifier`` behind the outbox."""
    directory = Directory(employees())
    async with transaction(sessions) as db:
        visit = await create_visit(session=db, channel="chat")
    ctx = ToolContext(
        visit_id=visit.id, directory=directory, sessions=sessions,
        printer=PdfBadgePrinter(tmp_path / "badges"),
        dispatcher=OutboxDispatcher(sessions, notifier), notifier_channel="offline",
        calendar=None, now=lambda: NOW, tz=ZoneInfo("America/New_York"), site_name="Example",
    )
    model = model or RulesLanguageModel(company="Example", departments=directory)
    return Conversation(model=model, registry=registry or default_registry(), ctx=ctx,
                        fallback=fallback, usage=usage, session=session)
