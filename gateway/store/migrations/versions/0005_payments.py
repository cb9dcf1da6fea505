"""Fee payments at providers, and the signatures of webhook requests already taken (replays).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("reference", sa.String(40), primary_key=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=False),
        sa.Column("step_key", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fees", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("pay_url", sa.Text),
        sa.Column("pay_code", sa.String(100)),
        sa.Column("transaction_id", sa.String(100)),
        sa.Column("paid_amount", sa.BigInteger),
        sa.Column("paid_currency", sa.String(3)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("settled_via", sa.String(20)),
        sa.Column("receipt_number", sa.String(100)),
        sa.Column("receipt_url", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queried_at", sa.DateTime(timezone=True)),
    )
    for column in ("provider", "dossier_code", "state", "paid_at", "created_at"):
        op.create_index(f"ix_payments_{column}", "payments", [column])
    op.create_table(
        "webhook_signatures",
        sa.Column("partner", sa.String(100), primary_key=True),
        sa.Column("signature", sa.String(128), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_signatures_seen_at", "webhook_signatures", ["seen_at"])


def downgrade() -> None:
    op.drop_table("webhook_signatures")
    for column in ("provider", "dossier_code", "state", "paid_at", "created_at"):
        op.drop_index(f"ix_payments_{column}", "payments")
    op.drop_table("payments")
