"""The envelope: Kafka headers every gateway message carries beside its JSON body."""

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


class EnvelopeHeaders(BaseModel):
    """Headers of a gateway message. The Kafka key is always the dossier code."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(description="Unique id of this message; consumers deduplicate on it")
    correlation_id: str = Field(description="The dossier code (MaHoSo) the message is about")
    causation_id: str | None = Field(default=None, description="message_id of the message that caused this one")
    source_system: str = Field(description="Who produced it: onegate, gateway, a partner name")
    schema_name: str = Field(description="Name of the body's schema (see contracts/schemas)")
    schema_version: str = Field(description="Version of the body's schema")
    occurred_at: str = Field(description="ISO 8601 time the message was produced")
    traceparent: str | None = Field(default=None, description="W3C trace context of the producer")

    @classmethod
    def new(
        cls,
        *,
        correlation_id: str,
        source_system: str,
        schema_name: str,
        schema_version: str,
        message_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> "EnvelopeHeaders":
        return cls(
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            causation_id=causation_id,
            source_system=source_system,
            schema_name=schema_name,
            schema_version=schema_version,
            occurred_at=datetime.now(UTC).isoformat(),
            traceparent=traceparent or new_traceparent(),
        )

    def to_kafka(self) -> dict[str, str]:
        return {name: value for name, value in self.model_dump().items() if value is not None}

    @classmethod
    def from_kafka(cls, headers: dict[str, str]) -> "EnvelopeHeaders":
        return cls.model_validate({name: headers.get(name) for name in cls.model_fields})


def new_traceparent() -> str:
    """A fresh W3C traceparent (version 00, sampled)."""
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


def derived_message_id(cause_message_id: str, purpose: str) -> str:
    """A deterministic id for a message caused by another, so a redelivered cause
    produces the same id again and downstream consumers can drop the duplicate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gateway:{purpose}:{cause_message_id}"))
