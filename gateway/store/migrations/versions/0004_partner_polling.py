"""When the gateway last asked a partner about a dossier: polling rounds take the least recently
asked first and claim what they ask, so several workers never ask the same dossier at once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("partner_dossiers", sa.Column("polled_at", sa.DateTime(timezone=True)))
    op.create_index("ix_partner_dossiers_polling", "partner_dossiers", ["partner", "polled_at"])


def downgrade() -> None:
    op.drop_index("ix_partner_dossiers_polling", "partner_dossiers")
    op.drop_column("partner_dossiers", "polled_at")
