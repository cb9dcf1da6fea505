"""The message log: records chain by hash; editing or deleting any record is found and named."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, update

from gateway.audit.message_log import MessageLog, digest_of, export, verify
from gateway.runtime.config import DatabaseSettings
from gateway.store import Database
from gateway.store.tables import MessageLogRecord

from .conftest import StartGateway, submitted_event, wait_for


@pytest.fixture
async def database(database_settings: DatabaseSettings):
    database = Database(database_settings)
    await database.start()
    yield database
    await database.close()


async def write_records(database: Database, count: int, chains: int = 2) -> None:
    logs = [MessageLog(database) for _ in range(chains)]
    for log in logs:
        await log.start()
    for number in range(count):
        await logs[number % chains].record(direction="out", channel="http", partner="webhook",
                                           message_id=f"m-{number}", dossier_code=f"D-{number % 3}",
                                           payload=f"payload {number}".encode(), outcome="201 Created")
    for log in logs:
        await log.stop()


async def test_an_untouched_log_verifies(database: Database) -> None:
    await write_records(database, 10)
    result = await verify(database)
    assert result.intact and result.records == 10 and result.chains == 2
    records = await export(database, "D-1")
    assert [record["message_id"] for record in records] == ["m-1", "m-4", "m-7"]
    assert records[0]["digest"] == digest_of(b"payload 1")


@pytest.mark.parametrize("record_id", [1, 5, 9])
async def test_an_edited_record_is_named(database: Database, record_id: int) -> None:
    await write_records(database, 10)
    async with database.transaction() as session:
        await session.execute(update(MessageLogRecord).where(MessageLogRecord.id == record_id)
                              .values(outcome="200 OK"))
    result = await verify(database)
    assert not result.intact and result.broken_record == record_id
    assert f"record {record_id} was changed" in result.problem


async def test_a_deleted_record_is_found(database: Database) -> None:
    await write_records(database, 10)
    async with database.transaction() as session:
        await session.execute(delete(MessageLogRecord).where(MessageLogRecord.id == 5))
    result = await verify(database)
    assert not result.intact and "after record 3" in result.problem and "before record 7" in result.problem


async def test_deleting_the_newest_record_is_found(database: Database) -> None:
    await write_records(database, 10)
    async with database.transaction() as session:
        await session.execute(delete(MessageLogRecord).where(MessageLogRecord.id == 10))
    result = await verify(database)
    assert not result.intact and result.broken_record == 10 and "last of chain" in result.problem


async def test_gateway_traffic_is_logged_and_the_cli_verifies(start_gateway: StartGateway, tmp_path: Path) -> None:
    db_file = tmp_path / "audited.db"
    gateway = await start_gateway(database={"url": f"sqlite+aiosqlite:///{db_file}"})
    code = "000.00.15.H12-261122-0777"
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        assert (await client.post("/api/v1/dossiers/events", json=submitted_event(code))).status_code == 202
        await wait_for(lambda: _logged(client, code, 3), what="intake, acknowledgement and webhook records")
        records = (await client.get(f"/api/v1/audit/dossiers/{code}")).json()
        assert (await client.get("/api/v1/audit/verify")).json()["intact"] is True
    assert {(r["direction"], r["channel"], r["partner"]) for r in records} >= {
        ("in", "http", "onegate"), ("out", "kafka", "onegate"), ("out", "http", "webhook")}
    await gateway.stop()

    config = tmp_path / "gateway.yaml"
    config.write_text(f"database:\n  url: sqlite+aiosqlite:///{db_file}\n")
    ok = _cli(tmp_path, "audit", "verify", "--config", str(config))
    assert ok.returncode == 0 and "message log intact" in ok.stdout
    exported = json.loads(_cli(tmp_path, "audit", "export", "--dossier", code, "--config", str(config)).stdout)
    assert len(exported) >= 3
    tampered = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{db_file}"))
    await tampered.start()
    async with tampered.transaction() as session:
        await session.execute(update(MessageLogRecord).where(MessageLogRecord.id == exported[0]["id"])
                              .values(dossier_code="000.00.15.H12-261122-0778"))
    await tampered.close()
    broken = _cli(tmp_path, "audit", "verify", "--config", str(config))
    assert broken.returncode == 1 and f"record {exported[0]['id']} was changed" in broken.stderr


async def _logged(client: httpx.AsyncClient, code: str, count: int) -> bool:
    return len((await client.get(f"/api/v1/audit/dossiers/{code}")).json()) >= count


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
