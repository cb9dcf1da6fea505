"""What the gateway last told each partner about each dossier (national portal drift checks).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_dossiers",
        sa.Column("partner", sa.String(100), primary_key=True),
        sa.Column("dossier_code", sa.String(64), primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("status_sequence", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("sent_dossier", sa.Text),
        sa.Column("sent_step", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_partner_dossiers_updated_at", "partner_dossiers", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_partner_dossiers_updated_at", "partner_dossiers")
    op.drop_table("partner_dossiers")
