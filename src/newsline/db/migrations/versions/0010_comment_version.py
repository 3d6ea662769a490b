"""comment version: the item's comment section version and changed-at stamp

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsline.db.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch (table copy) would drop the FTS triggers on item.
    op.add_column(
        "item", sa.Column("comment_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "item",
        sa.Column(
            "comments_changed_at", newsline.db.models.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE item DROP COLUMN comments_changed_at")  # keeps the FTS triggers
    op.execute("ALTER TABLE item DROP COLUMN comment_version")
