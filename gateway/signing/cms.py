"""Detached and attached CMS signatures (.p7s, CAdES).

pyHanko's AdES processes take a SignedData and the digest of the signed content. An attached
signature carries its content inside; it is taken out and the signature judged as detached,
so both shapes go through the same process (pyHanko's detached API refuses encapsulated
content, its attached API skips timestamps: research memo §3).
"""

import hashlib

from asn1crypto import cms, pem

from gateway.signing.report import SignatureReport, UnreadableDocument
from gateway.signing.validation import Validation


def read_signed_data(data: bytes) -> cms.SignedData:
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        content_info = cms.ContentInfo.load(data)
        if content_info["content_type"].native != "signed_data":
            raise UnreadableDocument(f"a CMS {content_info['content_type'].native}, not signed data")
        signed_data = content_info["content"]
        signed_data["signer_infos"][0]
        signed_data.native  # noqa: B018
        return signed_data
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise UnreadableDocument(f"not a CMS signature (.p7s): {error}") from None


def is_cms(data: bytes) -> bool:
    head = data[:64]
    # DER SEQUENCE with a long or indefinite length, or PEM
    return head.startswith((b"0\x80", b"0\x82", b"0\x83", b"0\x84", b"-----BEGIN PKCS7", b"-----BEGIN CMS"))


async def verify_cms(signature: bytes, content: bytes | None, validation: Validation) -> list[SignatureReport]:
    """Verify a .p7s: `content` is the signed file for a detached signature, None for an attached one."""
    signed_data = read_signed_data(signature)
    content_type = signed_data["encap_content_info"]["content_type"].native
    if content_type != "data":
        raise UnreadableDocument(f"the signature signs a {content_type}, not a document (data)")
    encapsulated = signed_data["encap_content_info"]["content"]
    if encapsulated.native is not None:
        if content is not None and bytes(encapsulated.native) != content:
            raise UnreadableDocument("the signature carries its own content, and it differs from the file given")
        content = bytes(encapsulated.native)
        detached = signed_data.copy()
        detached["encap_content_info"] = cms.ContentInfo({
            "content_type": signed_data["encap_content_info"]["content_type"]})
        signed_data = detached
    elif content is None:
        raise UnreadableDocument("a detached signature: give the signed file too (--signature SIG for the CLI)")
    reports = []
    for index, signer_info in enumerate(signed_data["signer_infos"]):
        one = signed_data.copy()
        one["signer_infos"] = cms.SignerInfos([signer_info])
        algorithm = signer_info["digest_algorithm"]["algorithm"].native
        try:
            digest = hashlib.new(algorithm, content).digest()
        except (ValueError, TypeError):  # unknown, or an extendable-output function (shake) without a length
            raise UnreadableDocument(f"unsupported digest algorithm {algorithm}") from None
        reports.append(await validation.signature(
            one, kind="signature", name=f"signer {index + 1}", raw_digest=digest,
            spec=validation.spec()))
    return [report.model_copy(update={"coverage": "the whole signed file"}) for report in reports]
