"""staff and audit: staff accounts, API tokens, sign-in sessions, the audit trail, check-out.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 18:00:00

Written by hand from the models (``checkin.staff``, ``checkin.visits.Visit.checked_out_*``):
- tokens and session cookies are stored as SHA-256 digests only;
- ``audit_records`` has no foreign key to ``staff_users`` on purpose: removing an account
  must not remove or alter what it did;
- the check-out columns are added in batch mode so SQLite can drop them in ``downgrade``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the staff and audit tables; add check-out to visits."""
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_sign_in_at", UTC_TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "staff_api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_used_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_staff_api_tokens_user_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_api_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_staff_api_tokens_digest")),
    )
    op.create_index(op.f("ix_staff_api_tokens_user_id"), "staff_api_tokens", ["user_id"])
    op.create_table(
        "staff_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("expires_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_staff_sessions_user_id_staff_users")),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_staff_sessions")),
    )
    op.create_index(op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"])
    op.create_index(op.f("ix_staff_sessions_expires_at"), "staff_sessions", ["expires_at"])
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    op.create_index(op.f("ix_audit_records_at"), "audit_records", ["at"])
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("checked_out_at", UTC_TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("checked_out_by", sa.String(length=254), nullable=True))


def downgrade() -> None:
    """Drop the staff and audit tables (accounts and the audit trail are lost) and check-out."""
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("checked_out_by")
        batch.drop_column("checked_out_at")
    op.drop_index(op.f("ix_audit_records_at"), table_name="audit_records")
    op.drop_table("audit_records")
    op.drop_index(op.f("ix_staff_sessions_expires_at"), table_name="staff_sessions")
    op.drop_index(op.f("ix_staff_sessions_user_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index(op.f("ix_staff_api_tokens_user_id"), table_name="staff_api_tokens")
    op.drop_table("staff_api_tokens")
    op.drop_table("staff_users")
