"""Connection to the gateway's database, and the migrations that shape it."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from gateway.runtime.config import DatabaseSettings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x6761_7465_7761_79  # "gateway": the advisory lock that serialises migrations


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or used: an infrastructure failure, never a business outcome."""


class Database:
    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreUnavailable("the database is not started")
        return self._engine

    async def start(self) -> None:
        """Connect and bring the schema to the newest migration."""
        self._engine = _create_engine(self.settings)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        try:
            async with self._engine.begin() as connection:
                if not self.settings.is_sqlite:
                    # Several gateway processes may start at once; one migrates, the others wait.
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                    if self.settings.schema_name:
                        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.settings.schema_name}"'))
                await connection.run_sync(_upgrade_to_head)
        except (SQLAlchemyError, OSError) as error:
            await self.close()
            raise StoreUnavailable(f"cannot prepare the database at {self.display_url}: {error}") from error
        log.info("database ready at %s", self.display_url)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed when the block ends without an error."""
        if self._sessions is None:
            raise StoreUnavailable("the database is not started")
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as error:
            raise StoreUnavailable(str(error)) from error

    @property
    def display_url(self) -> str:
        return make_url(self.settings.url).render_as_string(hide_password=True)


def _create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = make_url(settings.url)
    if settings.password_env:
        url = url.set(password=os.environ.get(settings.password_env, ""))
    if settings.is_sqlite:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer at a time anyway, and waiting in the pool's
        # queue is fair and quick where SQLite's own busy handler sleeps in long steps.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {}
    if settings.schema_name:
        connect_args["server_settings"] = {"search_path": settings.schema_name}
    return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers work while a writer writes; the busy timeout waits for the lock of
    # another process; synchronous=NORMAL is what WAL is designed to run with.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes; a power cut may lose the last commits
    cursor.close()


def _upgrade_to_head(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
