"""The dossier ledger: records every dossier event the gateway sees and acknowledges new
dossiers to the one-stop system. Operators trace dossiers from it; `demo` counts on it."""

import logging
import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker
from sqlalchemy import and_, case, or_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.domain import (
    DossierStatus,
    DossierStatusChanged,
    DossierSubmitted,
    OneGateUpdate,
    OneGateUpdateKind,
)
from gateway.domain.events import DossierEvent
from gateway.privacy import citizen_key, mask_id_number
from gateway.reliability.idempotency import claim_message
from gateway.runtime.messaging import Delivery, Published, subscribe
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.runtime.roles import Role, RoleContext
from gateway.store.tables import DossierRecord
from gateway.store.times import stored
from gateway.store.upsert import insert_for
from gateway.topics import DOSSIER_EVENTS

log = logging.getLogger(__name__)

NAME = "ledger"
FLOW = "ledger"
SOURCE = "gateway"
# The one-stop system's decision on a new dossier: it stops the acceptance clock.
DECISIONS = (DossierStatus.ACCEPTED, DossierStatus.REFUSED, DossierStatus.SUPPLEMENT_REQUESTED)


def install(broker: KafkaBroker, context: RoleContext) -> None:
    id_key = citizen_id_key(context.settings)
    local_zone = ZoneInfo(context.settings.calendar.timezone)
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
        direction="in",  # the one-stop system's events, into the gateway
        description="Records each dossier and its latest status in the dossier ledger.",
    )
    async def record_dossier_event(event: DossierEvent, delivery: Delivery) -> None:
        async with context.database.transaction() as session:
            if not await claim_message(session, NAME, delivery.message_id):
                context.counters.add(FLOW, "duplicates")
                return
            await _apply(session, event.root, id_key, local_zone)
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


def citizen_id_key(settings) -> bytes | None:
    """The key of the citizen-ID hash, from the environment; None: ID numbers are not kept."""
    value = os.environ.get(settings.console.citizen_id_key_env)
    return value.encode() if value else None


async def _apply(session: AsyncSession, event: DossierSubmitted | DossierStatusChanged, id_key: bytes | None,
                 local_zone: ZoneInfo) -> None:
    """One upsert per event: no read-modify-write, so concurrent workers cannot lose an update."""
    now = datetime.now(UTC)
    table = DossierRecord.__table__
    current = table.c
    row = {"code": event.dossier_code, "events_seen": 1, "first_seen_at": now, "last_event_at": now}
    if isinstance(event, DossierSubmitted):
        dossier = event.dossier
        id_number = dossier.applicant.id_number
        row |= {"procedure_code": dossier.procedure_code, "agency_code": dossier.agency_code,
                "status": int(dossier.status), "status_sequence": 0, "received_at": stored(dossier.received_at),
                "due_at": stored(dossier.due_at), "channel": dossier.channel,
                "fee_charging": True if sum(fee.amount_vnd for fee in dossier.fees) > 0 else None,
                "citizen_key": citizen_key(id_number, id_key) if id_number and id_key else None,
                "citizen_masked": mask_id_number(id_number)}
    else:
        change = event.status_change
        changed_at = stored(change.changed_at)
        # A result is returned whoever reports it: the one-stop system, or the post on delivery.
        # A report numbered apart (a ministry's, the post's) that comes first does not take the
        # one-stop system's place in the sequence.
        row |= {"status": int(change.status), "status_sequence": change.sequence if change.reported_by is None else 0,
                "fee_charging": True if change.fee_assessment is not None
                and sum(fee.amount_vnd for fee in change.fee_assessment.fees) > 0 else None,
                "returned_at": changed_at if change.status is DossierStatus.RESULT_RETURNED else None}
        if change.reported_by is None:
            # NgayKetThucTheoQuyDinh may come without an offset: it is the province's local time.
            due_at = change.due_at.replace(tzinfo=local_zone) if change.due_at and not change.due_at.tzinfo \
                else change.due_at
            row |= {"due_at": stored(due_at),
                    "decided_at": changed_at if change.status in DECISIONS else None}
    statement = insert_for(session, table).values(**row)
    proposed = statement.excluded
    changes = {"events_seen": current.events_seen + 1, "last_event_at": proposed.last_event_at,
               # Once a dossier charges fees, it stays fee-charging.
               "fee_charging": case((current.fee_charging.is_(True), True), else_=proposed.fee_charging)}
    if isinstance(event, DossierSubmitted):
        changes |= {
            "procedure_code": proposed.procedure_code,
            "agency_code": proposed.agency_code,
            "received_at": proposed.received_at, "channel": proposed.channel,
            "citizen_key": proposed.citizen_key, "citizen_masked": proposed.citizen_masked,
            # A later status change may have moved the appointment date already.
            "due_at": case((or_(current.status_sequence == 0, current.due_at.is_(None)), proposed.due_at),
                           else_=current.due_at),
            # A status change that overtook the submission keeps its status.
            "status": case((current.status_sequence == 0, proposed.status), else_=current.status),
        }
    elif event.status_change.reported_by is not None:
        # A ministry's or carrier's report is numbered apart and is not the one-stop system's
        # status: the ledger keeps the one-stop system's own (the report is counted, and traced in
        # the message log), and only the time a result was returned.
        changes["returned_at"] = _earliest(current.returned_at, proposed.returned_at)
    else:
        # Status changes may arrive late; the highest sequence wins.
        newer = proposed.status_sequence >= current.status_sequence
        changes |= {
            "status": case((newer, proposed.status), else_=current.status),
            "status_sequence": case((newer, proposed.status_sequence), else_=current.status_sequence),
            "due_at": case((and_(newer, proposed.due_at.is_not(None)), proposed.due_at), else_=current.due_at),
            # The earliest decision and return count, whatever order the changes arrive in.
            "decided_at": _earliest(current.decided_at, proposed.decided_at),
            "returned_at": _earliest(current.returned_at, proposed.returned_at),
        }
    await session.execute(statement.on_conflict_do_update(index_elements=["code"], set_=changes))


def _earliest(current, proposed):
    return case((or_(current.is_(None), and_(proposed.is_not(None), proposed < current)), proposed), else_=current)


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
