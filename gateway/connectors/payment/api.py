"""Operator API of payments: list and inspect them (mismatches are raised here), and reconcile a
provider's daily statement."""

from datetime import date

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import select

from gateway.connectors.payment.confirmations import ConfirmationIntake
from gateway.connectors.payment.reconcile import StatementInvalid, reconcile_once, reconcile_statement
from gateway.runtime.roles import RoleContext
from gateway.store.tables import Payment
from gateway.webhooks.intake import body_within_limit

MAX_STATEMENT_BYTES = 20 * 1024 * 1024
STATES = ("created", "open", "paid", "failed", "mismatch", "refused")


def payments_router(context: RoleContext, intake: ConfirmationIntake | None) -> APIRouter:
    router = APIRouter(tags=["payments"])

    @router.get("/api/v1/payments", summary="Payments, newest first (state=mismatch: those raised to operators)")
    async def payments(state: str | None = Query(default=None, description=f"One of {', '.join(STATES)}"),
                       provider: str | None = None, dossier: str | None = None,
                       limit: int = Query(default=100, ge=1, le=1000)) -> list[dict]:
        if state is not None and state not in STATES:
            raise HTTPException(422, detail=f"state must be one of {', '.join(STATES)}")
        query = select(Payment).order_by(Payment.created_at.desc()).limit(limit)
        for column, value in ((Payment.state, state), (Payment.provider, provider), (Payment.dossier_code, dossier)):
            if value is not None:
                query = query.where(column == value)
        async with context.database.transaction() as session:
            return [_shown(row) for row in (await session.execute(query)).scalars()]

    @router.get("/api/v1/payments/{reference}", summary="One payment",
                responses={404: {"description": "No such payment"}})
    async def payment(reference: str) -> dict:
        async with context.database.transaction() as session:
            row = await session.get(Payment, reference)
        if row is None:
            raise HTTPException(404, detail=f"no payment {reference}")
        return _shown(row)

    @router.post("/api/v1/payments/{name}/reconciliations",
                 summary="Reconcile a provider's daily statement (the CSV as body) with the recorded payments",
                 responses={404: {"description": "No such payment provider"},
                            422: {"description": "The statement cannot be read (every bad row is named)"}})
    async def reconcile(name: str, request: Request,
                        day: date | None = Query(default=None, alias="date",
                                                 description="The statement's date; empty: its rows' dates")) -> dict:
        provider = intake.providers.get(name) if intake is not None else None
        if provider is None:
            raise HTTPException(404, detail=f"no payment provider '{name}'")
        body = await body_within_limit(request, MAX_STATEMENT_BYTES)
        if body is None:
            raise HTTPException(413, detail=f"a statement is at most {MAX_STATEMENT_BYTES} bytes")
        try:
            report = await reconcile_statement(context.database, provider, body.decode("utf-8-sig"), [day] if day else None)
        except (StatementInvalid, UnicodeDecodeError) as error:
            raise HTTPException(422, detail=str(error)) from None
        return report.as_dict()

    @router.post("/api/v1/payments/{name}/queries",
                 summary="Ask the provider now about its open payments (and fetch missing receipts), as the "
                         "background round does; min_age_s 0 asks even the newest",
                 responses={404: {"description": "No such payment provider"}})
    async def query_now(name: str, min_age_s: float | None = Query(default=None, ge=0)) -> dict[str, int]:
        provider = intake.providers.get(name) if intake is not None else None
        if provider is None:
            raise HTTPException(404, detail=f"no payment provider '{name}'")
        return await reconcile_once(context.database, provider, intake.clients[name], intake.ledger,
                                    min_age_s=min_age_s)

    return router


def _shown(row: Payment) -> dict:
    return {
        "reference": row.reference, "provider": row.provider, "dossier_code": row.dossier_code, "state": row.state,
        "amount": row.amount, "currency": row.currency, "pay_url": row.pay_url, "pay_code": row.pay_code,
        "transaction_id": row.transaction_id, "paid_amount": row.paid_amount,
        "paid_at": row.paid_at.isoformat() if row.paid_at else None, "settled_via": row.settled_via,
        "receipt_number": row.receipt_number, "receipt_url": row.receipt_url, "detail": row.detail,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
