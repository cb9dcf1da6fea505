"""Verification reports in the vocabulary of ETSI EN 319 102-1 (as EU DSS reports them).

A `DocumentReport` holds one `SignatureReport` per signature or document timestamp found. Its
own indication is the worst of them, after the policy's rules (certified copies) have been
applied. Plain data, no framework: the CLI prints it, the HTTP API and the Kafka flow send it.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"

    @property
    def exit_status(self) -> int:
        """`gateway verify` exits with 0 passed, 1 failed, 3 indeterminate (2 is a usage error)."""
        return {"TOTAL-PASSED": 0, "TOTAL-FAILED": 1, "INDETERMINATE": 3}[self.value]

    @property
    def severity(self) -> int:
        return {"TOTAL-PASSED": 0, "INDETERMINATE": 1, "TOTAL-FAILED": 2}[self.value]


class SubIndication(StrEnum):
    """ETSI EN 319 102-1 sub-indications (clause 5.1.3)."""

    # with TOTAL-FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # with INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"


class UnreadableDocument(ValueError):
    """The bytes are not a document the gateway can verify; the message says why."""


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)


class CertificateInfo(Report):
    subject: str
    issuer: str
    serial: str = Field(description="Serial number, hexadecimal")
    not_before: datetime
    not_after: datetime
    sha256: str = Field(description="SHA-256 of the DER certificate, hexadecimal")
    key: str = Field(description="Public key algorithm and size, e.g. 'RSA 2048', 'EC 256'")
    policy_oids: list[str] = Field(default_factory=list)
    subject_attributes: dict[str, str] = Field(default_factory=dict, description="CN, O, OU, ... by short name")
    issuer_attributes: dict[str, str] = Field(default_factory=dict)


class RevocationEvidence(Report):
    kind: str = Field(description="ocsp or crl")
    about: str = Field(description="Subject of the certificate it speaks for (for a CRL: its issuer)")
    produced_at: datetime | None = None
    next_update: datetime | None = None
    status: str | None = Field(default=None, description="OCSP: good or revoked; CRL: not shown")
    source: str = Field(description="fetched (now, or kept from an earlier fetch) or embedded (in the document)")


class TimestampInfo(Report):
    time: datetime
    authority: str = Field(description="Subject of the time-stamping authority's certificate")
    intact: bool
    trusted: bool


class SignatureReport(Report):
    kind: str = Field(description="signature, certification (a PDF certification signature), "
                                  "document_timestamp")
    name: str = Field(description="PDF field name, XML Signature Id, or 'cms'")
    indication: Indication
    sub_indication: SubIndication | None = None
    reasons: list[str] = Field(default_factory=list, description="Why, in the validator's words")
    signer: CertificateInfo | None = None
    chain: list[CertificateInfo] = Field(default_factory=list, description="Signer first, anchor last")
    trust_anchor: CertificateInfo | None = None
    claimed_signing_time: datetime | None = Field(
        default=None, description="The time the signer wrote into the signature: claimed, not proven")
    best_signature_time: datetime | None = Field(
        default=None, description="The earliest time the signature is proven to have existed "
                                  "(a trusted timestamp), else the validation time")
    timestamp: TimestampInfo | None = None
    revocation: list[RevocationEvidence] = Field(default_factory=list)
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    coverage: str | None = Field(
        default=None, description="PDF: entire_file, entire_revision, contiguous_block_from_start, "
                                  "unclear; XML: the signed element(s); CMS: the whole content")
    modifications: str | None = Field(
        default=None, description="PDF changes after this signature: none, lta_updates, "
                                  "form_filling, annotations, other")
    certification_level: str | None = Field(
        default=None, description="PDF certification (DocMDP): no_changes, fill_forms, annotate")
    reason: str | None = Field(default=None, description="The signer's stated reason (PDF /Reason)")


class RuleFailure(Report):
    rule: str = Field(description="The policy rule that failed, e.g. certified_copy.signer")
    message: str


class DocumentReport(Report):
    """What the gateway concluded about one document."""

    format: str = Field(description="pdf, cms, xml or unknown")
    policy: str = Field(description="The policy applied: signature or certified_copy")
    indication: Indication
    sub_indication: SubIndication | None = None
    error: str | None = Field(default=None, description="Why the document could not be verified at all")
    signatures: list[SignatureReport] = Field(default_factory=list)
    rule_failures: list[RuleFailure] = Field(default_factory=list)
    register_number: str | None = Field(default=None, description="Certified copies: the certification "
                                                                    "register number (số chứng thực) found")
    validation_time: datetime
    document_sha256: str
    size_bytes: int

    @classmethod
    def refused(cls, *, format: str, policy: str, error: str, validation_time: datetime,
                document_sha256: str, size_bytes: int) -> "DocumentReport":
        """A document that cannot be verified at all (unreadable, hostile, unsigned, too large)."""
        return cls(format=format, policy=policy, indication=Indication.TOTAL_FAILED,
                   sub_indication=SubIndication.FORMAT_FAILURE, error=error,
                   validation_time=validation_time, document_sha256=document_sha256,
                   size_bytes=size_bytes)


def worst(results: list[tuple[Indication, SubIndication | None]]) -> tuple[Indication, SubIndication | None]:
    """The most severe (indication, sub-indication): failed, then indeterminate, then passed."""
    if not results:
        return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
    return max(results, key=lambda pair: pair[0].severity)
