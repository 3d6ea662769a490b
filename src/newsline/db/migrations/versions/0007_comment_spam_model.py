"""comments: the per-channel spam model and what each comment taught it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spam_feature",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("spam", sa.Integer(), nullable=False),
        sa.Column("ham", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_spam_feature_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "bucket", name=op.f("pk_spam_feature")),
    )
    op.add_column("comment", sa.Column("trained", sa.String(length=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comment") as batch:
        batch.drop_column("trained")
    op.drop_table("spam_feature")
