"""Signatures of signed webhook requests already taken (table webhook_signatures): the same
signed request again is a replay. A signature is kept in the transaction that records what the
request said, so a request that could not be recorded (503) may be sent again as it was."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import WebhookSignature
from gateway.store.upsert import insert_for


async def first_sighting(session: AsyncSession, partner: str, signature: str, now: datetime) -> bool:
    """Note the signature; False when it was noted before."""
    result = await session.execute(insert_for(session, WebhookSignature.__table__).values(
        partner=partner, signature=signature[:128], seen_at=now).on_conflict_do_nothing())
    return result.rowcount == 1


async def forget_before(session: AsyncSession, partner: str, before: datetime) -> None:
    """Signatures older than the staleness window: a replay of them is refused as stale anyway."""
    await session.execute(delete(WebhookSignature).where(WebhookSignature.partner == partner,
                                                         WebhookSignature.seen_at < before))
