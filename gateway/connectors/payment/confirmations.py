"""POST /api/v1/payments/{name}/confirmations: a payment provider confirms a payment.

Checked in this order, before anything is read from the body: its size; its signature over the
raw bytes, in constant time (hmac_sha256: headers over TIMESTAMP.BODY, before the body is
parsed; checksum_sha256: the JSON is parsed only to check MaXacThuc); the timestamp's age and
whether the same signed request came before. Then the provider's reply spec reads it and the
ledger settles it in one transaction (publishing before the commit), and only then does the
provider hear success. Every outcome is answered in the provider's own format (options.answer)
with the documented HTTP status (docs/payments.md), counted (flow payments.NAME) and written
to the message log with the raw body.
"""

import asyncio
import json
import logging
import time
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker

from gateway.connectors.payment import signing
from gateway.connectors.payment.client import PaymentClient, signed
from gateway.connectors.payment.config import HTTP_STATUS, ConfirmationOutcome, PaymentProvider, load_providers
from gateway.connectors.payment.ledger import PaymentEvents, PaymentLedger, Settlement
from gateway.connectors.payment.reconcile import fetch_receipt
from gateway.mappings.errors import MappingFailure, OutputInvalid
from gateway.mappings.transforms import strftime_of
from gateway.runtime.roles import RoleContext

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
MESSAGES = {
    ConfirmationOutcome.ACCEPTED: "Đã ghi nhận (recorded)",
    ConfirmationOutcome.DUPLICATE: "Đã ghi nhận trước đó (already recorded)",
    ConfirmationOutcome.MALFORMED: "Dữ liệu không hợp lệ (malformed confirmation)",
    ConfirmationOutcome.BAD_SIGNATURE: "Sai chữ ký / mã xác thực (bad signature or checksum)",
    ConfirmationOutcome.STALE: "Thời điểm gửi quá cũ hoặc sai (stale timestamp)",
    ConfirmationOutcome.REPLAYED: "Yêu cầu đã được gửi trước đó (replayed request)",
    ConfirmationOutcome.UNKNOWN_REFERENCE: "Không tìm thấy mã tham chiếu (unknown reference)",
    ConfirmationOutcome.AMOUNT_MISMATCH: "Số tiền hoặc loại tiền không khớp (amount or currency mismatch)",
    ConfirmationOutcome.CONFLICT: "Giao dịch mâu thuẫn với giao dịch đã ghi nhận (conflicting transaction)",
    ConfirmationOutcome.TOO_LARGE: f"Nội dung quá lớn (body over {MAX_BODY_BYTES} bytes)",
    ConfirmationOutcome.UNAVAILABLE: "Hệ thống tạm thời không ghi nhận được, vui lòng gửi lại (try again later)",
}


