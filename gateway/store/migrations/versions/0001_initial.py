"""Dossier ledger, processed messages and flow counters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dossiers",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("procedure_code", sa.String(100)),
        sa.Column("agency_code", sa.String(100)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("status_sequence", sa.Integer, nullable=False),
        sa.Column("events_seen", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("message_id", sa.String(100), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "flow_counters",
        sa.Column("flow", sa.String(100), primary_key=True),
        sa.Column("outcome", sa.String(50), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flow_counters")
    op.drop_table("processed_messages")
    op.drop_table("dossiers")
