"""Message bodies exchanged with the one-stop system."""

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field, RootModel

from gateway.domain.dossier import CanonicalModel, Dossier, DossierCode, DossierStatus, StatusChange
from gateway.domain.shipment import ShipmentInfo


class VersionedBody(CanonicalModel):
    """A message body with a schema name and version, published in contracts/schemas."""

    schema_name: ClassVar[str]
    schema_version: ClassVar[str] = "1"


class DossierSubmitted(VersionedBody):
    """The one-stop system received a new dossier."""

    schema_name: ClassVar[str] = "dossier-submitted"
    kind: Literal["submitted"] = "submitted"
    dossier: Dossier

    @property
    def dossier_code(self) -> str:
        return self.dossier.code


class DossierStatusChanged(VersionedBody):
    """The one-stop system moved a dossier to another status."""

    schema_name: ClassVar[str] = "dossier-status-changed"
    kind: Literal["status_changed"] = "status_changed"
    status_change: StatusChange

    @property
    def dossier_code(self) -> str:
        return self.status_change.dossier_code


class DossierEvent(RootModel[Annotated[DossierSubmitted | DossierStatusChanged, Field(discriminator="kind")]]):
    """Any event the one-stop system publishes about a dossier (topic onegate.dossier-events)."""

    schema_name: ClassVar[str] = "dossier-event"
    schema_version: ClassVar[str] = "1"

    @property
    def dossier_code(self) -> str:
        return self.root.dossier_code

    @property
    def step_key(self) -> str:
        """Names this step of the dossier for partners' idempotency: each submission once, each
        status step (by its sequence) once; a partner's reported steps are counted apart."""
        inner = self.root
        if isinstance(inner, DossierSubmitted):
            return f"{inner.dossier_code}:submitted"
        change = inner.status_change
        if change.reported_by:  # numbered by the gateway as reports come; the status tells two apart after a crash
            return f"{inner.dossier_code}:{change.reported_by}:status:{change.sequence}:{int(change.status)}"
        return f"{inner.dossier_code}:status:{change.sequence}"


class OneGateUpdateKind(StrEnum):
    RECEIVED = "received"  # the gateway accepted the event (technical acknowledgement), or the post collected the dossier
    STATUS = "status"  # a partner reported processing progress
    RESULT = "result"  # a partner returned a result document
    RECEIPT = "receipt"  # a fee was paid (biên lai)
    TRACKING = "tracking"  # postal tracking moved
    SYNCED = "synced"  # a partner (the national portal, a ministry) took the dossier or its step
    REFUSED = "refused"  # a partner refused it for good; the message says why


class OneGateUpdate(VersionedBody):
    """Something the one-stop system should show on a dossier (topic onegate.updates)."""

    schema_name: ClassVar[str] = "onegate-update"
    dossier_code: DossierCode
    kind: OneGateUpdateKind
    source: str = Field(description="Who reports it: gateway, national_portal, a ministry, a payment or postal partner")
    occurred_at: AwareDatetime
    status: DossierStatus | None = None
    message: str = Field(default="", max_length=2000, description="Shown to the officer; Vietnamese where possible")
    shipment: ShipmentInfo | None = Field(default=None, description="With tracking (and postal received/status "
                                                                     "updates): the parcel and where it stands")
