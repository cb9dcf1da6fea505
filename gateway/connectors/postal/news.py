"""What a shipment's move means for the others, published inside the transaction that moves it
(ids derived from the shipment and the move, so a move taken twice publishes the same ids,
which consumers drop):

- a pick-up the post has collected: the one-stop system hears the dossier is received
  (OneGateUpdate kind received), once, with the parcel;
- a returned result delivered to the applicant: status 10 (result returned) on
  onegate.dossier-events, reported by the carrier, which the national portal connector pushes;
  and a status update for the one-stop system;
- any other move: a tracking update; failures and returns are also raised to operators.
"""

import logging
from datetime import datetime

from faststream.kafka import KafkaBroker

from gateway.audit.message_log import MessageLog
from gateway.domain import (
    DossierStatus,
    DossierStatusChanged,
    OneGateUpdate,
    OneGateUpdateKind,
    ShipmentInfo,
    ShipmentKind,
    ShipmentState,
    StatusChange,
)
from gateway.domain.envelope import derived_message_id
from gateway.domain.shipment import STATE_WORDS
from gateway.runtime.messaging import Published, publish
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.store.tables import Shipment
from gateway.topics import DOSSIER_EVENTS

log = logging.getLogger(__name__)


class PostalNews:
    def __init__(self, broker: KafkaBroker, message_log: MessageLog, *, role: str) -> None:
        self.updates = OneGateUpdates(broker, message_log, role=f"postal-{role}",
                                      description="Postal orders and tracking: received by post, parcel moves, "
                                                  "result returned (status 10), problems.")
        self.events = broker.publisher(DOSSIER_EVENTS.name, title=f"{DOSSIER_EVENTS.name}:postal-{role}",
                                       description="Result returned by post (status 10), reported by the carrier.",
                                       schema=DOSSIER_EVENTS.body)
        self.message_log = message_log

    async def moved(self, shipment: Shipment, state: ShipmentState, at: datetime, *, counted_now: bool,
                    reason: str | None, event_key: str) -> list[Published]:
        """Tell what the move of `shipment` to `state` (at `at`, the carrier's time) means; `reason`:
        the carrier's (a failure, a return) or the gateway's (a withdrawal)."""
        kind = ShipmentKind(shipment.kind)
        detail = "; ".join(part for part in (STATE_WORDS[state], reason or (shipment.detail if state.raised else None))
                           if part)
        info = ShipmentInfo(carrier=shipment.carrier, kind=kind, tracking_number=shipment.tracking_number,
                            state=state, status_code=shipment.status_code, fee_vnd=shipment.fee_vnd)
        cause = f"{shipment.carrier}/{shipment.dossier_code}/{kind.value}/{state.value}/{event_key}"
        published = []
        if kind is ShipmentKind.RETURN and state is ShipmentState.DELIVERED:
            cause = f"{shipment.carrier}/{shipment.dossier_code}/return/delivered"  # once, whatever its time
            change = StatusChange(dossier_code=shipment.dossier_code, sequence=1,
                                  status=DossierStatus.RESULT_RETURNED, changed_at=at,
                                  note=f"Đã trả kết quả qua bưu chính, số hiệu {shipment.tracking_number} "
                                       f"(result delivered by post)", department="Bưu chính công ích",
                                  reported_by=shipment.carrier)
            published.append(await publish(self.events, DossierStatusChanged(status_change=change),
                                           dossier_code=shipment.dossier_code, source_system=shipment.carrier,
                                           message_id=derived_message_id(cause, "postal-step"), causation_id=cause))
            update = OneGateUpdate(dossier_code=shipment.dossier_code, kind=OneGateUpdateKind.STATUS,
                                   source=shipment.carrier, occurred_at=at, status=DossierStatus.RESULT_RETURNED,
                                   message=f"Đã trả kết quả qua bưu chính (result returned by post): {detail}"[:2000],
                                   shipment=info)
        elif kind is ShipmentKind.PICK_UP and counted_now:
            cause = f"{shipment.carrier}/{shipment.dossier_code}/pick_up/received"  # once, whichever event told it
            update = OneGateUpdate(dossier_code=shipment.dossier_code, kind=OneGateUpdateKind.RECEIVED,
                                   source=shipment.carrier, occurred_at=at,
                                   message=f"Bưu chính đã nhận hồ sơ từ công dân (dossier received by post): "
                                           f"{detail}"[:2000], shipment=info)
        else:
            kind_told = OneGateUpdateKind.REFUSED if state is ShipmentState.REFUSED else OneGateUpdateKind.TRACKING
            update = OneGateUpdate(dossier_code=shipment.dossier_code, kind=kind_told,
                                   source=shipment.carrier, occurred_at=at, message=detail[:2000], shipment=info)
        published.append(await self.updates.publish_for(update, cause, "postal-update"))
        if state.raised or state is ShipmentState.REFUSED:
            log.error("POSTAL: %s of dossier %s at %s (%s): %s", kind.value, shipment.dossier_code, shipment.carrier,
                      shipment.tracking_number or "no tracking number", detail)
        return published

    async def log(self, published: list[Published], outcome: str) -> None:
        for item in published:
            await self.updates.log(item, outcome)
