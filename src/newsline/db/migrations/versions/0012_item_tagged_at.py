"""item.tagged_at: hashtags and summary written, by a tagging unit that several workers run
at once (distributed mode); near-duplicates and stories stay one ordered stream

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsline.db.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "item",
        sa.Column("tagged_at", newsline.db.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("tagged_at")
