"""The gateway's record of payments (table payments) and the one place where a payment moves:
created, open (payable), paid, failed, mismatch (raised to operators), refused. Whatever tells
the gateway about a payment (a confirmation, a status query, a receipt) goes through here, so a
confirmation and a query that arrive together settle it once.

Each move is made in one transaction that holds the payment's row, with its PaymentEvent
published before the commit: the provider hears success only once both are done. A crash in
between leaves the row unchanged, the provider sends again, and the event goes out again under
the same message id (derived from the reference and the kind), which consumers drop.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.message_log import MessageLog
from gateway.connectors.payment.config import ConfirmationOutcome
from gateway.domain import PaymentEvent, PaymentEventKind
from gateway.domain.envelope import derived_message_id
from gateway.mappings.transforms import aware_datetime
from gateway.reliability.errors import PermanentError
from gateway.runtime.messaging import Published, publish
from gateway.store.database import Database
from gateway.store.tables import Payment
from gateway.store.times import loaded
from gateway.store.upsert import insert_for
from gateway.topics import PAYMENTS
from gateway.webhooks.replays import first_sighting

log = logging.getLogger(__name__)

OPEN_STATES = ("created", "open")


def reference_for(step_key: str) -> str:
    """The payment's reference (MaThamChieu), derived from the status step that assessed the fees:
    the same step gives the same reference (one payment however often it is delivered); a new
    assessment is a new attempt with a new reference. 20 characters, letters and digits."""
    return "GW" + hashlib.sha256(step_key.encode()).hexdigest()[:18].upper()


@dataclass(frozen=True)
class Settlement:
    outcome: ConfirmationOutcome
    note: str  # what happened, for the message log and the logs
    dossier_code: str = "-"
    event: Published | None = None  # the PaymentEvent published, when there was one
    raised: bool = False  # an operator should look at it (also counted as raised_to_operators)


class PaymentEvents:
    """Publishes PaymentEvents on onegate.payments, one id per payment and kind."""

    def __init__(self, broker: KafkaBroker, message_log: MessageLog, *, role: str, description: str) -> None:
        self.publisher = broker.publisher(PAYMENTS.name, title=f"{PAYMENTS.name}:{role}", description=description,
                                          schema=PaymentEvent)
        self.message_log = message_log

    async def publish(self, event: PaymentEvent) -> Published:
        cause = f"{event.reference}/{event.kind.value}"
        return await publish(self.publisher, event, dossier_code=event.dossier_code, source_system=event.provider,
                             message_id=derived_message_id(cause, "payment-event"), causation_id=event.reference)

    async def log(self, published: Published, outcome: str) -> None:
        await self.message_log.record(direction="out", channel="kafka", partner="onegate",
                                      message_id=published.headers.message_id,
                                      dossier_code=published.headers.correlation_id,
                                      payload=published.payload, outcome=outcome)


class PaymentLedger:
    def __init__(self, database: Database, events: PaymentEvents) -> None:
        self.database = database
        self.events = events

    async def open(self, *, provider: str, reference: str, dossier_code: str, step_key: str, amount: int,
                   currency: str, fees: list[dict[str, Any]]) -> Payment:
        """The payment of this reference, recorded as created unless it already is."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            await session.execute(insert_for(session, Payment.__table__).values(
                reference=reference, provider=provider, dossier_code=dossier_code, step_key=step_key, amount=amount,
                currency=currency, fees=json.dumps(fees, ensure_ascii=False), state="created", created_at=now,
                updated_at=now).on_conflict_do_nothing(index_elements=["reference"]))
            payment = await _locked(session, reference)
            if payment.provider != provider:
                raise PermanentError(f"payment {reference} was created at {payment.provider}, not {provider} "
                                     "(the default provider changed since?); an operator decides", code="provider")
            if payment.state == "refused":  # a dead letter replayed after the cause was fixed: try again
                payment.state, payment.detail, payment.updated_at = "created", None, now
            return payment

    async def get(self, reference: str) -> Payment | None:
        async with self.database.transaction() as session:
            return await session.get(Payment, reference)

    async def created(self, reference: str, reply: dict[str, Any]) -> None:
        """The provider took the request: the payment is open, payable at its URL or with its code."""
        async with self.database.transaction() as session:
            payment = await _locked(session, reference)
            if payment.state == "created":
                payment.state = "open"
            payment.pay_url = reply.get("pay_url") or payment.pay_url
            payment.pay_code = reply.get("pay_code") or payment.pay_code
            payment.updated_at = datetime.now(UTC)

    async def refused(self, reference: str, reason: str) -> Payment | None:
        """The provider refused to create it (or it could not be asked): refused, unless it moved on."""
        async with self.database.transaction() as session:
            payment = await _locked(session, reference)
            if payment is not None and payment.state == "created":
                payment.state = "refused"
                payment.detail = reason[:2000]
                payment.updated_at = datetime.now(UTC)
            return payment

    async def settle(self, provider: str, reply: dict[str, Any], *, via: str,
                     seen_signature: str | None = None) -> Settlement:
        """Take what the provider says of a payment (`reply`: payment/reply.schema.json).
        `seen_signature`: the request's signature, refused as a replay when seen before."""
        reference, outcome = reply.get("reference"), reply.get("outcome")
        if not reference or outcome not in ("paid", "pending", "failed"):
            return Settlement(ConfirmationOutcome.MALFORMED, "no reference or no outcome in the confirmation")
        async with self.database.transaction() as session:
            if seen_signature is not None and not await first_sighting(session, provider, seen_signature,
                                                                       datetime.now(UTC)):
                return Settlement(ConfirmationOutcome.REPLAYED, "the same signed request was taken before")
            payment = await _locked(session, reference, provider)
            if payment is None:
                return Settlement(ConfirmationOutcome.UNKNOWN_REFERENCE, f"no payment {reference} at {provider}")
            now = datetime.now(UTC)
            payment.updated_at = now
            if outcome == "paid":
                return await self._paid(payment, reply, via, now)
            if outcome == "failed" and payment.state in OPEN_STATES:
                if differs := _differs(payment, reply):
                    payment.detail = f"a failed notice {differs}; the payment stays {payment.state}"
                    log.error("payment %s of %s: %s", payment.reference, payment.dossier_code, payment.detail)
                    return Settlement(ConfirmationOutcome.AMOUNT_MISMATCH, payment.detail, payment.dossier_code,
                                      raised=True)
                payment.state = "failed"
                payment.detail = (reply.get("reason") or "the provider says the payment failed")[:2000]
                event = await self.events.publish(_event(payment, PaymentEventKind.FAILED, now, payment.detail))
                return Settlement(ConfirmationOutcome.ACCEPTED, "failed", payment.dossier_code, event)
            # pending, or a late notice of a payment already settled (out of order): nothing moves
            return Settlement(ConfirmationOutcome.ACCEPTED, f"{outcome}, payment {payment.state}: nothing changes",
                              payment.dossier_code)

    async def _paid(self, payment: Payment, reply: dict[str, Any], via: str, now: datetime) -> Settlement:
        transaction, amount = reply.get("transaction_id"), reply.get("amount")
        currency = reply.get("currency") or payment.currency
        if payment.state == "paid":
            if transaction is None or payment.transaction_id in (None, transaction):
                return Settlement(ConfirmationOutcome.DUPLICATE, "already paid", payment.dossier_code)
            payment.detail = f"a second transaction {transaction} for the paid reference (first {payment.transaction_id})"
            log.error("payment %s of %s: %s", payment.reference, payment.dossier_code, payment.detail)
            return Settlement(ConfirmationOutcome.CONFLICT, payment.detail, payment.dossier_code)
        if amount is None or transaction is None:
            return Settlement(ConfirmationOutcome.MALFORMED, "a paid confirmation needs an amount and a transaction",
                              payment.dossier_code)
        if payment.state == "mismatch" and payment.transaction_id == transaction and payment.paid_amount == amount:
            return Settlement(ConfirmationOutcome.AMOUNT_MISMATCH, payment.detail or "amount mismatch",
                              payment.dossier_code)
        if payment.state in ("mismatch", "refused"):
            return Settlement(ConfirmationOutcome.CONFLICT, f"payment is {payment.state}; an operator decides",
                              payment.dossier_code)
        payment.transaction_id, payment.paid_amount, payment.paid_currency = transaction, amount, currency
        payment.paid_at = _moment(reply.get("paid_at")) or now
        payment.settled_via = via
        if amount != payment.amount or currency != payment.currency:
            payment.state = "mismatch"
            payment.detail = (f"paid {amount} {currency} for a request of {payment.amount} {payment.currency} "
                              f"(transaction {transaction})")
            # Never taken as paid: an operator settles it with the provider (and the applicant).
            log.error("AMOUNT MISMATCH: payment %s of dossier %s at %s: %s", payment.reference,
                      payment.dossier_code, payment.provider, payment.detail)
            return Settlement(ConfirmationOutcome.AMOUNT_MISMATCH, payment.detail, payment.dossier_code)
        # Paid after the provider said it failed (the citizen tried again with the same reference):
        # the money is there, so it counts; but the one-stop system may have asked for a new payment.
        after_failure = payment.state == "failed"
        payment.state = "paid"
        payment.detail = "paid after the provider had said it failed: check for a second payment" \
            if after_failure else None
        if after_failure:
            log.error("payment %s of %s: %s", payment.reference, payment.dossier_code, payment.detail)
        event = await self.events.publish(_event(payment, PaymentEventKind.PAID, now, f"đã thanh toán ({via})"))
        return Settlement(ConfirmationOutcome.ACCEPTED, f"paid ({via})", payment.dossier_code, event,
                          raised=after_failure)

    async def receipt(self, reference: str, reply: dict[str, Any]) -> Published | None:
        """Record the receipt of a paid payment; the receipt event goes out once."""
        if not reply.get("ok") or not reply.get("receipt_number"):
            return None
        async with self.database.transaction() as session:
            payment = await _locked(session, reference)
            if payment is None or payment.state != "paid" or payment.receipt_number:
                return None
            payment.receipt_number = reply["receipt_number"]
            payment.receipt_url = reply.get("receipt_url")
            payment.updated_at = now = datetime.now(UTC)
            return await self.events.publish(_event(payment, PaymentEventKind.RECEIPT, now, "biên lai điện tử"))


