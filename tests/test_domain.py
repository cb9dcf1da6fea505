"""Canonical models and the envelope."""

import pytest
from pydantic import ValidationError

from gateway.domain import DossierEvent, DossierStatus, EnvelopeHeaders, StatusChange
from gateway.domain.envelope import derived_message_id

from .conftest import sample_dossier, submitted_event


def test_dossier_event_is_discriminated_by_kind() -> None:
    event = DossierEvent.model_validate(submitted_event("000.00.21.H12-261122-0042"))
    assert event.dossier_code == "000.00.21.H12-261122-0042"
    change = DossierEvent.model_validate({
        "kind": "status_changed",
        "status_change": {"dossier_code": "000.00.21.H12-261122-0042", "sequence": 2, "status": 4,
                          "changed_at": "2026-11-22T09:00:00+07:00", "handler_name": "Trần Văn Nam"},
    })
    assert change.root.status_change.status is DossierStatus.PROCESSING


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "x"}, "code"),
        ({"code": "has space"}, "code"),
        ({"summary": "x" * 4001}, "summary"),
        ({"received_at": "2026-11-22T08:00:00"}, "received_at"),  # a time without a zone is ambiguous
        ({"status": 11}, "status"),
    ],
)
def test_dossier_rejects_bad_fields(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        sample_dossier(**changes)
    assert field in {str(problem["loc"][0]) for problem in raised.value.errors()}


def test_status_change_needs_a_positive_sequence() -> None:
    with pytest.raises(ValidationError, match="sequence"):
        StatusChange(dossier_code="ABC-1", sequence=0, status=2, changed_at="2026-11-22T09:00:00Z")


def test_envelope_round_trips_through_kafka_headers() -> None:
    headers = EnvelopeHeaders.new(correlation_id="ABC-1", source_system="onegate", schema_name="dossier-submitted",
                                  schema_version="1")
    as_kafka = headers.to_kafka()
    assert set(as_kafka) == {"message_id", "correlation_id", "source_system", "schema_name", "schema_version",
                             "occurred_at", "traceparent"}
    assert EnvelopeHeaders.from_kafka(as_kafka) == headers
    assert headers.traceparent.startswith("00-") and len(headers.traceparent) == 55


def test_derived_ids_are_stable_per_cause_and_purpose() -> None:
    assert derived_message_id("m1", "ack") == derived_message_id("m1", "ack")
    assert derived_message_id("m1", "ack") != derived_message_id("m2", "ack")
    assert derived_message_id("m1", "ack") != derived_message_id("m1", "other")
