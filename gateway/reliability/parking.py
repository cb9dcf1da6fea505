"""Parked messages: what waits in a connector's retry topic, and the per-dossier queue.

A parked message holds its dossier for its connector: later messages of that dossier are
parked behind it (they keep their order by `seq`) while other dossiers keep flowing.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import ParkedMessage
from gateway.store.times import loaded
from gateway.store.upsert import insert_for


@dataclass(frozen=True)
class Parked:
    seq: int
    attempts: int
    due_at: datetime


async def park(session: AsyncSession, *, connector: str, message_id: str, dossier_code: str, attempts: int,
               due_at: datetime, error: str | None, now: datetime) -> None:
    """Record (or update) a parked message; it keeps its place in its dossier's queue."""
    statement = insert_for(session, ParkedMessage.__table__).values(
        connector=connector, message_id=message_id, dossier_code=dossier_code, attempts=attempts,
        due_at=due_at, last_error=error, parked_at=now)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["connector", "message_id"],
        set_={"attempts": attempts, "due_at": due_at, "last_error": error}))


async def find(session: AsyncSession, connector: str, message_id: str) -> Parked | None:
    row = (await session.execute(
        select(ParkedMessage.seq, ParkedMessage.attempts, ParkedMessage.due_at)
        .where(ParkedMessage.connector == connector, ParkedMessage.message_id == message_id)
    )).first()
    return Parked(row.seq, row.attempts, loaded(row.due_at)) if row else None


async def head_of(session: AsyncSession, connector: str, dossier_code: str) -> tuple[str, Parked] | None:
    """The message first in line for this dossier and connector, if any is parked."""
    first_seq = select(func.min(ParkedMessage.seq)).where(
        ParkedMessage.connector == connector, ParkedMessage.dossier_code == dossier_code).scalar_subquery()
    row = (await session.execute(
        select(ParkedMessage.message_id, ParkedMessage.seq, ParkedMessage.attempts, ParkedMessage.due_at)
        .where(ParkedMessage.seq == first_seq)
    )).first()
    return (row.message_id, Parked(row.seq, row.attempts, loaded(row.due_at))) if row else None


async def release(session: AsyncSession, connector: str, message_id: str) -> None:
    await session.execute(delete(ParkedMessage).where(
        ParkedMessage.connector == connector, ParkedMessage.message_id == message_id))
