"""The store on SQLite and PostgreSQL: migrations, idempotent claims, flow counters."""

import asyncio

import pytest
from sqlalchemy import inspect

from gateway.ops import flow_counters
from gateway.ops.flow_counters import FlowCounters
from gateway.reliability.idempotency import claim_message
from gateway.runtime.config import DatabaseSettings
from gateway.store import Database, StoreUnavailable


async def test_migrations_create_the_schema_and_can_run_again(database_settings: DatabaseSettings) -> None:
    database = Database(database_settings)
    await database.start()
    try:
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"dossiers", "processed_messages", "flow_counters", "alembic_version"} <= tables
    finally:
        await database.close()
    again = Database(database_settings)
    await again.start()  # already at head: nothing to do, no error
    await again.close()


async def test_a_message_is_claimed_once_per_consumer(database_settings: DatabaseSettings) -> None:
    database = Database(database_settings)
    await database.start()
    try:
        async with database.transaction() as session:
            assert await claim_message(session, "ledger", "m-1")
            assert not await claim_message(session, "ledger", "m-1")
            assert await claim_message(session, "national_portal", "m-1")
        async with database.transaction() as session:
            assert not await claim_message(session, "ledger", "m-1")
    finally:
        await database.close()


async def test_a_claim_rolls_back_with_failed_work(database_settings: DatabaseSettings) -> None:
    database = Database(database_settings)
    await database.start()
    try:
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                assert await claim_message(session, "ledger", "m-2")
                raise RuntimeError("the work failed")
        async with database.transaction() as session:
            assert await claim_message(session, "ledger", "m-2")
    finally:
        await database.close()


async def test_flow_counters_add_up_across_processes(database_settings: DatabaseSettings) -> None:
    database = Database(database_settings)
    await database.start()
    try:
        first, second = FlowCounters(database), FlowCounters(database)  # as two worker processes would
        first.add("intake", "delivered")
        first.add("intake", "delivered", 4)
        second.add("intake", "delivered")
        second.add("ledger", "duplicates")
        assert (await first.read())["intake"]["delivered"] == 5, "a process sees its own unwritten counts"
        await first.flush()
        await second.stop()  # stopping writes what is pending
        totals = await FlowCounters(database).read()
        assert totals["intake"]["delivered"] == 6
        assert totals["intake"]["dead_lettered"] == 0
        assert totals["ledger"]["duplicates"] == 1
    finally:
        await database.close()


async def test_a_read_while_figures_are_being_written_still_sees_them(
        database_settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush takes the pending figures before its transaction commits; a reader in that gap
    must neither miss them nor count them twice (seen in CI: a refusal counted, then absent)."""
    database = Database(database_settings)
    await database.start()
    try:
        counters = FlowCounters(database)
        counters.add("payments.bank", "bad_signature", 3)
        writing, release = asyncio.Event(), asyncio.Event()
        real_add = flow_counters._add

        async def held_add(*args) -> None:
            await real_add(*args)
            writing.set()
            await release.wait()  # the figures are written, not yet committed

        monkeypatch.setattr(flow_counters, "_add", held_add)
        flush = asyncio.create_task(counters.flush())
        await writing.wait()
        reads = [asyncio.create_task(counters.read()) for _ in range(2)]
        await asyncio.sleep(0.2)  # let the readers run as far as they can
        release.set()
        await flush
        assert [(await read)["payments.bank"]["bad_signature"] for read in reads] == [3, 3]
        assert (await counters.read())["payments.bank"]["bad_signature"] == 3
    finally:
        await database.close()


async def test_flow_counters_keep_counts_while_the_database_is_away(tmp_path) -> None:
    database = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/gateway.db"))
    await database.start()
    counters = FlowCounters(database)
    counters.add("intake", "delivered", 3)
    await database.close()
    await counters.flush()  # fails and keeps the figures
    await database.start()
    await counters.flush()
    assert (await FlowCounters(database).read())["intake"]["delivered"] == 3
    await database.close()


async def test_unreachable_database_is_a_clear_error() -> None:
    database = Database(DatabaseSettings(url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    with pytest.raises(StoreUnavailable, match="cannot prepare the database at postgresql"):
        await database.start()
