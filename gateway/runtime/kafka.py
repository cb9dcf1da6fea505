"""The FastStream Kafka broker of the gateway and the topics it needs."""

import asyncio
import logging
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream._internal.endpoint.subscriber.usecase import SubscriberUsecase
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry

from gateway.runtime.config import KafkaSettings
from gateway.topics import Topic

log = logging.getLogger(__name__)
kafka_log = logging.getLogger("gateway.kafka")


class _FastStreamNoise(logging.Filter):
    """Lines FastStream writes that tell an operator nothing: a warning on every subscriber that
    auto-creation is off (here that is the design), and a line per consumer task at shutdown."""

    NOISE = ("Auto create topics is disabled", "is being executed...")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


kafka_log.addFilter(_FastStreamNoise())


class BrokerUnavailable(RuntimeError):
    """Kafka cannot be reached: an infrastructure failure."""


def producer_options(settings: KafkaSettings) -> dict:
    """Every write is confirmed by all in-sync replicas before a publish returns. Idempotence
    (no duplicates from producer retries) on real Kafka; the embedded broker cannot do it."""
    idempotent = settings.idempotent_producer if settings.idempotent_producer is not None else not settings.embedded
    return {"acks": "all", "enable_idempotence": idempotent, "request_timeout_ms": settings.request_timeout_ms}


def build_broker(settings: KafkaSettings, bootstrap: str, registry: CollectorRegistry | None = None) -> KafkaBroker:
    middlewares = [KafkaPrometheusMiddleware(registry=registry, app_name="gateway")] if registry else []
    return KafkaBroker(
        bootstrap,
        client_id=settings.client_id,
        **producer_options(settings),
        allow_auto_create_topics=False,  # topics are created on purpose, with their partition counts
        security=_security(settings),
        apply_types=False,  # handlers validate bodies themselves, to answer bad input with a clear error
        middlewares=middlewares,
        logger=kafka_log,
        log_level=logging.DEBUG,  # one line per message is for debugging, not for production logs
        graceful_timeout=15.0,
    )


async def stop_broker(broker: KafkaBroker) -> None:
    """Stop taking messages, let those in hand finish and commit, then leave the groups.

    FastStream's subscriber with several consumers in a group (`consumers_per_subscription` > 1)
    leaves the group before its messages in hand finish: their commits then fail and they are
    read again after a restart. Its base class's stop is the drain step alone (no new message,
    wait up to the broker's graceful_timeout), so every subscriber does that first.
    """
    await asyncio.gather(*(SubscriberUsecase.stop(subscriber) for subscriber in broker.subscribers))
    await broker.stop()


def _security(settings: KafkaSettings):
    if settings.sasl_mechanism is None:
        return None
    password = os.environ.get(settings.sasl_password_env or "", "")
    use_ssl = settings.security_protocol == "SASL_SSL"
    kinds = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return kinds[settings.sasl_mechanism](username=settings.sasl_username or "", password=password, use_ssl=use_ssl)


async def ensure_topics(settings: KafkaSettings, bootstrap: str, topics: list[Topic]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{settings.client_id}-admin")
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(topic.name, settings.partitions_for(topic.name), settings.replication_factor)
            for topic in topics
            if topic.name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, message in getattr(response, "topic_errors", []):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise BrokerUnavailable(f"cannot create topic {name}: error {code} {message}")
        return [topic.name for topic in missing]
    except KafkaError as error:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap} to create topics: {error}") from error
    finally:
        await admin.close()


async def start_broker(broker: KafkaBroker) -> None:
    """KafkaBroker.start(), with the subscribers joining their consumer groups side by side:
    each join waits for the group's first assignment (about half a session timeout), so one
    after another, start-up grew with every role. Mirrors FastStream 0.7's own start()."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True
