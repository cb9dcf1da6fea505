"""Idempotent consumer: each consumer does a message's work once, however often Kafka delivers it."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import ProcessedMessage
from gateway.store.upsert import insert_for


async def claim_message(session: AsyncSession, consumer: str, message_id: str) -> bool:
    """Record that `consumer` handles `message_id`; False when it already has.

    Call it in the same transaction as the work, so the claim and the work commit together.
    """
    statement = (
        insert_for(session, ProcessedMessage.__table__)
        .values(consumer=consumer, message_id=message_id, processed_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["consumer", "message_id"])
    )
    result = await session.execute(statement)
    return result.rowcount == 1
