"""The directory as the tools see it: employees by id and email, departments, and the resolver.

A ``Directory`` is immutable and built once per directory version; ``DirectoryCache`` rebuilds
it when an import bumps the version in the database, so replicas pick up changes.
Imports: db, directory.model/store/resolver/normalize.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.directory.model import Employee
from checkin.directory.resolver import NameResolver
from checkin.directory.store import directory_version, load_employees

# Common ways people name departments; compared after folding case and accents.
DEPARTMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "human resources": ("hr", "people", "people team", "people ops", "recursos humanos", "rrhh"),
    "information technology": ("it", "i t", "tech support", "helpdesk", "informatica"),
    "it": ("information technology", "i t", "tech support", "helpdesk", "informatica"),
    "engineering": ("engineer", "engineers", "ingenieria", "dev", "development"),
    "marketing": ("mercadeo", "mercadotecnia"),
    "finance": ("accounting", "accounts", "finanzas", "contabilidad"),
    "legal": ("legal department", "lawyers", "juridico"),
    "sales": ("ventas", "sales team"),
    "operations": ("ops", "operaciones"),
    "facilities": ("building", "maintenance", "instalaciones"),
    "customer success": ("customer service", "support", "atencion al cliente"),
    "research": ("r and d", "r&d", "investigacion"),
    "design": ("diseno", "designers"),
}


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation turned into spaces, spaces squeezed."""
    norm = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in norm if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9&]+", " ", plain).split())


class Directory:
    """An immutable snapshot of the employee directory with its name index."""

    def __init__(self, employees: Iterable[Employee], version: int = 0) -> None:
        self.employees: tuple[Employee, ...] = tuple(employees)
        self.version = version
        self.by_id = {e.id: e for e in self.employees}
        self.by_email = {e.email.lower(): e for e in self.employees if e.email}

    @cached_property
    def resolver(self) -> NameResolver:
        """The name index, built on first use."""
        return NameResolver(self.employees)

    @cached_property
    def by_department(self) -> dict[str, tuple[Employee, ...]]:
        """Active employees per department, built once per directory version."""
        out: dict[str, list[Employee]] = {}
        for e in self.employees:
            if e.active and e.department:
                out.setdefault(e.department, []).append(e)
        return {dept: tuple(people) for dept, people in out.items()}

    @cached_property
    def _department_phrases(self) -> list[tuple[str, str]]:
        phrases: dict[str, str] = {}
        for dept in {e.department for e in self.employees if e.department}:
            key = fold(dept)
            phrases[key] = dept
            for alias in DEPARTMENT_ALIASES.get(key, ()):
                phrases.setdefault(fold(alias), dept)
        # Longest first, so "customer success" wins over "success".
        return sorted(phrases.items(), key=lambda kv: -len(kv[0]))

    def departments_in(self, text: str) -> list[str]:
        """Departments named in ``text`` ("the one in HR" -> ["Human Resources"])."""
        padded = f" {fold(text)} "
        found: list[str] = []
        for phrase, dept in self._department_phrases:
            if f" {phrase} " in padded and dept not in found:
                found.append(dept)
                padded = padded.replace(f" {phrase} ", " | ")
        return found

    def strip_departments(self, text: str) -> str:
        """``text`` without department mentions and the words that introduce them."""
        out = f" {fold(text)} "
        for phrase, _dept in self._department_phrases:
            out = re.sub(
                rf"\b(?:(?:who|that|she|he)\s+(?:works|is)\s+)?(?:in|from|at|of|de|en|del)?"
                rf"\s*(?:the\s+)?{re.escape(phrase)}(?:\s+(?:department|team|dept))?\b",
                " ", out,
            )
        return " ".join(out.split())

    def is_contact(self, text: str) -> bool:
        """True when ``text`` is a directory email, or a phone number's last seven digits."""
        digits = re.sub(r"\D", "", text)
        return text.lower() in self._contacts or (
            len(digits) >= 7 and digits[-7:] in self._contacts
        )

    @cached_property
    def _contacts(self) -> frozenset[str]:
        # Built once per directory version; lookups are set membership, not scans.
        out: set[str] = set()
        for e in self.employees:
            if e.email:
                out.add(e.email.lower())
            digits = re.sub(r"\D", "", e.phone)
            if len(digits) >= 7:
                out.add(digits[-7:])
        return frozenset(out)


class DirectoryCache:
    """Hands out the current ``Directory``, rebuilding it when the database version changes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._current: Directory | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Directory:
        """The directory for the current version (one cheap query when nothing changed)."""
        async with self._sessions() as session:
            version = await directory_version(session=session)
        if self._current is not None and self._current.version == version:
            return self._current
        async with self._lock:
            if self._current is None or self._current.version != version:
                async with self._sessions() as session:
                    employees = await load_employees(session=session)
                directory = Directory(employees, version)
                # Building the index is CPU work; keep the event loop free meanwhile.
                await asyncio.to_thread(lambda: directory.resolver)
                self._current = directory
        return self._current