async def _locked(session: AsyncSession, reference: str, provider: str | None = None) -> Payment | None:
    query = select(Payment).where(Payment.reference == reference).with_for_update()
    if provider is not None:
        query = query.where(Payment.provider == provider)
    return (await session.execute(query)).scalar_one_or_none()


def _differs(payment: Payment, reply: dict[str, Any]) -> str:
    """What in a notice disagrees with the request (amount, currency), in words; empty when nothing."""
    amount, currency = reply.get("amount"), reply.get("currency")
    if (amount is not None and amount != payment.amount) or (currency is not None and currency != payment.currency):
        return f"says {amount} {currency or payment.currency} for a request of {payment.amount} {payment.currency}"
    return ""


def _moment(value: Any) -> datetime | None:
    try:
        return aware_datetime(value).astimezone(UTC) if value else None
    except ValueError:
        return None


def payment_event(payment: Payment, kind: PaymentEventKind, message: str = "") -> PaymentEvent:
    return _event(payment, kind, datetime.now(UTC), message)


def _event(payment: Payment, kind: PaymentEventKind, now: datetime, message: str) -> PaymentEvent:
    return PaymentEvent(
        dossier_code=payment.dossier_code, kind=kind, reference=payment.reference, provider=payment.provider,
        occurred_at=now, amount_vnd=payment.paid_amount if kind is PaymentEventKind.PAID else payment.amount,
        currency=payment.currency, pay_url=payment.pay_url if kind is PaymentEventKind.REQUESTED else None,
        pay_code=payment.pay_code if kind is PaymentEventKind.REQUESTED else None,
        transaction_id=payment.transaction_id if kind in (PaymentEventKind.PAID, PaymentEventKind.RECEIPT) else None,
        paid_at=loaded(payment.paid_at) if kind in (PaymentEventKind.PAID, PaymentEventKind.RECEIPT) else None,
        receipt_number=payment.receipt_number if kind is PaymentEventKind.RECEIPT else None,
        receipt_url=payment.receipt_url if kind is PaymentEventKind.RECEIPT else None,
        message=message[:2000])
