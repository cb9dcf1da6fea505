"""Every Kafka topic of the gateway, named in one place.

Each topic's key is the dossier code, so all events of one dossier stay in order on one
partition. Partition counts come from configuration (kafka.partitions, kafka.topic_partitions).
"""

from dataclasses import dataclass

from pydantic import BaseModel

from gateway.domain import DossierEvent, OneGateUpdate, PaymentEvent
from gateway.domain.signature_check import SignatureCheck


@dataclass(frozen=True)
class Topic:
    name: str
    body: type[BaseModel]
    description: str


DOSSIER_EVENTS = Topic(
    name="onegate.dossier-events",
    body=DossierEvent,
    description=(
        "Dossier events from the one-stop system (một cửa điện tử): new dossiers and status "
        "changes. Published by the one-stop system directly or through POST /api/v1/dossiers/events."
    ),
)

ONEGATE_UPDATES = Topic(
    name="onegate.updates",
    body=OneGateUpdate,
    description=(
        "What the one-stop system should show on a dossier: acknowledgements, processing status "
        "and results from ministries, receipts, postal tracking. The one-stop system consumes it."
    ),
)

PAYMENTS = Topic(
    name="onegate.payments",
    body=PaymentEvent,
    description=(
        "Fee payments for the one-stop system: where to pay (requested), paid, receipt (biên lai), "
        "failed, refused. Each kind once per payment reference; the one-stop system advances the dossier on paid."
    ),
)

SIGNATURE_CHECKS = Topic(
    name="onegate.signature-checks",
    body=SignatureCheck,
    description=(
        "The gateway's verification of each signed document of a submitted dossier (PDF, XML e-form, "
        ".p7s; certified copies under their policy): the ETSI indication and the full report. "
        "Feeds the one-stop system's automatic technical check. One message per document."
    ),
)

DEAD_LETTERS = Topic(
    name="gateway.dead-letters",
    body=DossierEvent,
    description=(
        "Messages a connector gave up on: the original key, value and headers, plus dlq_* headers "
        "(source topic, partition, offset, connector, attempts, exception class and message, time, "
        "dlq_id for `gateway dlq show`). The value is whatever the source topic carried."
    ),
)

ALL_TOPICS: tuple[Topic, ...] = (DOSSIER_EVENTS, ONEGATE_UPDATES, PAYMENTS, SIGNATURE_CHECKS, DEAD_LETTERS)

RETRY_TOPIC_PREFIX = "gateway.retry."


def retry_topic_name(connector: str) -> str:
    """Each connector has its own retry topic, so one partner's outage delays no other."""
    return f"{RETRY_TOPIC_PREFIX}{connector}"


def retry_topic(connector: str, source: Topic) -> Topic:
    return Topic(
        name=retry_topic_name(connector),
        body=source.body,
        description=(
            f"Messages of {source.name} that {connector} will try again: the original key, value and "
            "headers, plus retry_attempt and retry_due_at (epoch ms)."
        ),
    )


def topic_named(name: str) -> Topic:
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)
