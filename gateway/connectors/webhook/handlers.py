"""The webhook role: dossier events in, one POST per event out, through the shared outbound flow."""

import functools

import httpx
from faststream.kafka import KafkaBroker

from gateway.connectors.webhook.client import WebhookClient
from gateway.domain.events import DossierEvent
from gateway.reliability.outbound import PartnerFlow, install_partner_flow
from gateway.runtime.messaging import Delivery
from gateway.runtime.roles import Role, RoleContext
from gateway.topics import DOSSIER_EVENTS, retry_topic

NAME = "webhook"


def install(broker: KafkaBroker, context: RoleContext) -> None:
    settings = context.partner(NAME)

    @functools.cache  # built on first use: the endpoint may be a simulator started in this process
    def client() -> WebhookClient:
        token = settings.credential("token") if "token" in settings.credentials else None
        return WebhookClient(httpx.AsyncClient(timeout=settings.timeout_s), context.endpoint(NAME), token)

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        return await client().send(delivery.raw.value, key=event.step_key, message_id=delivery.message_id)

    async def lookup(key: str) -> bool:
        return await client().has(key)

    install_partner_flow(broker, context, PartnerFlow(
        connector=NAME,
        source=DOSSIER_EVENTS,
        idempotency_key=lambda event: event.step_key,
        call=call,
        lookup=lookup,
        description="Forwards each dossier event to the webhook endpoint (partners.webhook).",
    ))


ROLE = Role(
    name=NAME,
    description="dossier-event webhook: POSTs every dossier event to partners.webhook.endpoint",
    install=install,
    topics=(retry_topic(NAME, DOSSIER_EVENTS),),
)
