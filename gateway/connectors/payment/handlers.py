"""The payments role: for every partner with `connector: payment`, a fee assessment (status 6
with fee_assessment) naming it, or naming none when it is the default, becomes one payment at
that provider through the shared outbound flow (order per dossier, retries, breaker, dead
letters; its own consumer group and retry topic). The one-stop system hears where to pay, or
why the provider refused. Beside it runs the provider's reconciliation round (reconcile.py)."""

import functools
from datetime import timedelta

import httpx
from faststream.kafka import KafkaBroker

from gateway.connectors.json_api import partner_endpoint
from gateway.connectors.payment.client import PaymentClient
from gateway.connectors.payment.config import PaymentProvider, load_providers, payment_partners
from gateway.connectors.payment.ledger import PaymentEvents, PaymentLedger, payment_event, reference_for
from gateway.connectors.payment.reconcile import reconcile_forever
from gateway.domain import DossierEvent, DossierStatus, DossierStatusChanged, PaymentEventKind, StatusChange
from gateway.reliability.errors import PermanentError
from gateway.reliability.outbound import Outcome, PartnerFlow, install_partner_flow
from gateway.runtime.config import Settings
from gateway.runtime.messaging import Delivery
from gateway.runtime.roles import Role, RoleContext
from gateway.store.tables import Payment
from gateway.topics import DOSSIER_EVENTS, Topic, retry_topic

NAME = "payments"


def install(broker: KafkaBroker, context: RoleContext) -> None:
    providers = load_providers(context.settings)
    if not providers:
        return
    events = PaymentEvents(broker, context.message_log, role=NAME,
                           description="Where to pay (requested) or why a provider refused (refused); paid, failed "
                                       "and receipt events found by reconciliation.")
    ledger = PaymentLedger(context.database, events)
    default = next((name for name, provider in providers.items() if provider.options.default), None)
    for name, provider in providers.items():
        client = provider_client(context, provider)
        _install_provider(broker, context, provider, client, ledger, is_default=name == default)
        context.background.append(functools.partial(reconcile_forever, context, provider, client, ledger))


def provider_client(context: RoleContext, provider: PaymentProvider) -> PaymentClient:
    return PaymentClient(provider, partner_endpoint(context, provider.name),
                         httpx.AsyncClient(timeout=provider.settings.timeout_s))


def assessment_of(event: DossierEvent) -> StatusChange | None:
    """The status change when it asks for a payment (status 6 with a fee assessment)."""
    inner = event.root
    if not isinstance(inner, DossierStatusChanged):
        return None
    change = inner.status_change
    if change.status != DossierStatus.PAYMENT_REQUIRED or change.fee_assessment is None or change.reported_by:
        return None
    return change


def _install_provider(broker: KafkaBroker, context: RoleContext, provider: PaymentProvider, client: PaymentClient,
                      ledger: PaymentLedger, *, is_default: bool) -> None:
    name, options = provider.name, provider.options
    configured = frozenset(payment_partners(context.settings))

    def applies_to(event: DossierEvent) -> bool:
        change = assessment_of(event)
        if change is None:
            return False
        chosen = change.fee_assessment.provider
        # The default provider also answers for a provider that is not configured (it refuses it),
        # so the one-stop system always hears back.
        return chosen == name or (is_default and (chosen is None or chosen not in configured))

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        change = assessment_of(event)
        assessment = change.fee_assessment
        if assessment.provider is not None and assessment.provider not in configured:
            raise PermanentError(f"no payment provider '{assessment.provider}' is configured (or it is disabled); "
                                 f"configured: {', '.join(sorted(configured))}", code="no-provider")
        reference = reference_for(event.step_key)
        payment = await ledger.open(
            provider=name, reference=reference, dossier_code=change.dossier_code, step_key=event.step_key,
            amount=assessment.total_vnd, currency=options.currency,
            fees=[fee.model_dump(mode="json") for fee in assessment.fees])
        if payment.state != "created":
            return f"payment {reference} already {payment.state}"  # an earlier delivery created it
        created_at = change.changed_at
        request = {
            "reference": reference, "amount": payment.amount, "currency": payment.currency,
            "description": f"Phí, lệ phí hồ sơ {change.dossier_code}",
            "created_at": created_at.isoformat(),
            "expires_at": (created_at + timedelta(seconds=options.payment_ttl_s)).isoformat(),
            "payer_name": assessment.payer_name,
            "dossier": {"code": change.dossier_code, "procedure_code": assessment.procedure_code,
                        "procedure_name": assessment.procedure_name, "agency_code": assessment.agency_code},
            "fees": [fee.model_dump(mode="json") for fee in assessment.fees],
        }
        reply = await client.create(request)
        await ledger.created(reference, reply)
        return f"payment {reference} open: {reply.get('pay_url') or reply.get('pay_code')}"

    async def report(event: DossierEvent, delivery: Delivery, outcome: Outcome) -> None:
        reference = reference_for(event.step_key)
        payment = await (ledger.get(reference) if outcome.delivered else ledger.refused(reference, outcome.detail))
        if payment is None:  # refused before it was recorded: nothing the one-stop system can pay
            payment = unrecorded_payment(event, name, options.currency, reference)
        elif payment.state not in ("open", "refused"):
            return  # it moved on (paid, failed, ...): that was told already
        kind = PaymentEventKind.REQUESTED if payment.state == "open" else PaymentEventKind.REFUSED
        message = (f"Thanh toán qua {provider.title}" if outcome.delivered
                   else f"{provider.title} không tạo được yêu cầu thanh toán: {outcome.detail}")
        published = await ledger.events.publish(payment_event(payment, kind, message))
        await ledger.events.log(published, kind.value)

    install_partner_flow(broker, context, PartnerFlow(
        connector=name,
        source=DOSSIER_EVENTS,
        idempotency_key=lambda event: event.step_key,
        applies_to=applies_to,
        call=call,
        report=report,
        description=f"Creates the payment of each fee assessment (status 6) at {provider.title}"
                    + (" (also those naming no provider)" if is_default else "") + ".",
    ))


def unrecorded_payment(event: DossierEvent, provider: str, currency: str, reference: str) -> Payment:
    """A payment never recorded (refused before: no such provider), for the refusal event."""
    change = assessment_of(event)
    return Payment(reference=reference, provider=provider, dossier_code=change.dossier_code,
                   amount=change.fee_assessment.total_vnd, currency=currency, state="refused")


def own_topics(settings: Settings) -> tuple[Topic, ...]:
    return tuple(retry_topic(name, DOSSIER_EVENTS) for name in payment_partners(settings))


ROLE = Role(
    name=NAME,
    description="fee payments (partners with connector: payment): creates payments, reconciles them",
    install=install,
    topics_for=own_topics,
    takes_every_dossier=False,
)
