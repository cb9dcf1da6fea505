"""The signatures role: each document of a submitted dossier is downloaded from the one-stop
system's file store, verified, and the report published on onegate.signature-checks for the
one-stop system's automatic technical check on submission.

It runs through the shared PartnerFlow (its own consumer group, retry topic, circuit breaker and
dead letters, under partners.signatures): a file store outage parks the dossier and retries it,
it never drops it. Every check's message id is derived from the dossier event and the document's
place in it, so a dossier verified twice publishes the same ids again.
"""

import functools
import hashlib
import logging
from datetime import UTC, datetime

import httpx
from faststream.kafka import KafkaBroker

from gateway.domain import DossierSubmitted
from gateway.domain.dossier import DossierDocument
from gateway.domain.envelope import derived_message_id
from gateway.domain.events import DossierEvent
from gateway.domain.signature_check import SignatureCheck, SignatureCheckOutcome
from gateway.reliability.errors import PermanentError
from gateway.reliability.outbound import PartnerFlow, install_partner_flow
from gateway.runtime.messaging import Delivery, publish
from gateway.runtime.roles import Role, RoleContext
from gateway.signing.documents import download, download_refusal
from gateway.signing.workers import shared_workers
from gateway.topics import DOSSIER_EVENTS, SIGNATURE_CHECKS, retry_topic

log = logging.getLogger(__name__)

NAME = "signatures"
DETAIL_MAX = 2000  # SignatureCheck.detail


def install(broker: KafkaBroker, context: RoleContext) -> None:
    settings = context.settings.signing
    if not settings.document_url_prefixes:  # like a connector without partners: nothing to do
        log.info("signature checks of submitted documents are off: signing.document_url_prefixes is empty")
        return
    checks = broker.publisher(SIGNATURE_CHECKS.name, title=f"{SIGNATURE_CHECKS.name}:{NAME}", schema=SignatureCheck,
                              description="One verification report per signed document of a submitted dossier.")
    workers = shared_workers(settings)

    @functools.cache
    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(follow_redirects=False)

    async def check(document: DossierDocument, dossier_code: str) -> SignatureCheck:
        facts = dict(dossier_code=dossier_code, document_name=document.name, document_code=document.code,
                     document_url=document.url)
        urls = [document.url] + ([document.signature_url] if document.signature_url else [])
        refusal = next((f"{url}: {why}" for url in urls if (why := download_refusal(url, settings))), None)
        if refusal is not None:
            return SignatureCheck(**facts, checked_at=datetime.now(UTC), outcome=SignatureCheckOutcome.NOT_DOWNLOADED,
                                  detail=refusal[:DETAIL_MAX])
        try:  # a TransientError (file store down) goes up: the flow retries the dossier later
            data = await download(client(), document.url, settings)
            signature = await download(client(), document.signature_url, settings) if document.signature_url else None
        except PermanentError as error:
            return SignatureCheck(**facts, checked_at=datetime.now(UTC), outcome=SignatureCheckOutcome.NOT_DOWNLOADED,
                                  detail=str(error)[:DETAIL_MAX])
        report = await workers.verify(data, signature=signature,
                                      policy="certified_copy" if document.certified_copy else "signature")
        return SignatureCheck(**facts, checked_at=datetime.now(UTC), outcome=SignatureCheckOutcome.VERIFIED,
                              detail=f"{report.indication.value}" + (f" / {report.sub_indication.value}"
                                                                     if report.sub_indication else ""),
                              report=report)

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        submitted: DossierSubmitted = event.root
        # Every document first, then the reports: a file store outage half-way publishes nothing,
        # and the retry publishes each report once, under the id derived from its place
        results = [(index, await check(document, submitted.dossier_code))
                   for index, document in enumerate(submitted.dossier.documents) if document.url]
        counts: dict[str, int] = {}
        for index, result in results:
            published = await publish(checks, result, dossier_code=result.dossier_code, source_system="gateway",
                                      message_id=derived_message_id(delivery.message_id, f"signature-check:{index}"),
                                      causation_id=delivery.message_id, traceparent=delivery.headers.traceparent)
            await context.message_log.record(direction="out", channel="kafka", partner="onegate",
                                             message_id=published.headers.message_id,
                                             dossier_code=result.dossier_code, payload=published.payload,
                                             outcome=result.report.indication.value if result.report else result.outcome)
            label = result.report.indication.value if result.report else result.outcome.value
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{count} {label}" for label, count in sorted(counts.items()))

    install_partner_flow(broker, context, PartnerFlow(
        connector=NAME,
        source=DOSSIER_EVENTS,
        idempotency_key=documents_key,
        call=call,
        applies_to=lambda event: isinstance(event.root, DossierSubmitted)
        and any(document.url for document in event.root.dossier.documents),
        description="Verifies the signed documents of each submitted dossier; reports on onegate.signature-checks.",
    ))


def documents_key(event: DossierEvent) -> str:
    """The same dossier sent again is verified once; sent again with other documents, again."""
    documents = [(d.url, d.signature_url, d.certified_copy) for d in event.root.dossier.documents if d.url]
    return f"{event.root.dossier_code}:signatures:{hashlib.sha256(repr(documents).encode()).hexdigest()[:16]}"


ROLE = Role(
    name=NAME,
    description="signature checks: verifies each submitted dossier's signed documents, reports for the one-stop system",
    install=install,
    topics=(retry_topic(NAME, DOSSIER_EVENTS),),
    takes_every_dossier=False,  # only dossiers with documents to fetch
)
