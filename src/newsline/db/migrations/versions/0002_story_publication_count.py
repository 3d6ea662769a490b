"""story.source_count is story.publication_count: one word for a publication

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("story") as batch:
        batch.alter_column("source_count", new_column_name="publication_count")


def downgrade() -> None:
    with op.batch_alter_table("story") as batch:
        batch.alter_column("publication_count", new_column_name="source_count")
