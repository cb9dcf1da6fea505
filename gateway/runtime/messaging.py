"""Publishing and consuming gateway messages: the envelope on the way out, validation on the way in."""

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.publisher import DefaultPublisher as KafkaPublisher
from pydantic import BaseModel, ValidationError

from gateway.domain.envelope import EnvelopeHeaders
from gateway.reliability.errors import FailureKind, classify
from gateway.runtime.config import KafkaSettings
from gateway.topics import Topic

if TYPE_CHECKING:
    from gateway.ops.flow_counters import Direction, FlowCounters
    from gateway.reliability.dead_letters import DeadLetters

log = logging.getLogger(__name__)

# Pause before an infrastructure failure makes the message come again, so a database
# or broker outage is not hammered in a tight loop.
REDELIVERY_PAUSE_S = 1.0


@dataclass(frozen=True)
class Published:
    headers: EnvelopeHeaders
    metadata: RecordMetadata
    payload: bytes  # exactly what went to Kafka (for the message log's digest)


async def publish(
    publisher: KafkaPublisher,
    body: BaseModel,
    *,
    dossier_code: str,
    source_system: str,
    message_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> Published:
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
    payload = body.model_dump_json().encode()
    metadata = await publisher.publish(
        payload,
        key=dossier_code.encode(),
        headers={"content-type": "application/json", **headers.to_kafka()},
        correlation_id=dossier_code,
    )
    return Published(headers, metadata, payload)


@dataclass(frozen=True)
class RawMessage:
    """A Kafka record as it was read: enough to put it back exactly."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int | None = None  # when it was written to its topic

    @property
    def key_text(self) -> str:
        return (self.key or b"").decode(errors="replace")

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Delivery:
    """One consumed message: its envelope and the record it came in."""

    headers: EnvelopeHeaders
    raw: RawMessage
    enveloped: bool  # False when the producer set no envelope headers (ids were derived)

    @property
    def message_id(self) -> str:
        return self.headers.message_id

    @property
    def dossier_code(self) -> str:
        return self.headers.correlation_id


class InvalidMessage(ValueError):
    """The body does not match the topic's schema (a poison pill): it goes to the dead letters."""


Handler = Callable[[Any, Delivery], Awaitable[None]]


def subscribe(
    broker: KafkaBroker,
    topic: Topic,
    *,
    kafka: KafkaSettings,
    connector: str,
    dead_letters: "DeadLetters",
    counters: "FlowCounters",
    title: str,
    description: str,
    group: str | None = None,
    direction: "Direction" = "out",
) -> Callable[[Handler], Handler]:
    """Register `handler(body, delivery)` for `topic` in the consumer group of `connector`.

    The offset is committed only when the message's work is finished or the message is parked
    durably: the handler returned, or the message went to the dead letters (a body that does not
    match the topic's schema; an error the handler let through that is not the gateway's own
    infrastructure failing). When Kafka or the database fails, nothing is committed: the message
    is read again after a pause, before any later message of its partition.
    """

    counters.declare(connector, direction, (group or f"gateway.{connector}", topic.name))

    def register(handler: Handler) -> Handler:
        async def consume(body: Any) -> None:
            message: KafkaMessage = broker.context.get_local("message")
            try:
                delivery = _delivery_of(message, topic)
                await _handle(handler, delivery, topic, connector, dead_letters, counters)
            except Exception as error:  # noqa: BLE001 - nothing is committed; the message comes again
                record = message.raw_message
                log.error("%s: %s[%s]@%s failed (%s: %s); it will be read again", connector, record.topic,
                          record.partition, record.offset, type(error).__name__, error)
                await asyncio.sleep(REDELIVERY_PAUSE_S)
                await message.nack()
                return
            await _commit(message, connector)

        consume.__annotations__ = {"body": topic.body, "return": None}
        consume.__name__ = consume.__qualname__ = handler.__name__
        consume.__doc__ = handler.__doc__
        broker.subscriber(
            topic.name,
            group_id=group or f"gateway.{connector}",
            ack_policy=AckPolicy.MANUAL,
            parser=_tolerant_parser,
            decoder=_raw_body,
            auto_offset_reset="earliest",
            # Several consumers of one group: partitions are worked side by side, each in order,
            # and each consumer commits only the partitions it owns.
            max_workers=kafka.consumers_per_subscription,
            session_timeout_ms=kafka.effective_session_timeout_ms,
            heartbeat_interval_ms=max(250, kafka.effective_session_timeout_ms // 4),
            title=title,
            description=description,
        )(consume)
        return handler

    return register


async def _commit(message: KafkaMessage, connector: str) -> None:
    """Commit a finished message's offset. A commit can fail when the group changes under the
    consumer (a rebalance, or this consumer leaving the group while stopping): the work is done
    and recorded, so the message read again by the next owner is recognised as a duplicate."""
    try:
        await message.ack()
    except KafkaError as error:
        record = message.raw_message
        log.warning("%s: %s[%s]@%s handled, but its offset was not committed (%s); it will be read again "
                    "and taken as a duplicate", connector, record.topic, record.partition, record.offset,
                    type(error).__name__)


async def _tolerant_parser(record: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes header values as UTF-8 before any handler runs; one that is not (or a
    null value) would make the message fail there, where nothing dead-letters it."""
    headers = tuple(record.headers or ())
    if all(value is not None and _is_utf8(value) for _, value in headers):
        return await original(record)
    cleaned = dataclasses.replace(record, headers=tuple(
        (name, (value or b"").decode(errors="replace").encode()) for name, value in headers))
    if hasattr(record, "consumer"):  # set by FastStream's concurrent subscriber; replace() drops it
        cleaned.consumer = record.consumer
    return await original(cleaned)


async def _raw_body(message: Any) -> bytes:
    """The handler validates bodies itself: FastStream's JSON decoding of an invalid body would
    fail before the handler could dead-letter it."""
    return message.body


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


async def _handle(handler: Handler, delivery: Delivery, topic: Topic, connector: str,
                  dead_letters: "DeadLetters", counters: "FlowCounters") -> None:
    """Run the handler; dead-letter what it cannot take. Raises only what must not be committed."""
    try:
        parsed = topic.body.model_validate_json(delivery.raw.value)
        if not delivery.dossier_code and getattr(parsed, "dossier_code", None):  # a producer that set no key
            delivery = dataclasses.replace(
                delivery, headers=delivery.headers.model_copy(update={"correlation_id": parsed.dossier_code}))
        _check_identity(delivery)
    except (ValidationError, InvalidMessage) as error:
        reason = error if isinstance(error, InvalidMessage) else InvalidMessage(_explain(error))
        await dead_letters.bury(connector, delivery.raw, attempts=0, error=reason,
                                message_id=delivery.message_id[:MESSAGE_ID_MAX],
                                dossier_code=delivery.dossier_code[:DOSSIER_CODE_MAX])
        counters.add(connector, "rejected")
        return
    try:
        await handler(parsed, delivery)
    except Exception as error:
        if classify(error) is FailureKind.INFRASTRUCTURE:
            raise
        await dead_letters.bury(connector, delivery.raw, attempts=1, error=error,
                                message_id=delivery.message_id, dossier_code=delivery.dossier_code)
        counters.add(connector, "dead_lettered")
        return
    if delivery.raw.timestamp_ms:
        counters.observe_latency(connector, time.time() - delivery.raw.timestamp_ms / 1000)


# Widths of the store's columns: longer identifiers are refused at the door, not by the database.
MESSAGE_ID_MAX = 100
DOSSIER_CODE_MAX = 64


def _check_identity(delivery: Delivery) -> None:
    if len(delivery.message_id) > MESSAGE_ID_MAX:
        raise InvalidMessage(f"message_id is longer than {MESSAGE_ID_MAX} characters")
    if not delivery.dossier_code or len(delivery.dossier_code) > DOSSIER_CODE_MAX:
        raise InvalidMessage(f"the dossier code (key or correlation_id) must have 1 to {DOSSIER_CODE_MAX} characters")


def _delivery_of(message: KafkaMessage, topic: Topic) -> Delivery:
    record = message.raw_message
    headers = message.headers
    raw = RawMessage(topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
                     value=record.value or b"", headers=dict(headers), timestamp_ms=record.timestamp)
    # A producer that does not set the envelope (the one-stop system writing to the topic
    # directly) still gets a stable message id: its position in the log.
    envelope = EnvelopeHeaders(
        message_id=headers.get("message_id") or f"{record.topic}:{record.partition}:{record.offset}",
        correlation_id=headers.get("correlation_id") or raw.key_text,
        causation_id=headers.get("causation_id"),
        source_system=headers.get("source_system") or "unknown",
        schema_name=headers.get("schema_name") or topic.body.schema_name,
        schema_version=headers.get("schema_version") or topic.body.schema_version,
        occurred_at=headers.get("occurred_at") or "",
        traceparent=headers.get("traceparent"),
    )
    return Delivery(headers=envelope, raw=raw, enveloped="message_id" in headers)


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}" for problem in error.errors()
    )
