"""access: token roles and teams, people by OIDC subject, web sessions, a fuller audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ROLES = ("viewer", "deployer", "admin")


def _role(name: str) -> sa.Enum:
    return sa.Enum(*_ROLES, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=512), nullable=True))
        batch.create_unique_constraint(batch.f("uq_users_subject"), ["subject"])
    with op.batch_alter_table("api_tokens") as batch:
        # Every token issued before roles existed was the admin's.
        batch.add_column(
            sa.Column("role", _role("token_role"), nullable=False, server_default="admin")
        )
        batch.add_column(sa.Column("teams", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_api_tokens_created_by_id_users"), "users", ["created_by_id"], ["id"]
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("role", server_default=None)
        batch.alter_column("teams", server_default=None)
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("component", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("result", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_audit_records_actor"), ["actor"], unique=False)
        batch.create_index(batch.f("ix_audit_records_component"), ["component"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("role", _role("session_role"), nullable=False),
        sa.Column("teams", JSON, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_web_sessions_token_id_api_tokens")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_sessions_session_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_index(batch.f("ix_audit_records_component"))
        batch.drop_index(batch.f("ix_audit_records_actor"))
        for column in ("status_code", "result", "address", "component", "actor"):
            batch.drop_column(column)
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(batch.f("fk_api_tokens_created_by_id_users"), type_="foreignkey")
        for column in ("created_by_id", "teams", "role"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("uq_users_subject"), type_="unique")
        batch.drop_column("subject")
