"""Side effects at partners, remembered by the partner's idempotency key (payment reference,
shipment order number, dossier code + status sequence).

'started' is written before the call and 'done' after it succeeded. A redelivered message
whose key is 'done' does not call again. One whose key is only 'started' may or may not have
reached the partner (the worker died during the call): the connector's look-up decides when
it has one; otherwise the call is repeated with the same key, which the partner must accept.
"""

from datetime import UTC, datetime
from enum import StrEnum

from gateway.store.database import Database
from gateway.store.tables import PartnerCall
from gateway.store.upsert import insert_for


class CallState(StrEnum):
    STARTED = "started"
    DONE = "done"


class PartnerCalls:
    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    async def state_in(session, partner: str, key: str) -> CallState | None:
        call = await session.get(PartnerCall, (partner, key))
        return CallState(call.state) if call else None

    async def mark(self, partner: str, key: str, message_id: str, state: CallState) -> None:
        async with self.database.transaction() as session:
            await self.mark_in(session, partner, key, message_id, state)

    @staticmethod
    async def mark_in(session, partner: str, key: str, message_id: str, state: CallState) -> None:
        now = datetime.now(UTC)
        statement = insert_for(session, PartnerCall.__table__).values(
            partner=partner, idempotency_key=key, state=state, message_id=message_id, updated_at=now)
        await session.execute(statement.on_conflict_do_update(
            index_elements=["partner", "idempotency_key"], set_={"state": state, "updated_at": now}))
