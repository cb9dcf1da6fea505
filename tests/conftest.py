"""Shared fixtures: real embedded broker, real databases (SQLite file and PostgreSQL), real HTTP."""

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.connectors.webhook.simulator import WebhookReceiver
from gateway.domain import Applicant, Dossier, DossierSubmitted
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import DatabaseSettings, Settings
from gateway.runtime.roles import all_roles

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set their settings explicitly; a developer's GATEWAY_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_") and name != "GATEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


def _postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


def require_postgres() -> None:
    if _postgres_answers():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL does not answer on 127.0.0.1:5432; CI must run the store tests on it")
    pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseSettings]:
    """A fresh, empty database of each kind the gateway supports."""
    if request.param == "sqlite":
        yield DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
        return
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield DatabaseSettings(url=POSTGRES_URL, schema_name=schema)
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    """Start gateways (embedded broker unless kafka.bootstrap is given) and stop them after the test."""
    started: list[Gateway] = []

    async def start(plan: Plan | None = None, **settings: Any) -> Gateway:
        settings.setdefault("http", {"port": 0})
        # Tests of the flows call the operator API without signing in; the access tests set "none".
        settings.setdefault("console", {"anonymous_role": "operator"})
        settings.setdefault("database", {"url": f"sqlite+aiosqlite:///{tmp_path}/gateway-{len(started)}.db"})
        gateway = Gateway(Settings(**settings), plan or Plan(roles=list(all_roles().values())))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        await gateway.stop()


@pytest.fixture
async def receiver():
    """The one-stop system's webhook, played by its simulator on a loopback port."""
    simulator = WebhookReceiver()
    await simulator.start()
    yield simulator
    await simulator.stop()


def sample_dossier(code: str = "000.00.15.H12-261122-0001", **changes: Any) -> Dossier:
    fields: dict[str, Any] = {
        "code": code,
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "agency_code": "000.00.15.H12",
        "applicant": Applicant(full_name="Nguyễn Thị Lan", id_number="046190000123", phone="0912345678"),
        "received_at": datetime(2026, 11, 22, 8, 30, tzinfo=UTC),
    }
    fields.update(changes)
    return Dossier(**fields)


def submitted_event(code: str = "000.00.15.H12-261122-0001") -> dict[str, Any]:
    return DossierSubmitted(dossier=sample_dossier(code)).model_dump(mode="json")


async def read_topic(bootstrap: str, topic: str, count: int, timeout_s: float = 15.0) -> list:
    """Read the first `count` records of `topic` with a plain aiokafka consumer: no group, no gateway code."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata that partitions_for_topic reads
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def topic_size(bootstrap: str, topic: str) -> int:
    """How many records the topic holds (sum of end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
