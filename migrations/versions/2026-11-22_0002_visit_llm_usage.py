"""visit llm usage: token counts and cost of the language model, per visit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00

Written by hand from the model (``checkin.visits.Visit.llm_*``):
- the integer columns are NOT NULL with a server default of 0, so rows of visits made before
  this revision (all handled by the rules engine) read as "no model calls, no cost";
- cost is integer micro-dollars (``llm_cost_usd_micros``) so sums in ``/health`` stay exact
  on both dialects;
- batch mode, so SQLite can drop the columns again in ``downgrade``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("llm_requests", "llm_input_tokens", "llm_output_tokens", "llm_cost_usd_micros")


def upgrade() -> None:
    """Add the model name and the usage counters to ``visits``."""
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("llm_model", sa.String(length=64), nullable=True))
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False,
                                       server_default=sa.text("0")))


def downgrade() -> None:
    """Drop the usage columns (the counts are lost; visits keep everything else)."""
    with op.batch_alter_table("visits") as batch:
        for name in reversed(COUNTERS):
            batch.drop_column(name)
        batch.drop_column("llm_model")
