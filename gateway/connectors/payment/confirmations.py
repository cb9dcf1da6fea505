"""POST /api/v1/payments/{name}/confirmations: a payment provider confirms a payment.

The shared signed-webhook intake (gateway/webhooks) checks size, signature, staleness and
answers in the provider's format; here the verified body is read with the provider's reply spec
and the ledger settles the payment in one transaction (refusing a replayed signature, checking
reference, amount and currency, publishing before the commit). Only then does the provider
hear success. docs/payments.md lists every outcome with its HTTP status and codes.
"""

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker

from gateway.connectors.payment.client import PaymentClient
from gateway.connectors.payment.config import ConfirmationOutcome, PaymentProvider, load_providers
from gateway.connectors.payment.ledger import PaymentEvents, PaymentLedger
from gateway.connectors.payment.reconcile import fetch_receipt
from gateway.mappings.errors import MappingFailure, OutputInvalid
from gateway.runtime.roles import RoleContext
from gateway.webhooks.intake import Handled, SignedWebhooks

log = logging.getLogger(__name__)

STATUSES = {"unknown_reference": 404, "amount_mismatch": 422, "conflict": 409}
MESSAGES = {
    "unknown_reference": "Không tìm thấy mã tham chiếu (unknown reference)",
    "amount_mismatch": "Số tiền hoặc loại tiền không khớp (amount or currency mismatch)",
    "conflict": "Giao dịch mâu thuẫn với giao dịch đã ghi nhận (conflicting transaction)",
}


class ConfirmationIntake:
    """Everything the endpoint needs, built before the broker starts (its publisher)."""

    def __init__(self, context: RoleContext, providers: dict[str, PaymentProvider],
                 clients: dict[str, PaymentClient], ledger: PaymentLedger) -> None:
        self.providers = providers
        self.clients = clients
        self.ledger = ledger
        self.webhooks = SignedWebhooks(context, flow_prefix="payments", partners=providers, statuses=STATUSES,
                                       messages=MESSAGES,
                                       raised=("amount_mismatch", "conflict"))
        self._receipts: set[asyncio.Task] = set()

    async def receive(self, provider: PaymentProvider, request: Request) -> Response:
        async def handle(body: dict[str, Any], replay_key: str | None) -> Handled:
            return await self.take(provider, body, replay_key)

        return await self.webhooks.receive(request, provider.webhook, handle)

    async def take(self, provider: PaymentProvider, body: dict[str, Any], replay_key: str | None) -> Handled:
        try:
            reply = self.clients[provider.name].read(body, "confirmation")
        except (ValueError, MappingFailure, OutputInvalid) as error:
            return Handled("malformed", f"the reply spec cannot read it: {error}")
        settlement = await self.ledger.settle(provider.name, reply, via="confirmation", seen_signature=replay_key)
        if settlement.event is not None and settlement.note.startswith("paid") \
                and provider.options.operations.receipt is not None:
            task = asyncio.create_task(fetch_receipt(provider, self.clients[provider.name], self.ledger,
                                                     reply["reference"]))
            self._receipts.add(task)  # kept: a task nobody holds may be collected before it ends
            task.add_done_callback(self._receipts.discard)
        published = settlement.event

        async def log_published() -> None:
            await self.ledger.events.log(published, settlement.note)

        return Handled(settlement.outcome.value, settlement.note, settlement.dossier_code,
                       after=log_published if published is not None else None, raised=settlement.raised)


def confirmation_intake(broker: KafkaBroker, context: RoleContext) -> ConfirmationIntake:
    """Declares its publisher: call before the broker starts."""
    from gateway.connectors.payment.handlers import provider_client  # here: handlers import this module's peers

    providers = load_providers(context.settings)
    events = PaymentEvents(broker, context.message_log, role="confirmations",
                           description="Payments confirmed by providers (paid, failed) and their receipts.")
    return ConfirmationIntake(context, providers, {name: provider_client(context, provider)
                                                   for name, provider in providers.items()},
                              PaymentLedger(context.database, events))


def confirmations_router(intake: ConfirmationIntake | None) -> APIRouter:
    """`intake` None: no payment provider in this process (every name answers 404)."""
    router = APIRouter(tags=["payments"])
    outcomes = ", ".join(outcome.value for outcome in ConfirmationOutcome)

    @router.post("/api/v1/payments/{name}/confirmations", summary="A payment provider confirms a payment",
                 response_class=Response,
                 description=f"Answered in the provider's format (options.answer) with its code for the outcome "
                             f"({outcomes}). See docs/payments.md.",
                 responses={200: {"description": "Recorded and published (accepted), or recorded before (duplicate)"},
                            400: {"description": "malformed"}, 401: {"description": "bad_signature or stale"},
                            404: {"description": "unknown_reference, or no such provider"},
                            409: {"description": "replayed, or conflict"}, 413: {"description": "too_large"},
                            422: {"description": "amount_mismatch: recorded and raised to operators"},
                            503: {"description": "unavailable: nothing recorded, send again"}})
    async def confirm(name: str, request: Request) -> Response:
        provider = intake.providers.get(name) if intake is not None else None
        if provider is None:
            return JSONResponse({"error": f"no payment provider '{name}' takes confirmations here"}, status_code=404)
        return await intake.receive(provider, request)

    return router
