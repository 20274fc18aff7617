"""Value types for directory entries; pure data, no I/O and no imports from the rest of checkin."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Employee:
    """One person in the directory, as the resolver and the tools see them."""

    id: str
    first_name: str
    last_name: str
    department: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    slack_id: str = ""
    active: bool = True
    aliases: tuple[str, ...] = ()
    # Who hears about a visitor when this person does not answer: another employee's id
    # (notified like a host), else a Slack channel id for their team.
    assistant_id: str = ""
    team_channel: str = ""

    @property
    def full_name(self) -> str:
        """First and last name joined by one space."""
        return f"{self.first_name} {self.last_name}".strip()
