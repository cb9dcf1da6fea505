"""The gateway's database: SQLAlchemy 2 (async), migrated by Alembic at start-up."""

from gateway.store.database import Database, StoreUnavailable

__all__ = ["Database", "StoreUnavailable"]
