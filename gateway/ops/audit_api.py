"""HTTP API for the message log: verify the chain, a dossier's records."""

from dataclasses import asdict

from fastapi import APIRouter

from gateway.audit.message_log import export, verify
from gateway.store.database import Database


def audit_router(database: Database) -> APIRouter:
    router = APIRouter(prefix="/api/v1/audit", tags=["message log"])

    @router.get("/verify", summary="Check every chain of the message log")
    async def verify_chain() -> dict:
        result = await verify(database)
        return {**asdict(result), "intact": result.intact}

    @router.get("/dossiers/{code}", summary="The message-log records of one dossier")
    async def dossier_records(code: str) -> list[dict]:
        return await export(database, code)

    return router
