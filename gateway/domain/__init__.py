"""Canonical models of the gateway. They know no partner and no framework beyond pydantic."""

from gateway.domain.dossier import (
    Applicant,
    ApplicantKind,
    Dossier,
    DossierDocument,
    DossierStatus,
    Fee,
    FeeAssessment,
    FeeKind,
    PostalAddress,
    PostalChoice,
    StatusChange,
    SupplementRequest,
)
from gateway.domain.envelope import EnvelopeHeaders
from gateway.domain.events import (
    DossierEvent,
    DossierStatusChanged,
    DossierSubmitted,
    OneGateUpdate,
    OneGateUpdateKind,
)
from gateway.domain.payment import PaymentEvent, PaymentEventKind
from gateway.domain.shipment import ShipmentInfo, ShipmentKind, ShipmentState

__all__ = [
    "Applicant",
    "ApplicantKind",
    "Dossier",
    "DossierDocument",
    "DossierEvent",
    "DossierStatus",
    "DossierStatusChanged",
    "DossierSubmitted",
    "EnvelopeHeaders",
    "Fee",
    "FeeAssessment",
    "FeeKind",
    "OneGateUpdate",
    "OneGateUpdateKind",
    "PaymentEvent",
    "PaymentEventKind",
    "PostalAddress",
    "PostalChoice",
    "ShipmentInfo",
    "ShipmentKind",
    "ShipmentState",
    "StatusChange",
    "SupplementRequest",
]
