"""A failed print is retried once, then reported (log, status, visit event) and explained.

The wrapper is tested with a scripted printer; the whole path with the rules receptionist, the
real print_badge tool and a real database, where the visitor must hear where the badge is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from checkin.conversation import Conversation
from checkin.db import transaction
from checkin.delivery import OutboxDispatcher
from checkin.directory.service import Directory
from checkin.errors import ProviderError, ProviderRejected, ProviderUnavailable
from checkin.llm.rules import RulesLanguageModel
from checkin.printer import Badge, PrintReceipt
from checkin.printers import ProviderStatus, RetryingPrinter
from checkin.tools.base import ToolContext
from checkin.tools.registry import default_registry
from checkin.visits import BadgeRecord, VisitEvent, create_visit
from tests.support.doubles import RecordingNotifier
from tests.support.factories import NOW, employees

pytestmark = pytest.mark.unit

NEW_YORK = ZoneInfo("America/New_York")


class ScriptedPrinter:
    """Follows a script: each call pops an error to raise or None to succeed; keeps the badges."""

    def __init__(self, script: list[ProviderError | None]) -> None:
        self.script = script
        self.badges: list[Badge] = []

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        self.badges.append(badge)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return PrintReceipt(printer="scripted", location=f"tray-{len(self.badges)}")


def _down() -> ProviderUnavailable:
    return ProviderUnavailable("printer", code="printer-unreachable")


def _badge() -> Badge:
    return Badge(visit_id="v1", visitor_name="Ana Ruiz", company="Acme", host_name="Priya Patel",
                 issued_at=NOW)


def _clock() -> datetime:
    return NOW


# --- the wrapper ----------------------------------------------------------------------------


async def test_one_failure_is_retried_and_the_badge_prints() -> None:
    inner = ScriptedPrinter([_down(), None])
    printer = RetryingPrinter(inner, kind="zpl", status=ProviderStatus(clock=_clock),
                              retry_delay_s=0)

    with capture_logs() as logs:
        receipt = await printer.print_badge(_badge())

    assert receipt.location == "tray-2" and len(inner.badges) == 2
    assert [e["event"] for e in logs] == ["badge_print_retried"]
    assert printer.status.snapshot() == {
        "status": "ok", "last_success_at": NOW.isoformat(), "last_error_at": None,
        "last_error_code": None, "consecutive_failures": 0,
    }


async def test_two_failures_raise_the_last_error_and_mark_the_printer_failing() -> None:
    inner = ScriptedPrinter([_down(), ProviderUnavailable("printer", code="printer-timeout")])
    printer = RetryingPrinter(inner, kind="brother", retry_delay_s=0)

    with capture_logs() as logs, pytest.raises(ProviderUnavailable) as caught:
        await printer.print_badge(_badge())

    assert caught.value.code == "printer-timeout" and len(inner.badges) == 2
    assert logs[-1] == {"event": "badge_not_printed", "log_level": "warning",
                        "printer": "brother", "code": "printer-timeout", "attempts": 2,
                        "visit_id": "v1"}
    assert "Ana" not in repr(logs) and "Acme" not in repr(logs)
    snapshot = printer.status.snapshot()
    assert snapshot["status"] == "failing" and snapshot["last_error_code"] == "printer-timeout"


async def test_a_rejected_job_is_not_retried() -> None:
    inner = ScriptedPrinter([ProviderRejected("printer", code="printer-bad-label")])
    printer = RetryingPrinter(inner, kind="brother", retry_delay_s=0)

    with pytest.raises(ProviderRejected):
        await printer.print_badge(_badge())
    assert len(inner.badges) == 1


async def test_the_next_success_clears_failing_but_keeps_the_last_error_visible() -> None:
    printer = RetryingPrinter(ScriptedPrinter([_down(), _down(), None]), kind="cups",
                              retry_delay_s=0)
    with pytest.raises(ProviderUnavailable):
        await printer.print_badge(_badge())

    await printer.print_badge(_badge())

    snapshot = printer.status.snapshot()
    assert snapshot["status"] == "ok" and snapshot["consecutive_failures"] == 0
    assert snapshot["last_error_code"] == "printer-unreachable" and snapshot["last_error_at"]


# --- the visitor's side ---------------------------------------------------------------------


async def _conversation(
    sessions: async_sessionmaker[AsyncSession], printer: Any
) -> Conversation:
    directory = Directory(employees())
    async with transaction(sessions) as db:
        visit = await create_visit(session=db, channel="chat")
    ctx = ToolContext(
        visit_id=visit.id, directory=directory, sessions=sessions, printer=printer,
        dispatcher=OutboxDispatcher(sessions, RecordingNotifier()), notifier_channel="offline",
        calendar=None, now=_clock, tz=NEW_YORK, site_name="Example",
    )
    model = RulesLanguageModel(company="Example", departments=directory)
    return Conversation(model=model, registry=default_registry(), ctx=ctx)


async def _check_in(conv: Conversation) -> str:
    await conv.greet()
    await conv.reply("hi, I'm here to see Priya Patel")
    await conv.reply("yes")
    await conv.reply("Nathan Ellison")
    final = await conv.reply("Vertex Dynamics, a design review")
    assert final.done
    return final.text


async def test_when_the_badge_cannot_print_reception_is_told_and_so_is_the_visitor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    inner = ScriptedPrinter([_down(), _down()])
    conv = await _conversation(sessions, RetryingPrinter(inner, kind="zpl", retry_delay_s=0))

    with capture_logs() as logs:
        text = await _check_in(conv)
    await conv.close()

    assert "Reception will give you your badge" in text
    assert len(inner.badges) == 2  # tried, retried, then handed to reception
    async with sessions() as db:
        events = (await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == conv.visit_id, VisitEvent.kind == "badge_print_failed"))).all()
        badges = (await db.scalars(select(BadgeRecord))).all()
    assert [e.data for e in events] == [{"code": "printer-unreachable", "pickup": "reception"}]
    assert badges == []
    assert any(e["event"] == "badge_not_printed" for e in logs)
    assert "Nathan" not in repr(logs) and "Ellison" not in repr(logs)


async def test_a_printed_badge_shows_the_lobby_time_not_utc(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    printer = ScriptedPrinter([])
    conv = await _conversation(sessions, printer)

    text = await _check_in(conv)

    assert "take your badge" in text
    assert printer.badges[0].issued_at.utcoffset() == NEW_YORK.utcoffset(NOW.replace(tzinfo=None))
    assert printer.badges[0].issued_at == NOW  # same moment, lobby wall-clock time
    assert f"{printer.badges[0].issued_at:%H:%M}" == "10:50"


def test_the_partial_badge_phrase_exists_in_every_language() -> None:
    from checkin.llm.phrases import PHRASES, say

    assert set(PHRASES["done_visit_some_badges"]) == {"en", "es"}
    assert "reception will have the others" in say("done_visit_some_badges", "en",
                                                   visitor="Ana", host="Priya")


def test_the_printer_status_is_plain_data_for_health() -> None:
    status = ProviderStatus(clock=_clock)
    status.failed("printer-timeout")

    assert status.snapshot()["last_error_at"] == NOW.isoformat()


async def test_a_group_hears_that_the_missing_badges_wait_at_reception(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    inner = ScriptedPrinter([None, _down(), _down()])  # first badge prints, the second does not
    conv = await _conversation(sessions, RetryingPrinter(inner, kind="zpl", retry_delay_s=0))
    await conv.greet()
    await conv.reply("hi, we're here to see Priya Patel")
    await conv.reply("yes")
    await conv.reply("Ana Ruiz and Ben Ortiz")
    final = await conv.reply("Vertex Dynamics, a design review")

    assert final.done and [b.visitor_name for b in inner.badges] == ["Ana Ruiz", "Ben Ortiz",
                                                                     "Ben Ortiz"]
    assert "reception will have the others" in final.text
