"""The dossier ledger: records every dossier event the gateway sees and acknowledges new
dossiers to the one-stop system. Operators trace dossiers from it; `demo` counts on it."""

import logging
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.domain import DossierStatusChanged, DossierSubmitted, OneGateUpdate, OneGateUpdateKind
from gateway.domain.events import DossierEvent
from gateway.reliability.idempotency import claim_message
from gateway.runtime.messaging import Delivery, Published, subscribe
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.runtime.roles import Role, RoleContext
from gateway.store.tables import DossierRecord
from gateway.store.upsert import insert_for
from gateway.topics import DOSSIER_EVENTS

log = logging.getLogger(__name__)

NAME = "ledger"
FLOW = "ledger"
SOURCE = "gateway"


def install(broker: KafkaBroker, context: RoleContext) -> None:
    updates = OneGateUpdates(broker, context.message_log, role=NAME,
                             description="Acknowledges each new dossier to the one-stop system (kind=received).")

    @subscribe(
        broker,
        DOSSIER_EVENTS,
        kafka=context.settings.kafka,
        connector=NAME,
        dead_letters=context.dead_letters,
        counters=context.counters,
        title=f"{DOSSIER_EVENTS.name}:ledger",
        description="Records each dossier and its latest status in the dossier ledger.",
    )
    async def record_dossier_event(event: DossierEvent, delivery: Delivery) -> None:
        async with context.database.transaction() as session:
            if not await claim_message(session, NAME, delivery.message_id):
                context.counters.add(FLOW, "duplicates")
                return
            await _apply(session, event.root)
            if isinstance(event.root, DossierSubmitted):
                # Published before the transaction commits: a crash in between redelivers the
                # event and publishes the same acknowledgement id again, never none at all.
                acknowledgement = await _acknowledge(updates, event.root, delivery)
        if not delivery.enveloped:  # written straight to the topic: it entered the gateway here
            await context.message_log.record(direction="in", channel="kafka", partner="onegate",
                                             message_id=delivery.message_id, dossier_code=delivery.dossier_code,
                                             payload=delivery.raw.value, outcome="received")
        if isinstance(event.root, DossierSubmitted):
            await updates.log(acknowledgement, "acknowledged")
        context.counters.add(FLOW, "delivered")


async def _apply(session: AsyncSession, event: DossierSubmitted | DossierStatusChanged) -> None:
    """One upsert per event: no read-modify-write, so concurrent workers cannot lose an update."""
    now = datetime.now(UTC)
    table = DossierRecord.__table__
    current = table.c
    row = {"code": event.dossier_code, "events_seen": 1, "first_seen_at": now, "last_event_at": now}
    if isinstance(event, DossierSubmitted):
        row |= {"procedure_code": event.dossier.procedure_code, "agency_code": event.dossier.agency_code,
                "status": int(event.dossier.status), "status_sequence": 0}
    else:
        row |= {"status": int(event.status_change.status), "status_sequence": event.status_change.sequence}
    statement = insert_for(session, table).values(**row)
    proposed = statement.excluded
    changes = {"events_seen": current.events_seen + 1, "last_event_at": proposed.last_event_at}
    if isinstance(event, DossierSubmitted):
        changes |= {
            "procedure_code": proposed.procedure_code,
            "agency_code": proposed.agency_code,
            # A status change that overtook the submission keeps its status.
            "status": case((current.status_sequence == 0, proposed.status), else_=current.status),
        }
    elif event.status_change.reported_by is not None:
        # A ministry's report is numbered apart and is not the one-stop system's status: the ledger
        # keeps the one-stop system's own (the report is counted, and traced in the message log).
        pass
    else:
        # Status changes may arrive late; the highest sequence wins.
        newer = proposed.status_sequence >= current.status_sequence
        changes |= {
            "status": case((newer, proposed.status), else_=current.status),
            "status_sequence": case((newer, proposed.status_sequence), else_=current.status_sequence),
        }
    await session.execute(statement.on_conflict_do_update(index_elements=["code"], set_=changes))


async def _acknowledge(updates: OneGateUpdates, event: DossierSubmitted, delivery: Delivery) -> Published:
    acknowledgement = OneGateUpdate(
        dossier_code=event.dossier_code,
        kind=OneGateUpdateKind.RECEIVED,
        source=SOURCE,
        occurred_at=datetime.now(UTC),
        message="Cổng tích hợp đã nhận hồ sơ (the gateway received the dossier)",
    )
    return await updates.publish(acknowledgement, delivery, "ledger-ack")


ROLE = Role(name=NAME, description="dossier ledger: records every dossier event, acknowledges new dossiers", install=install)