class ConfirmationIntake:
    """Everything the endpoint needs, built before the broker starts (its publisher)."""

    def __init__(self, context: RoleContext, providers: dict[str, PaymentProvider],
                 clients: dict[str, PaymentClient], ledger: PaymentLedger) -> None:
        self.context = context
        self.providers = providers
        self.clients = clients
        self.ledger = ledger
        self._receipts: set[asyncio.Task] = set()

    async def take(self, provider: PaymentProvider, headers: dict[str, str], raw: bytes) -> Settlement:
        outcome, signature = _verify(provider, headers, raw)
        if outcome is not None:
            return Settlement(outcome, MESSAGES[outcome])
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
            reply = self.clients[provider.name].read(body, "confirmation")
        except (ValueError, MappingFailure, OutputInvalid) as error:
            return Settlement(ConfirmationOutcome.MALFORMED, f"{MESSAGES[ConfirmationOutcome.MALFORMED]}: {error}")
        try:
            settlement = await self.ledger.settle(provider.name, reply, via="confirmation", seen_signature=signature)
        except Exception as error:  # Kafka or the database: nothing was recorded, the provider sends again
            log.exception("%s: confirmation could not be recorded", provider.name)
            return Settlement(ConfirmationOutcome.UNAVAILABLE, f"{type(error).__name__}: {error}")
        if settlement.event is not None and settlement.note.startswith("paid") \
                and provider.options.operations.receipt is not None:
            task = asyncio.create_task(fetch_receipt(provider, self.clients[provider.name], self.ledger,
                                                     reply["reference"]))
            self._receipts.add(task)  # kept: a task nobody holds may be collected before it ends
            task.add_done_callback(self._receipts.discard)
        return settlement

    async def answer(self, provider: PaymentProvider, raw: bytes, settlement: Settlement) -> Response:
        flow = f"payments.{provider.name}"
        self.context.counters.add(flow, settlement.outcome.value)
        if settlement.outcome is ConfirmationOutcome.AMOUNT_MISMATCH:
            self.context.counters.add(flow, "raised_to_operators")
        try:
            await self.context.message_log.record(
                direction="in", channel="webhook", partner=provider.name, message_id=str(uuid.uuid4()),
                dossier_code=settlement.dossier_code, payload=raw[:MAX_BODY_BYTES],
                outcome=f"{settlement.outcome.value}: {settlement.note}"[:200])
            if settlement.event is not None:
                await self.ledger.events.log(settlement.event, settlement.note)
        except Exception:  # the outcome stands (it is committed); the audit trail misses one record
            log.exception("%s: confirmation outcome %s not written to the message log", provider.name,
                          settlement.outcome.value)
        if settlement.outcome not in (ConfirmationOutcome.ACCEPTED, ConfirmationOutcome.DUPLICATE):
            log.warning("%s: confirmation refused (%s): %s", provider.name, settlement.outcome.value, settlement.note)
        return provider_answer(provider, settlement.outcome, MESSAGES[settlement.outcome])


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
    outcomes = ", ".join(f"{outcome.value} {HTTP_STATUS[outcome]}" for outcome in ConfirmationOutcome)

    @router.post("/api/v1/payments/{name}/confirmations", summary="A payment provider confirms a payment",
                 response_class=Response,
                 description=f"Answered in the provider's format (options.answer) with its code per outcome: "
                             f"{outcomes}. See docs/payments.md.",
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
        raw = await _body_within_limit(request)
        if raw is None:
            settlement = Settlement(ConfirmationOutcome.TOO_LARGE, MESSAGES[ConfirmationOutcome.TOO_LARGE])
            return await intake.answer(provider, b"", settlement)
        settlement = await intake.take(provider, {key.lower(): value for key, value in request.headers.items()}, raw)
        return await intake.answer(provider, raw, settlement)

    return router


async def _body_within_limit(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY_BYTES (not read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(provider: PaymentProvider, headers: dict[str, str], raw: bytes) -> tuple[ConfirmationOutcome | None,
                                                                                   str | None]:
    """(refusal or None, the signature to remember against replays)."""
    scheme = provider.options.signature
    if scheme.scheme == "hmac_sha256":
        timestamp = headers.get(scheme.timestamp_header.lower(), "")
        offered = headers.get(scheme.signature_header.lower(), "")
        if not signing.same(offered, signing.hmac_signature(provider.secret, timestamp, raw)):
            return ConfirmationOutcome.BAD_SIGNATURE, None
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > scheme.tolerance_s:
            return ConfirmationOutcome.STALE, None
        return None, offered.strip().lower()
    try:
        body = json.loads(raw)
    except ValueError:
        return ConfirmationOutcome.MALFORMED, None
    if not isinstance(body, dict):
        return ConfirmationOutcome.MALFORMED, None
    expected = signing.checksum(body, scheme.fields["confirmation"], provider.secret)
    if not isinstance(body.get(scheme.field), str) or not signing.same(body[scheme.field], expected):
        return ConfirmationOutcome.BAD_SIGNATURE, None
    return None, None  # no request timestamp: a repeated body is answered as a duplicate


def provider_answer(provider: PaymentProvider, outcome: ConfirmationOutcome, message: str) -> Response:
    """The answer in the provider's format, signed as its scheme says."""
    options = provider.options
    values = {"code": options.answer.codes[outcome], "message": message, "partner_code": options.partner_code,
              "time": datetime.now(VIETNAM).strftime(strftime_of(options.answer.time_format))}
    raw, headers = signed(provider, _filled(options.answer.body, values), "answer")
    return Response(raw, status_code=HTTP_STATUS[outcome], media_type="application/json", headers=headers)


def _filled(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, dict):
        return {key: _filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_filled(item, values) for item in template]
    if isinstance(template, str):
        return template.format_map(values)
    return template
