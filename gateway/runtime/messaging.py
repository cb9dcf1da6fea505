"""Publishing and consuming gateway messages: the envelope on the way out, validation on the way in."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import RecordMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.publisher import DefaultPublisher as KafkaPublisher
from pydantic import BaseModel, ValidationError

from gateway.domain.envelope import EnvelopeHeaders
from gateway.runtime.config import KafkaSettings
from gateway.topics import Topic

log = logging.getLogger(__name__)

# Pause before an infrastructure failure makes the message come again, so a database
# or broker outage is not hammered in a tight loop.
REDELIVERY_PAUSE_S = 1.0


async def publish(
    publisher: KafkaPublisher,
    body: BaseModel,
    *,
    dossier_code: str,
    source_system: str,
    message_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> tuple[EnvelopeHeaders, RecordMetadata]:
    """Publish `body` keyed by the dossier code; returns once the broker acknowledged the write."""
    headers = EnvelopeHeaders.new(
        correlation_id=dossier_code,
        source_system=source_system,
        schema_name=body.schema_name,
        schema_version=body.schema_version,
        message_id=message_id,
        causation_id=causation_id,
        traceparent=traceparent,
    )
    metadata = await publisher.publish(
        body.model_dump(mode="json"),
        key=dossier_code.encode(),
        headers=headers.to_kafka(),
        correlation_id=dossier_code,
    )
    return headers, metadata


@dataclass(frozen=True)
class Delivery:
    """One consumed message: its envelope and where it sits in Kafka."""

    headers: EnvelopeHeaders
    topic: str
    partition: int
    offset: int


Handler = Callable[[Any, Delivery], Awaitable[None]]
Rejecter = Callable[[str, Delivery], Awaitable[None]]


def subscribe(
    broker: KafkaBroker,
    topic: Topic,
    *,
    kafka: KafkaSettings,
    group: str,
    title: str,
    description: str,
    on_invalid: Rejecter,
) -> Callable[[Handler], Handler]:
    """Register `handler(body, delivery)` for `topic` in consumer group `group`.

    The offset is committed only after the handler returned. A body that does not match the
    topic's schema goes to `on_invalid` and is committed; any other error makes the message
    come again after a pause (the handler must be idempotent, see reliability.idempotency).
    """

    def register(handler: Handler) -> Handler:
        async def consume(body: Any) -> None:
            message: KafkaMessage = broker.context.get_local("message")
            delivery = _delivery_of(message, topic)
            try:
                parsed = topic.body.model_validate_json(message.body)
            except ValidationError as error:
                await on_invalid(_explain(error), delivery)
                await message.ack()
                return
            try:
                await handler(parsed, delivery)
            except Exception:
                log.exception(
                    "%s failed on %s[%s]@%s; it will come again", title, delivery.topic, delivery.partition, delivery.offset
                )
                await asyncio.sleep(REDELIVERY_PAUSE_S)
                await message.nack()
                return
            await message.ack()

        consume.__annotations__ = {"body": topic.body, "return": None}
        consume.__name__ = consume.__qualname__ = handler.__name__
        consume.__doc__ = handler.__doc__
        broker.subscriber(
            topic.name,
            group_id=group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            session_timeout_ms=kafka.effective_session_timeout_ms,
            heartbeat_interval_ms=max(250, kafka.effective_session_timeout_ms // 4),
            title=title,
            description=description,
        )(consume)
        return handler

    return register


def _delivery_of(message: KafkaMessage, topic: Topic) -> Delivery:
    record = message.raw_message
    headers = message.headers
    key = (record.key or b"").decode(errors="replace")
    # A producer that does not set the envelope (the one-stop system writing to the topic
    # directly) still gets a stable message id: its position in the log.
    envelope = EnvelopeHeaders(
        message_id=headers.get("message_id") or f"{record.topic}:{record.partition}:{record.offset}",
        correlation_id=headers.get("correlation_id") or key,
        causation_id=headers.get("causation_id"),
        source_system=headers.get("source_system") or "unknown",
        schema_name=headers.get("schema_name") or topic.body.schema_name,
        schema_version=headers.get("schema_version") or topic.body.schema_version,
        occurred_at=headers.get("occurred_at") or "",
        traceparent=headers.get("traceparent"),
    )
    return Delivery(headers=envelope, topic=record.topic, partition=record.partition, offset=record.offset)


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}" for problem in error.errors()
    )
