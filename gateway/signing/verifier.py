"""One document in, one `DocumentReport` out: format detection, the format's verification, the
policy's rules, and the overall verdict (the worst of all signatures and rules).

This runs inside a worker process (gateway.signing.worker) so a hostile file cannot take the
gateway's memory or time; `Verifier` itself is plain async code and is what tests and the
benchmark call directly.
"""

import hashlib
from datetime import UTC, datetime
from typing import Literal

from gateway.signing import certified_copy
from gateway.signing.cms import is_cms, verify_cms
from gateway.signing.pdf import pdf_text_fields, verify_pdf
from gateway.signing.report import (
    DocumentReport,
    Indication,
    RuleFailure,
    SignatureReport,
    SubIndication,
    UnreadableDocument,
    worst,
)
from gateway.signing.settings import SigningSettings
from gateway.signing.trust import TrustStore, load_trust_store
from gateway.signing.validation import Validation
from gateway.signing.xml import is_xml, verify_xml

Policy = Literal["signature", "certified_copy"]
POLICIES: tuple[str, ...] = ("signature", "certified_copy")


def detect_format(data: bytes, signature: bytes | None) -> str:
    if signature is not None:
        return "cms"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if is_cms(data):
        return "cms"
    if is_xml(data):
        return "xml"
    return "unknown"


class Verifier:
    """Verifies documents under one configuration; lives in one event loop (see Validation)."""

    def __init__(self, settings: SigningSettings, trust: TrustStore | None = None) -> None:
        self.settings = settings
        self.validation = Validation(settings, trust or load_trust_store(settings.trust_anchors))

    async def verify(self, data: bytes, *, signature: bytes | None = None, policy: Policy = "signature") -> DocumentReport:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        now = datetime.now(UTC)
        document_format = detect_format(data, signature)
        facts = dict(format=document_format, policy=policy, validation_time=now,
                     document_sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
        limit = self.settings.max_document_bytes
        if len(data) > limit or (signature is not None and len(signature) > limit):
            return DocumentReport.refused(error=f"larger than signing.max_document_bytes ({limit} bytes)", **facts)
        texts: list[str] = []
        try:
            if document_format == "pdf":
                signatures, reader = await verify_pdf(data, self.validation)
                if policy == "certified_copy":
                    certifying = next((s for s in reader.embedded_signatures
                                       if s.field_name == _certifying_name(signatures)), None)
                    texts = pdf_text_fields(certifying)
            elif document_format == "cms":
                signatures = await verify_cms(signature if signature is not None else data,
                                              data if signature is not None else None, self.validation)
            elif document_format == "xml":
                signatures = await verify_xml(data, self.validation)
            else:
                raise UnreadableDocument("not a PDF, an XML document or a CMS signature (.p7s)")
        except UnreadableDocument as error:
            return DocumentReport.refused(error=str(error), **facts)
        return self._conclude(signatures, texts, facts, policy)

    def _conclude(self, signatures: list[SignatureReport], texts: list[str], facts: dict,
                  policy: Policy) -> DocumentReport:
        verdicts = [(report.indication, report.sub_indication) for report in signatures]
        failures, number = [], None
        if policy == "certified_copy":
            if facts["format"] != "pdf":
                failures = [RuleFailure(rule="certified_copy.format", message="an electronic certified copy is a signed PDF")]
                verdicts.append((Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE))
            else:
                failures, number, imposed = certified_copy.check(signatures, texts, self.settings.certified_copy)
                if imposed is not None:
                    verdicts.append(imposed)
        indication, sub_indication = worst(verdicts)
        return DocumentReport(indication=indication, sub_indication=sub_indication, signatures=signatures,
                              rule_failures=failures, register_number=number, **facts)

    async def aclose(self) -> None:
        await self.validation.aclose()


def _certifying_name(signatures: list[SignatureReport]) -> str | None:
    report = certified_copy.certifying_signature(signatures)
    return report.name if report is not None else None
