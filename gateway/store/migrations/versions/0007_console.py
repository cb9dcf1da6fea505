"""The operator console: per-minute flow figures, users and their sessions, operator actions,
partner health, discarded dead letters, and what the ledger keeps for deadlines and the
monthly report.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LEDGER_COLUMNS = (
    ("received_at", sa.DateTime(timezone=True)),
    ("due_at", sa.DateTime(timezone=True)),
    ("channel", sa.String(30)),
    ("fee_charging", sa.Boolean),
    ("citizen_key", sa.String(64)),
    ("citizen_masked", sa.String(20)),
    ("decided_at", sa.DateTime(timezone=True)),
    ("returned_at", sa.DateTime(timezone=True)),
)
DISCARD_COLUMNS = (
    ("discarded_at", sa.DateTime(timezone=True)),
    ("discarded_by", sa.String(100)),
    ("discard_reason", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as table:
        for name, kind in LEDGER_COLUMNS:
            table.add_column(sa.Column(name, kind))
    op.create_index("ix_dossiers_received_at", "dossiers", ["received_at"])
    op.create_index("ix_dossiers_citizen_key", "dossiers", ["citizen_key"])
    with op.batch_alter_table("dead_letters") as table:
        for name, kind in DISCARD_COLUMNS:
            table.add_column(sa.Column(name, kind))
    op.create_table(
        "flow_directions",
        sa.Column("flow", sa.String(100), primary_key=True),
        sa.Column("direction", sa.String(3), nullable=False),
    )
    op.create_table(
        "flow_subscriptions",
        sa.Column("group_id", sa.String(200), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("flow", sa.String(100), nullable=False),
    )
    op.create_table(
        "flow_minutes",
        sa.Column("flow", sa.String(100), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("measure", sa.String(50), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_flow_minutes_minute", "flow_minutes", ["minute"])
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "console_credentials",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("csrf_token", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_console_credentials_user_name", "console_credentials", ["user_name"])
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_operator_actions_at", "operator_actions", ["at"])
    op.create_table(
        "partner_health",
        sa.Column("partner", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True)),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("partner_health", "operator_actions", "console_credentials", "console_users", "flow_minutes", "flow_subscriptions",
                  "flow_directions"):
        op.drop_table(table)
    with op.batch_alter_table("dead_letters") as table:
        for name, _ in DISCARD_COLUMNS:
            table.drop_column(name)
    op.drop_index("ix_dossiers_citizen_key", "dossiers")
    op.drop_index("ix_dossiers_received_at", "dossiers")
    with op.batch_alter_table("dossiers") as table:
        for name, _ in LEDGER_COLUMNS:
            table.drop_column(name)
