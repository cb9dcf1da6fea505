"""HTTP of the postal connector: the carriers' tracking callbacks, and the operators' view of
shipments (those raised: state pickup_failed, delivery_failed, returning, returned, refused),
a polling round on demand, and the monthly figures of dossiers received and results returned by
post per agency."""

import re

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from gateway.connectors.postal.config import TrackingOutcome
from gateway.connectors.postal.shipments import monthly_figures
from gateway.connectors.postal.tracking import TrackingIntake, poll_once
from gateway.domain import ShipmentKind, ShipmentState
from gateway.runtime.roles import RoleContext
from gateway.store.tables import Shipment, ShipmentEvent

STATES = tuple(state.value for state in ShipmentState)
KINDS = tuple(kind.value for kind in ShipmentKind)


def postal_router(context: RoleContext, intake: TrackingIntake | None) -> APIRouter:
    """`intake` None: no postal service in this process (carrier routes answer 404)."""
    router = APIRouter(tags=["postal"])
    outcomes = ", ".join(outcome.value for outcome in TrackingOutcome)

    def carrier_named(name: str):
        carrier = intake.carriers.get(name) if intake is not None else None
        if carrier is None:
            raise HTTPException(404, detail=f"no postal service '{name}' here")
        return carrier

    @router.post("/api/v1/postal/{name}/tracking", summary="A postal service reports a parcel's tracking event",
                 response_class=Response,
                 description=f"Answered in the carrier's format (options.answer) with its code for the outcome "
                             f"({outcomes}). See docs/postal.md.",
                 responses={200: {"description": "Recorded (accepted), or seen before (duplicate)"},
                            400: {"description": "malformed"}, 401: {"description": "bad_signature or stale"},
                            404: {"description": "unknown_shipment, or no such postal service"},
                            409: {"description": "replayed"}, 413: {"description": "too_large"},
                            503: {"description": "unavailable: nothing recorded, send again"}})
    async def tracking(name: str, request: Request) -> Response:
        carrier = intake.carriers.get(name) if intake is not None else None
        if carrier is None or not carrier.options.tracking.callbacks:
            return JSONResponse({"error": f"no postal service '{name}' takes tracking callbacks here"},
                                status_code=404)
        return await intake.receive(carrier, request)

    @router.get("/api/v1/postal/shipments", summary="Shipments, newest first")
    async def shipments(state: str | None = Query(default=None, description=f"One of {', '.join(STATES)}"),
                        kind: str | None = Query(default=None, description=f"One of {', '.join(KINDS)}"),
                        carrier: str | None = None,
                        dossier: list[str] | None = Query(default=None, description="Dossier codes (repeatable)"),
                        limit: int = Query(default=100, ge=1, le=1000)) -> list[dict]:
        if state is not None and state not in STATES:
            raise HTTPException(422, detail=f"state must be one of {', '.join(STATES)}")
        if kind is not None and kind not in KINDS:
            raise HTTPException(422, detail=f"kind must be one of {', '.join(KINDS)}")
        query = select(Shipment).order_by(Shipment.id.desc()).limit(limit)
        for column, value in ((Shipment.state, state), (Shipment.kind, kind), (Shipment.carrier, carrier)):
            if value is not None:
                query = query.where(column == value)
        if dossier:
            query = query.where(Shipment.dossier_code.in_(dossier))
        async with context.database.transaction() as session:
            return [_shown(row) for row in (await session.execute(query)).scalars()]

    @router.get("/api/v1/postal/shipments/{tracking_number}", summary="One shipment and its tracking history",
                responses={404: {"description": "No such shipment"}})
    async def shipment(tracking_number: str) -> dict:
        async with context.database.transaction() as session:
            row = (await session.execute(select(Shipment).where(
                Shipment.tracking_number == tracking_number))).scalar_one_or_none()
            if row is None:
                raise HTTPException(404, detail=f"no shipment {tracking_number}")
            events = (await session.execute(select(ShipmentEvent).where(ShipmentEvent.shipment_id == row.id)
                                            .order_by(ShipmentEvent.occurred_at, ShipmentEvent.id))).scalars()
            return _shown(row) | {"events": [{
                "id": event.id, "status_code": event.status_code, "state": event.state, "occurred_at": event.occurred_at.isoformat(),
                "message": event.message, "location": event.location, "reason": event.reason,
                "applied": event.applied, "via": event.via} for event in events]}

    @router.post("/api/v1/postal/{name}/polls",
                 summary="Ask the postal service now about its open shipments, as the background round does; "
                         "quiet_s 0 asks even those with fresh news",
                 responses={404: {"description": "No such postal service"}})
    async def poll_now(name: str, quiet_s: float | None = Query(default=None, ge=0)) -> dict[str, int]:
        carrier = carrier_named(name)
        return await poll_once(carrier, intake.clients[name], intake.ledger, quiet_s=quiet_s)

    @router.get("/api/v1/postal/carriers", summary="The postal services this gateway serves (partner names)")
    async def carriers() -> list[str]:
        return sorted(intake.carriers) if intake is not None else []

    @router.get("/api/v1/postal/summary", summary="How many shipments stand where: carrier -> kind -> state -> count")
    async def summary() -> dict[str, dict[str, dict[str, int]]]:
        query = select(Shipment.carrier, Shipment.kind, Shipment.state, func.count()).group_by(
            Shipment.carrier, Shipment.kind, Shipment.state)
        counts: dict[str, dict[str, dict[str, int]]] = {}
        async with context.database.transaction() as session:
            for carrier, kind, state, count in (await session.execute(query)).all():
                counts.setdefault(carrier, {}).setdefault(kind, {})[state] = count
        return counts

    @router.get("/api/v1/postal/figures",
                summary="Per month (Vietnam time) and agency: dossiers received by post (pick-ups collected) and "
                        "results returned by post (deliveries), for the monthly report")
    async def figures(month: str | None = Query(default=None, description="YYYY-MM; empty: every month")) -> list[dict]:
        if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise HTTPException(422, detail="month is written YYYY-MM")
        return await monthly_figures(context.database, month)

    return router


def _shown(row: Shipment) -> dict:
    return {
        "carrier": row.carrier, "dossier_code": row.dossier_code, "kind": row.kind, "state": row.state,
        "tracking_number": row.tracking_number, "agency_code": row.agency_code, "cod_vnd": row.cod_vnd,
        "fee_vnd": row.fee_vnd, "status_code": row.status_code,
        "state_at": row.state_at.isoformat() if row.state_at else None, "detail": row.detail,
        "counted_in": row.counted_in, "description": row.description,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
