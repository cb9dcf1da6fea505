"""The ministry role: for every partner with `connector: soap`, dossiers of its procedures go
out through the shared outbound flow (order per dossier, retries, dead letters; its own retry
topic, breaker and consumer group), and its open dossiers are polled for their status."""

import asyncio
import functools
import logging
from datetime import UTC, datetime, timedelta

from faststream.kafka import KafkaBroker

from gateway.connectors.ministry.config import soap_partners
from gateway.connectors.ministry.reports import StatusReports
from gateway.connectors.ministry.service import MinistryService
from gateway.domain import DossierSubmitted, OneGateUpdate, OneGateUpdateKind
from gateway.domain.events import DossierEvent
from gateway.reliability.breaker import BreakerOpen
from gateway.reliability.errors import FailureKind, classify
from gateway.reliability.outbound import Outcome, PartnerFlow, install_partner_flow
from gateway.runtime.background import every
from gateway.runtime.config import InvalidSettings, Settings
from gateway.runtime.messaging import Delivery
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.runtime.roles import Role, RoleContext, UnknownRole
from gateway.store import partner_dossiers
from gateway.topics import DOSSIER_EVENTS, Topic, retry_topic

log = logging.getLogger(__name__)

NAME = "ministry"


def install(broker: KafkaBroker, context: RoleContext) -> None:
    partners = soap_partners(context.settings)
    if not partners:
        return
    reports = StatusReports(broker, context.database, context.message_log, where="poll")
    updates = OneGateUpdates(broker, context.message_log, role=NAME,
                             description="Outcome of each dossier sent to a ministry service (kind synced or refused).")
    for name, settings in partners.items():
        # Loaded now: a bad WSDL, spec, option or a missing endpoint stops start-up, not each message.
        service = MinistryService(name, settings, calls=True)
        _connect(context, service)
        _install_service(broker, context, service, updates)
        polling = service.options.polling
        if polling.enabled and service.status_op is not None:
            context.background.append(functools.partial(_poll_forever, context, service, reports))


def _install_service(broker: KafkaBroker, context: RoleContext, service: MinistryService,
                     updates: OneGateUpdates) -> None:
    name, procedures = service.name, frozenset(service.options.procedures)

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        dossier = event.root.dossier
        sent, reply = await service.submit(dossier)
        receipt = reply.get("receipt_number")
        async with context.database.transaction() as session:
            await partner_dossiers.record_sent(session, name, dossier.code, status=int(dossier.status), sequence=0,
                                               dossier_record=sent, reference=receipt)
        return f"accepted, receipt {receipt or '(none)'}"

    async def lookup(key: str) -> bool:
        # An earlier submit may have reached the ministry before its worker died: ask.
        if service.status_op is None:
            return False
        code = key.rpartition(":")[0]
        try:
            report = await service.status(code, None)
        except Exception as error:
            if classify(error, service.settings.errors) is FailureKind.TRANSIENT:
                raise
            return False  # the ministry does not know it
        if not report.get("ok") or report.get("status") is None:
            return False  # an answer without a status does not prove the ministry has the dossier
        async with context.database.transaction() as session:
            await partner_dossiers.record_sent(session, name, code, status=report.get("status") or 1, sequence=0,
                                               reference=report.get("receipt_number"))
        return True

    async def report(event: DossierEvent, delivery: Delivery, outcome: Outcome) -> None:
        dossier = event.root.dossier
        update = OneGateUpdate(
            dossier_code=dossier.code, source=name, occurred_at=datetime.now(UTC), status=dossier.status,
            kind=OneGateUpdateKind.SYNCED if outcome.delivered else OneGateUpdateKind.REFUSED,
            message=(f"Đã gửi hồ sơ sang {service.title}: {outcome.detail}" if outcome.delivered
                     else f"{service.title} không nhận hồ sơ: {outcome.detail}")[:2000])
        await updates.tell(update, delivery, f"{name}-{update.kind.value}")

    install_partner_flow(broker, context, PartnerFlow(
        connector=name,
        source=DOSSIER_EVENTS,
        idempotency_key=lambda event: event.step_key,
        applies_to=lambda event: isinstance(event.root, DossierSubmitted)
        and event.root.dossier.procedure_code in procedures,
        call=call,
        lookup=lookup,
        report=report,
        description=f"Sends dossiers of procedures {', '.join(sorted(procedures))} to {service.title} "
                    f"({service.submit_op.name}).",
    ))


def _connect(context: RoleContext, service: MinistryService) -> None:
    if not service.connected:
        try:
            service.connect(context.endpoint(service.name))
        except UnknownRole as error:
            raise InvalidSettings([str(error)]) from None


async def _poll_forever(context: RoleContext, service: MinistryService, reports: StatusReports) -> None:
    await every(service.options.polling.interval_s, context.stopping,
                lambda: poll_once(context, service, reports), f"{service.name} polling")


async def poll_once(context: RoleContext, service: MinistryService, reports: StatusReports) -> dict[str, int]:
    """Ask the status of each open dossier of the service; returns what happened, by outcome."""
    polling = service.options.polling
    now = datetime.now(UTC)
    async with context.database.transaction() as session:
        # Claimed (polled_at = now): another worker's round skips them, and the next round starts
        # with those asked longest ago, so a large backlog is walked through, not starved.
        open_dossiers = await partner_dossiers.claim_for_polling(
            session, service.name, [int(status) for status in polling.final_statuses], polling.batch,
            not_asked_since=now - timedelta(seconds=polling.interval_s * 0.9), now=now)
    breaker = context.breakers.for_partner(service.name, service.settings.breaker)
    limit = asyncio.Semaphore(polling.concurrency)
    outcomes: dict[str, int] = {}

    async def ask(code: str, receipt: str | None) -> None:
        async with limit:
            try:
                outcome = await _ask_one(service, reports, breaker, code, receipt)
            except Exception as error:  # one dossier's trouble never ends the round for the others
                if classify(error) is FailureKind.INFRASTRUCTURE:
                    log.warning("%s: status of %s not recorded (%s); asked again next round", service.name, code, error)
                else:
                    log.warning("%s: status report of %s refused: %s", service.name, code, error)
                outcome = "error"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            context.counters.add(service.name, f"poll_{outcome.replace('-', '_')}")

    await asyncio.gather(*(ask(row.dossier_code, row.reference) for row in open_dossiers))
    return outcomes


async def _ask_one(service: MinistryService, reports: StatusReports, breaker, code: str, receipt: str | None) -> str:
    try:
        breaker.before_call()
    except BreakerOpen:
        return "breaker-open"
    try:
        report = await service.status(code, receipt)
    except Exception as error:
        if classify(error, service.settings.errors) is FailureKind.TRANSIENT:
            breaker.failed(error)
        else:
            breaker.answered_with_error(error)  # it answered
        log.warning("%s: status of %s: %s", service.name, code, error)
        return "error"
    breaker.succeeded()
    if not report.get("ok"):
        log.warning("%s: status of %s: %s", service.name, code, report.get("reason"))
        return "error"
    if service.awaits_result(report):
        return "result-pending"  # processed, but its result is not ready: asked again next round
    return (await reports.accept(service.name, service.title, report, dossier_code=code, channel="poll")).outcome


def own_topics(settings: Settings) -> tuple[Topic, ...]:
    return tuple(retry_topic(name, DOSSIER_EVENTS) for name in soap_partners(settings))


ROLE = Role(
    name=NAME,
    description="ministry services over SOAP (partners with connector: soap): sends dossiers, polls their status",
    install=install,
    topics_for=own_topics,
    takes_every_dossier=False,
)
