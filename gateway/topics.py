"""Every Kafka topic of the gateway, named in one place.

Each topic's key is the dossier code, so all events of one dossier stay in order on one
partition. Partition counts come from configuration (kafka.partitions, kafka.topic_partitions).
"""

from dataclasses import dataclass

from pydantic import BaseModel

from gateway.domain import DossierEvent, OneGateUpdate


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

ALL_TOPICS: tuple[Topic, ...] = (DOSSIER_EVENTS, ONEGATE_UPDATES)


def topic_named(name: str) -> Topic:
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)
