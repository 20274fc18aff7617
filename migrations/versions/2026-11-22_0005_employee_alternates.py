"""employee alternates: who hears about a visitor when the host does not answer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 20:00:00

Two optional columns on ``employees`` (``checkin.directory.store.EmployeeRow``):
``assistant_id`` (another employee's id; no foreign key, because a directory import writes
rows in any order and a person who left keeps their row) and ``team_channel`` (a Slack
channel id). Empty string, not NULL, means "none", like the other directory text columns;
the server default fills existing rows. Batch mode so SQLite can drop them in ``downgrade``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``assistant_id`` and ``team_channel`` to employees."""
    with op.batch_alter_table("employees") as batch:
        batch.add_column(sa.Column("assistant_id", sa.String(length=64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("team_channel", sa.String(length=40), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    """Drop the alternates (the directory file still has them: re-import after upgrading)."""
    with op.batch_alter_table("employees") as batch:
        batch.drop_column("team_channel")
        batch.drop_column("assistant_id")
