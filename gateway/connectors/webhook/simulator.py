"""A webhook receiver to rehearse against: takes events, counts duplicates by idempotency key,
remembers the order per dossier, and can be told to refuse some dossiers (422)."""

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel

from gateway.simulators.framework import Simulator


class Refusals(BaseModel):
    dossiers: list[str] = []


class WebhookReceiver(Simulator):
    name = "webhook"
    description = "Receives dossier events like a partner's webhook endpoint would."

    def __init__(self, faults=None) -> None:
        super().__init__(faults)
        self.received: list[dict] = []  # first receipt of each key, in order
        self.refused_dossiers: set[str] = set()

    def partner_routes(self, router: APIRouter) -> None:
        @router.post("/events", status_code=201)
        async def receive(request: Request, response: Response,
                          idempotency_key: str = Header(alias="Idempotency-Key")) -> dict:
            event = await request.json()
            dossier = _dossier_of(event)
            if dossier in self.refused_dossiers:
                raise HTTPException(422, detail=f"dossier {dossier} is refused by this partner")
            if self.stats.record_key(idempotency_key):
                response.status_code = 409
                return {"status": "duplicate", "key": idempotency_key}
            self.received.append({"key": idempotency_key, "dossier": dossier, "kind": event.get("kind")})
            return {"status": "received", "key": idempotency_key}

        @router.get("/events/{key}")
        async def has(key: str) -> dict:
            if key not in self.stats.keys_seen:
                raise HTTPException(404, detail=f"no event {key}")
            return {"key": key}

        @router.get("/_sim/received", tags=["simulator control"])
        async def received() -> list[dict]:
            return self.received

        @router.put("/_sim/refusals", tags=["simulator control"])
        async def refuse(refusals: Refusals) -> Refusals:
            self.refused_dossiers = set(refusals.dossiers)
            return refusals


def _dossier_of(event: dict) -> str:
    if event.get("kind") == "submitted":
        return event.get("dossier", {}).get("code", "")
    return event.get("status_change", {}).get("dossier_code", "")
