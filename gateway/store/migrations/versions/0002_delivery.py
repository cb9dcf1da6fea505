"""Delivery guarantees: parked messages, dead letters and replays, partner calls, message log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked_messages",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("connector", "message_id", name="uq_parked_connector_message"),
    )
    op.create_index("ix_parked_connector_dossier", "parked_messages", ["connector", "dossier_code", "seq"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(100), nullable=False, index=True),
        sa.Column("dossier_code", sa.String(64), nullable=False, index=True),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("source_topic", sa.String(200), nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error_class", sa.String(200), nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("key", sa.String(200)),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replay_count", sa.Integer, nullable=False),
        sa.Column("last_replayed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "dead_letter_replays",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dead_letter_id", sa.Integer, nullable=False, index=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "partner_calls",
        sa.Column("partner", sa.String(100), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "message_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.String(40), nullable=False, index=True),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("partner", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=False, index=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "message_log_chains",
        sa.Column("chain_id", sa.String(40), primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("message_log_chains", "message_log", "partner_calls", "dead_letter_replays", "dead_letters"):
        op.drop_table(table)
    op.drop_index("ix_parked_connector_dossier", "parked_messages")
    op.drop_table("parked_messages")
