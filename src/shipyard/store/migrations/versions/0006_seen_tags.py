"""the tags triggers requested, shared by every host (was <data-dir>/local/seen-tags.json)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table: a server of the previous version keeps its file and never reads it.
    op.create_table(
        "seen_tags",
        sa.Column("component", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("component", "tag", name=op.f("pk_seen_tags")),
    )


def downgrade() -> None:
    op.drop_table("seen_tags")
