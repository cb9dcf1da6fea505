"""Postal shipments (pick-up of dossiers, return of results) and their tracking events.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXED = ("carrier", "dossier_code", "state", "counted_in")


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("carrier", sa.String(100), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("agency_code", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("tracking_number", sa.String(40)),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("cod_vnd", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("fee_vnd", sa.BigInteger),
        sa.Column("status_code", sa.String(20)),
        sa.Column("state_at", sa.DateTime(timezone=True)),
        sa.Column("detail", sa.Text),
        sa.Column("counted_in", sa.String(7)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("carrier", "dossier_code", "kind"),
        sa.UniqueConstraint("carrier", "tracking_number"),
    )
    for column in INDEXED:
        op.create_index(f"ix_shipments_{column}", "shipments", [column])
    op.create_table(
        "shipment_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("shipment_id", sa.Integer, nullable=False),
        sa.Column("status_code", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20)),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("location", sa.String(300)),
        sa.Column("reason", sa.Text),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("shipment_id", "status_code", "occurred_at"),
    )
    op.create_index("ix_shipment_events_shipment_id", "shipment_events", ["shipment_id"])


def downgrade() -> None:
    op.drop_index("ix_shipment_events_shipment_id", "shipment_events")
    op.drop_table("shipment_events")
    for column in INDEXED:
        op.drop_index(f"ix_shipments_{column}", "shipments")
    op.drop_table("shipments")
