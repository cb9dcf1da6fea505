"""The gateway's verdict on a signed document of a submitted dossier (topic onegate.signature-checks)."""

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from gateway.domain.dossier import DossierCode
from gateway.domain.events import VersionedBody
from gateway.signing.report import DocumentReport


class SignatureCheckOutcome(StrEnum):
    VERIFIED = "verified"  # the report says whether the document can be trusted
    NOT_DOWNLOADED = "not_downloaded"  # the document's URL is not one the gateway may fetch (detail says why)


class SignatureCheck(VersionedBody):
    """Feeds the one-stop system's automatic technical check of a submission (kiểm tra tự động)."""

    schema_name: ClassVar[str] = "signature-check"
    dossier_code: DossierCode
    document_name: str = Field(max_length=500)
    document_code: str | None = Field(default=None, max_length=100)
    document_url: str = Field(max_length=2000)
    checked_at: AwareDatetime
    outcome: SignatureCheckOutcome
    detail: str = Field(default="", max_length=2000)
    report: DocumentReport | None = Field(default=None, description="With outcome verified")
