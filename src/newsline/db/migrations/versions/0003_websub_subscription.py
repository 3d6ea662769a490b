"""websub_subscription: a feed's WebSub subscription at the hub it advertises

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsline.db.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = newsline.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "websub_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("hub", sa.String(length=2000), nullable=False),
        sa.Column("topic", sa.String(length=2000), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pending_mode", sa.String(length=12), nullable=True),
        sa.Column("requested_at", _WHEN, nullable=True),
        sa.Column("verified_at", _WHEN, nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("lease_expires_at", _WHEN, nullable=True),
        sa.Column("next_attempt_at", _WHEN, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("rejected_deliveries", sa.Integer(), nullable=False),
        sa.Column("last_delivery_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feed.id"],
            name=op.f("fk_websub_subscription_feed_id_feed"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_subscription")),
        sa.UniqueConstraint("feed_id", name=op.f("uq_websub_subscription_feed_id")),
        sa.UniqueConstraint("key", name=op.f("uq_websub_subscription_key")),
    )


def downgrade() -> None:
    op.drop_table("websub_subscription")
