"""editorial: unpublished items, digest choices, pins, edited titles, paused publications

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:20:00

What the editor's console (issue 14) keeps: an item's digest choice (include | exclude),
the time its front-page pin ends, its original title and summary when an editor rewrote
them; a publication's pause and removal; channel settings changed from the console; and
the sponsor's daily impressions and clicks per width band. (Unpublishing is an item state,
``unpublished``: the column exists already.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsline.db.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    stamp = newsline.db.models.UTCDateTime()
    # Plain ADD COLUMNs: a batch (table copy) would drop the FTS triggers on item.
    op.add_column("item", sa.Column("digest_choice", sa.String(length=8), nullable=True))
    op.add_column("item", sa.Column("pinned_until", stamp, nullable=True))
    op.add_column("item", sa.Column("original_title", sa.String(length=1000), nullable=True))
    op.add_column("item", sa.Column("original_summary", sa.Text(), nullable=True))
    op.add_column("item", sa.Column("edited_at", stamp, nullable=True))
    op.create_index("ix_item_pinned_until", "item", ["pinned_until"], unique=False)
    op.add_column("publication", sa.Column("paused_at", stamp, nullable=True))
    op.add_column("publication", sa.Column("removed_at", stamp, nullable=True))
    op.create_table(
        "channel_setting",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_channel_setting_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "key", name=op.f("pk_channel_setting")),
    )
    op.create_table(
        "sponsor_stat",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_sponsor_stat_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "day", "band", name=op.f("pk_sponsor_stat")),
    )


def downgrade() -> None:
    op.drop_table("sponsor_stat")
    op.drop_table("channel_setting")
    op.drop_index("ix_item_pinned_until", table_name="item")
    # Plain DROP COLUMNs (SQLite >= 3.35 too): they keep the FTS triggers on item.
    for table, column in (
        ("publication", "removed_at"),
        ("publication", "paused_at"),
        ("item", "edited_at"),
        ("item", "original_summary"),
        ("item", "original_title"),
        ("item", "pinned_until"),
        ("item", "digest_choice"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
