"""Telling the one-stop system something about a dossier: a OneGateUpdate on onegate.updates,
caused by a message the gateway consumed, and its record in the message log. Every role that
reports back (the ledger's acknowledgements, partners' outcomes) goes through here."""

from faststream.kafka import KafkaBroker

from gateway.audit.message_log import MessageLog
from gateway.domain import OneGateUpdate
from gateway.domain.envelope import derived_message_id
from gateway.runtime.messaging import Delivery, Published, publish
from gateway.topics import ONEGATE_UPDATES


class OneGateUpdates:
    def __init__(self, broker: KafkaBroker, message_log: MessageLog, *, role: str, description: str) -> None:
        self.publisher = broker.publisher(ONEGATE_UPDATES.name, title=f"{ONEGATE_UPDATES.name}:{role}",
                                          description=description, schema=OneGateUpdate)
        self.message_log = message_log

    async def publish(self, update: OneGateUpdate, cause: Delivery, purpose: str) -> Published:
        """Publish with an id derived from the cause: a redelivered cause publishes the same id
        again, which the one-stop system drops as a duplicate."""
        return await self.publish_for(update, cause.message_id, purpose, traceparent=cause.headers.traceparent)

    async def publish_for(self, update: OneGateUpdate, cause_id: str, purpose: str,
                          traceparent: str | None = None) -> Published:
        """The same, for a cause that is not a consumed message (a partner's report, by its own id)."""
        return await publish(self.publisher, update, dossier_code=update.dossier_code, source_system=update.source,
                             message_id=derived_message_id(cause_id, purpose), causation_id=cause_id,
                             traceparent=traceparent)

    async def log(self, published: Published, outcome: str) -> None:
        await self.message_log.record(direction="out", channel="kafka", partner="onegate",
                                      message_id=published.headers.message_id,
                                      dossier_code=published.headers.correlation_id,
                                      payload=published.payload, outcome=outcome)

    async def tell(self, update: OneGateUpdate, cause: Delivery, purpose: str) -> Published:
        published = await self.publish(update, cause, purpose)
        await self.log(published, update.kind.value)
        return published
