"""Append-only message log in the spirit of X-Road: every message in or out of the gateway is
recorded with a SHA-256 digest of its payload; each record carries the hash of the record
before it in its chain, so editing or deleting a record breaks the chain at that point.

Each writer process keeps its own chain (no lock shared between workers). Records are written
in groups: everything waiting when the writer is free goes in one transaction, and `record`
returns only once its record is committed.
"""

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select

from gateway.store.database import Database
from gateway.store.tables import MessageLogChain, MessageLogRecord
from gateway.store.upsert import insert_for

log = logging.getLogger(__name__)

Direction = Literal["in", "out"]
HASHED_FIELDS = ("chain_id", "recorded_at", "direction", "channel", "partner", "message_id", "dossier_code",
                 "digest", "outcome", "prev_hash")


def digest_of(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def genesis_hash(chain_id: str) -> str:
    return hashlib.sha256(f"genesis:{chain_id}".encode()).hexdigest()


def record_hash(fields: dict[str, str]) -> str:
    canonical = json.dumps([fields[name] for name in HASHED_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class MessageLog:
    """The writer of one chain."""

    def __init__(self, database: Database, chain_id: str | None = None) -> None:
        self.database = database
        self.chain_id = chain_id or uuid.uuid4().hex
        self._head = genesis_hash(self.chain_id)
        self._pending: list[tuple[dict[str, str], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._closing = False
        self._one_writer = asyncio.Lock()  # two batches written at once would fork the chain

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="message-log")

    async def stop(self) -> None:
        """Write what is waiting, then stop (never cut a batch off in the middle)."""
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None
        await self._write_pending()

    async def record(
        self, *, direction: Direction, channel: str, partner: str, message_id: str, dossier_code: str,
        payload: bytes, outcome: str,
    ) -> None:
        """Record one message; returns once the record is committed (raises if it cannot be)."""
        fields = {"direction": direction, "channel": channel, "partner": partner, "message_id": message_id,
                  "dossier_code": dossier_code, "digest": digest_of(payload), "outcome": outcome[:200]}
        written = asyncio.get_running_loop().create_future()
        self._pending.append((fields, written))
        self._wake.set()
        if self._writer is None:  # not started (a tool, a test): write now
            await self._write_pending()
        await written

    async def _write_forever(self) -> None:
        while not (self._closing and not self._pending):
            await self._wake.wait()
            self._wake.clear()
            await self._write_pending()

    async def _write_pending(self) -> None:
        async with self._one_writer:
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[dict[str, str], asyncio.Future]]) -> None:
        head = self._head
        try:
            async with self.database.transaction() as session:
                last_id = 0
                for fields, _ in batch:
                    record = {**fields, "chain_id": self.chain_id, "recorded_at": datetime.now(UTC).isoformat(),
                              "prev_hash": head}
                    record["hash"] = head = record_hash(record)
                    row = MessageLogRecord(**record)
                    session.add(row)
                    await session.flush()
                    last_id = row.id
                statement = insert_for(session, MessageLogChain.__table__).values(
                    chain_id=self.chain_id, last_id=last_id, last_hash=head)
                await session.execute(statement.on_conflict_do_update(
                    index_elements=["chain_id"], set_={"last_id": last_id, "last_hash": head}))
        except BaseException as error:  # noqa: BLE001 - every waiting caller learns of it
            for _, written in batch:
                if not written.done():
                    written.set_exception(error if isinstance(error, Exception) else RuntimeError(repr(error)))
            if not isinstance(error, Exception):
                raise
            return
        self._head = head
        for _, written in batch:
            if not written.done():
                written.set_result(None)


@dataclass(frozen=True)
class Verification:
    records: int
    chains: int
    broken_record: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return not self.problem


async def verify(database: Database) -> Verification:
    """Walk every chain; name the first record that does not hold."""
    # Heads first, then only the records they cover: a batch written meanwhile (by a running
    # gateway) is not mistaken for tampering.
    async with database.transaction() as session:
        heads = {chain.chain_id: chain for chain in (await session.scalars(select(MessageLogChain))).all()}
    newest = max((head.last_id for head in heads.values()), default=0)
    async with database.transaction() as session:
        records = [record for record in (await session.scalars(
            select(MessageLogRecord).where(MessageLogRecord.id <= newest).order_by(MessageLogRecord.id))).all()
            if record.chain_id not in heads or record.id <= heads[record.chain_id].last_id]
    expected: dict[str, str] = {}
    last_seen: dict[str, MessageLogRecord] = {}
    for record in records:
        fields = {name: getattr(record, name) for name in HASHED_FIELDS}
        prev = expected.get(record.chain_id, genesis_hash(record.chain_id))
        if record.prev_hash != prev:
            before = last_seen.get(record.chain_id)
            after = f"after record {before.id}" if before else "at the start of the chain"
            return Verification(len(records), len(heads), record.id,
                                f"chain {record.chain_id} is broken before record {record.id}: the record {after} "
                                f"was removed or changed")
        if record_hash(fields) != record.hash:
            return Verification(len(records), len(heads), record.id,
                                f"record {record.id} was changed after it was written (its hash does not match)")
        expected[record.chain_id] = record.hash
        last_seen[record.chain_id] = record
    for chain_id, head in heads.items():
        last = last_seen.get(chain_id)
        if last is None or last.id != head.last_id or last.hash != head.last_hash:
            return Verification(len(records), len(heads), head.last_id,
                                f"record {head.last_id}, the last of chain {chain_id}, is missing or changed")
    for chain_id in last_seen.keys() - heads.keys():
        return Verification(len(records), len(heads), last_seen[chain_id].id, f"chain {chain_id} has no head record")
    return Verification(len(records), len(heads))


async def export(database: Database, dossier_code: str) -> list[dict]:
    async with database.transaction() as session:
        rows = (await session.scalars(
            select(MessageLogRecord).where(MessageLogRecord.dossier_code == dossier_code).order_by(MessageLogRecord.id)
        )).all()
    return [{name: getattr(row, name) for name in ("id", *HASHED_FIELDS, "hash")} for row in rows]
