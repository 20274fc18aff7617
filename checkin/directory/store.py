"""Employees in the database, and the directory version that tells when to rebuild the index.

Imports: db, directory.model.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from checkin.db import Base, UtcDateTime, utcnow
from checkin.directory.model import Employee


class EmployeeRow(Base):
    """One person as imported from the company's directory source."""

    __tablename__ = "employees"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(150), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    slack_id: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(default=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    assistant_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    team_channel: Mapped[str] = mapped_column(String(40), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def update_from(self, employee: Employee) -> None:
        """Copy every field of ``employee`` (same id) onto this row."""
        for name in ("first_name", "last_name", "department", "title", "email", "phone",
                     "slack_id", "active", "assistant_id", "team_channel"):
            setattr(self, name, getattr(employee, name))
        self.aliases = list(employee.aliases)
        self.updated_at = utcnow()

    def to_employee(self) -> Employee:
        """The plain value the resolver and tools work with."""
        return Employee(
            id=self.id, first_name=self.first_name, last_name=self.last_name,
            department=self.department, title=self.title, email=self.email, phone=self.phone,
            slack_id=self.slack_id, active=self.active, aliases=tuple(self.aliases or ()),
            assistant_id=self.assistant_id or "", team_channel=self.team_channel or "",
        )


class DirectoryVersion(Base):
    """A single row whose ``version`` goes up on every import (replicas rebuild their index)."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


async def directory_version(*, session: AsyncSession) -> int:
    """The current directory version (0 before the first import)."""
    row = await session.get(DirectoryVersion, 1)
    return row.version if row else 0


async def bump_directory_version(*, session: AsyncSession) -> int:
    """Mark the directory as changed; call in the import's transaction."""
    row = await session.get(DirectoryVersion, 1, with_for_update=True)
    if row is None:
        row = DirectoryVersion(id=1, version=0)
        session.add(row)
    row.version += 1
    row.imported_at = utcnow()
    return row.version


async def load_employees(*, session: AsyncSession) -> list[Employee]:
    """Every employee, active or not (people who left must still be recognised)."""
    rows = await session.scalars(select(EmployeeRow).order_by(EmployeeRow.id))
    return [r.to_employee() for r in rows]
