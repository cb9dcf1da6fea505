"""PDF signatures (PAdES): every signature and document timestamp in the file.

pyHanko's AdES processes judge each signature's cryptography, chain, revocation and time. They
do not judge what happened to the file afterwards, so this module adds it (the research memo,
docs/research/signatures, §2.3 and pitfall 5):
- a signature must cover its whole revision (the /ByteRange spans the file up to it);
- content changes after a signature (modification level OTHER: new page content, swapped
  objects — the shadow attacks) fail it with FORMAT_FAILURE;
- changes a certification signature (DocMDP) does not permit fail it the same way;
- form filling and annotations after an approval signature are allowed and reported.
"""

import io
from typing import Any

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)

from gateway.signing.report import Indication, SignatureReport, SubIndication, UnreadableDocument
from gateway.signing.validation import Validation, certificate_fields, evidence, verdict_of

ACCEPTED_CHANGES = {ModificationLevel.NONE, ModificationLevel.LTA_UPDATES,
                    ModificationLevel.FORM_FILLING, ModificationLevel.ANNOTATIONS}


def open_pdf(data: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        reader.root  # noqa: B018 - parse the trailer and catalogue now, not half-way through validation
        return reader
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise UnreadableDocument(f"not a readable PDF: {error}") from None


async def verify_pdf(data: bytes, validation: Validation) -> tuple[list[SignatureReport], PdfFileReader]:
    reader = open_pdf(data)
    try:
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as error:
        raise UnreadableDocument(f"the PDF's signature fields cannot be read: {error}") from None
    if not any(signature.sig_object_type == "/Sig" for signature in embedded):
        # a document timestamp proves when the file existed, not that anybody signed it
        raise UnreadableDocument("the PDF holds no signature" + (" (only document timestamps)" if embedded else ""))
    local_knowledge = ades._dss_to_local_knowledge(reader)  # the document's own DSS (PAdES B-LT/B-LTA)
    spec = validation.spec(local_knowledge)
    return [await _one(signature, validation, spec) for signature in embedded], reader


async def _one(signature: EmbeddedPdfSignature, validation: Validation, spec: Any) -> SignatureReport:
    name = signature.field_name or "(unnamed)"
    try:
        signature.compute_integrity_info()
        integrity = signature.summarise_integrity_info()
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as error:
        return SignatureReport(kind="signature", name=name, indication=Indication.TOTAL_FAILED,
                               sub_indication=SubIndication.FORMAT_FAILURE,
                               reasons=[f"the signature's structure cannot be read: {error}"])
    if signature.sig_object_type == "/DocTimeStamp":
        report = await _document_timestamp(signature, spec, integrity, name)
    else:
        certification = signature.docmdp_level
        report = await validation.signature(
            signature.signed_data, kind="certification" if certification is not None else "signature",
            name=name, raw_digest=signature.compute_digest(), spec=spec, status_cls=PdfSignatureStatus,
            extra_status_kwargs=integrity)
    return _with_changes_after(report, signature, integrity)


async def _document_timestamp(signature: EmbeddedPdfSignature, spec: Any, integrity: dict, name: str) -> SignatureReport:
    result = await ades.ades_timestamp_validation(
        signature.signed_data, spec, expected_tst_imprint=lambda algorithm: signature.compute_digest(algorithm),
        status_cls=DocumentTimestampStatus, extra_status_kwargs=integrity)
    verdict = verdict_of(result.ades_subindic, result.failure_msg)
    status = result.api_status
    return SignatureReport(
        kind="document_timestamp", name=name, indication=verdict.indication,
        sub_indication=verdict.sub_indication, reasons=verdict.reasons, **certificate_fields(status),
        best_signature_time=getattr(status, "timestamp", None),
        revocation=evidence(result.validation_objects, spec.local_knowledge),
        digest_algorithm=getattr(status, "md_algorithm", None),
        signature_algorithm=getattr(status, "pkcs7_signature_mechanism", None))


def _with_changes_after(report: SignatureReport, signature: EmbeddedPdfSignature, integrity: dict) -> SignatureReport:
    coverage: SignatureCoverageLevel | None = integrity.get("coverage")
    diff = integrity.get("diff_result")
    # no diff result: nothing after this signature; an exception: pyHanko could not explain the changes
    level = None if diff is None else getattr(diff, "modification_level", ModificationLevel.OTHER)
    certification = signature.docmdp_level
    problems: list[str] = []
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        problems.append(f"the signature does not cover its whole revision (coverage {coverage.name if coverage else 'unknown'})")
    if level is not None and level not in ACCEPTED_CHANGES:
        problems.append("the document was changed after this signature in ways a signature never allows "
                        f"(modification level {level.name}): what is shown is not what was signed")
    if integrity.get("docmdp_ok") is False:
        problems.append(f"the changes after this signature are not permitted by its certification level "
                        f"({certification.name if certification else 'approval signature'})")
    fields: dict[str, Any] = {
        "coverage": coverage.name.lower() if coverage else None,
        "modifications": level.name.lower() if level is not None else None,
        "certification_level": certification.name.lower() if certification is not None else None,
        "reason": _text(signature.sig_object.get("/Reason")),
        # PAdES signers write no signingTime attribute, only the dictionary's /M: claimed all the same
        "claimed_signing_time": report.claimed_signing_time or _claimed_time(signature),
    }
    if problems and report.indication is not Indication.TOTAL_FAILED:
        fields.update(indication=Indication.TOTAL_FAILED, sub_indication=SubIndication.FORMAT_FAILURE)
    return report.model_copy(update={**fields, "reasons": [*report.reasons, *problems]})


def _claimed_time(signature: EmbeddedPdfSignature):
    try:
        return signature.self_reported_timestamp
    except (PdfError, ValueError, TypeError):
        return None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def pdf_text_fields(signature: EmbeddedPdfSignature | None) -> list[str]:
    """Where a certification register number may be written: the signature dictionary's /Reason,
    /Location, /ContactInfo and /Name. Only those: the dictionary lies inside the signed byte
    range, while the document information (/Info) can be rewritten in a later revision."""
    if signature is None:
        return []
    return [str(signature.sig_object[key]) for key in ("/Reason", "/Location", "/ContactInfo", "/Name")
            if signature.sig_object.get(key) is not None]
