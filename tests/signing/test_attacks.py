"""Forgeries and malformed signatures a review found passing or crashing, each pinned: signature
wrapping variants, a register number added after certification, a timestamp-only PDF, proofs of
time outside the certificate's life, a service certificate signing, garbage in unsigned parts,
and a revocation responder that hangs."""

import copy
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner

from gateway.signing.report import Indication, SubIndication
from gateway.signing.testing import documents
from gateway.signing.testing import pki as test_pki
from gateway.signing.testing.pki import CERTIFIER_ORGANIZATION, TestPki

from .conftest import MakeVerifier, assert_verdict

DS = "{http://www.w3.org/2000/09/xmldsig#}"
FORM_NS = "{urn:vn:gov:dvc:tokhai}"
S = SubIndication


def signed_with_id_attribute(pki: TestPki, attribute: str) -> bytes:
    """signxml signs the root through a reference to its `attribute` (ID, id), not Id."""
    form = etree.fromstring(documents.sample_eform())
    form.set(attribute, "r1")
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256)
    signed = signer.sign(form, key=pki.issued("valid").key_pem(), reference_uri="#r1",
                         cert=[pki.issued("valid").pem().decode(), pki.inter.pem().decode()])
    return etree.tostring(signed)


def wrapped_under_forged_root(signed: bytes, attribute: str) -> bytes:
    """A forged root (fee 0, no identifier) holding the signed original in an appendix."""
    original = etree.fromstring(signed)
    forged = copy.deepcopy(original)
    del forged.attrib[attribute]
    for signature in forged.findall(f".//{DS}Signature"):
        signature.getparent().remove(signature)
    forged.find(f"{FORM_NS}LePhi").text = "0"
    etree.SubElement(forged, f"{FORM_NS}PhuLuc").append(original)
    return etree.tostring(forged)


@pytest.mark.parametrize("attribute", ["ID", "id"])
async def test_wrapping_through_other_identifier_attributes_fails(
        pki: TestPki, make_verifier: MakeVerifier, attribute: str) -> None:
    verifier = make_verifier()
    signed = signed_with_id_attribute(pki, attribute)
    assert_verdict(await verifier.verify(signed), Indication.TOTAL_PASSED, None)
    assert_verdict(await verifier.verify(wrapped_under_forged_root(signed, attribute)),
                   Indication.TOTAL_FAILED, S.FORMAT_FAILURE, says="wrapping")


def forged_object(enveloping: bytes) -> tuple[etree._Element, etree._Element, etree._Element]:
    """The signature, its signed ds:Object, and an unsigned copy of it with the fee set to 0."""
    root = etree.fromstring(enveloping)
    signed_object = root.find(f"{DS}Object")
    forged = copy.deepcopy(signed_object)
    del forged.attrib["Id"]
    forged.find(f".//{FORM_NS}LePhi").text = "0"
    return root, signed_object, forged


def forged_object_first(enveloping: bytes) -> bytes:
    root, signed_object, forged = forged_object(enveloping)
    signed_object.addprevious(forged)
    return etree.tostring(root)


def signed_object_nested_in_forged(enveloping: bytes) -> bytes:
    root, signed_object, forged = forged_object(enveloping)
    root.replace(signed_object, forged)
    forged.append(signed_object)
    return etree.tostring(root)


def stylesheet_before_root(signed: bytes) -> bytes:
    return signed.replace(b"<ToKhai", b'<?xml-stylesheet type="text/xsl" href="http://evil.example/x.xsl"?>\n'
                                      b"<ToKhai", 1)


def comment_inside_fee(signed: bytes) -> bytes:
    return signed.replace(b"<LePhi>50000</LePhi>", b"<LePhi>5<!--x-->0000</LePhi>")


@pytest.mark.parametrize(("enveloping", "alter", "says"), [
    pytest.param(True, forged_object_first, "not covered", id="enveloping-forged-object-first"),
    pytest.param(True, signed_object_nested_in_forged, "inside another", id="enveloping-object-nested"),
    pytest.param(False, stylesheet_before_root, "processing instructions", id="stylesheet-before-root"),
    pytest.param(False, comment_inside_fee, "comments", id="comment-splits-a-value"),
])
async def test_xml_alterations_outside_what_is_signed_fail(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path, enveloping: bool, alter, says: str) -> None:
    signed = documents.xmlsec1_sign(documents.sample_eform(), pki, "valid", tmp_path, enveloping=enveloping)
    verifier = make_verifier()
    assert_verdict(await verifier.verify(signed), Indication.TOTAL_PASSED, None)
    assert_verdict(await verifier.verify(alter(signed)), Indication.TOTAL_FAILED, S.FORMAT_FAILURE, says=says)


async def test_xml_under_require_timestamp_is_not_passed(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path) -> None:
    signed = documents.xmlsec1_sign(documents.sample_eform(), pki, "valid", tmp_path)
    assert_verdict(await make_verifier(require_timestamp=True).verify(signed),
                   Indication.INDETERMINATE, S.SIG_CONSTRAINTS_FAILURE, says="timestamp")


def with_info_subject(pdf: bytes, subject: str) -> bytes:
    """A later revision setting the document information's /Subject (which no signature covers)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = writer.add_object(generic.DictionaryObject({generic.pdf_name("/Subject"): generic.pdf_string(subject)}))
    writer._info = info
    writer.trailer[generic.pdf_name("/Info")] = info
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_register_number_added_after_certification_does_not_count(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    unnumbered = await documents.sign_pdf(documents.plain_pdf(), pki, "certifier", certify=True, reason="Chứng thực")
    added = with_info_subject(unnumbered, "Số chứng thực: 999/2026/FORGED")
    verifier = make_verifier(certified_copy={"authorities": [{"subject": {"O": CERTIFIER_ORGANIZATION}}]})
    report = await verifier.verify(added, policy="certified_copy")
    assert_verdict(report, Indication.INDETERMINATE, S.SIG_CONSTRAINTS_FAILURE)
    assert report.register_number is None
    assert [failure.rule for failure in report.rule_failures] == ["certified_copy.register_number"]


async def test_a_pdf_with_only_a_document_timestamp_is_not_signed(pki: TestPki, make_verifier: MakeVerifier) -> None:
    stamped = await documents.add_document_timestamp(documents.plain_pdf(), pki)
    report = await make_verifier().verify(stamped)
    assert_verdict(report, Indication.TOTAL_FAILED, S.FORMAT_FAILURE)
    assert "only document timestamps" in report.error


async def test_a_proof_of_time_before_the_certificate_was_issued_fails(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    pki.tsa_time = pki.issued("valid").cert.not_valid_before_utc - timedelta(days=5)
    try:
        signed = await documents.sign_pdf(documents.plain_pdf(), pki, "valid")
    finally:
        pki.tsa_time = None
    assert_verdict(await make_verifier().verify(signed), Indication.TOTAL_FAILED, S.NOT_YET_VALID,
                   says="before the signer's certificate was issued")


async def test_a_time_stamping_certificate_cannot_sign_documents(pki: TestPki, make_verifier: MakeVerifier) -> None:
    signed = await documents.sign_pdf(documents.plain_pdf(), pki, signer_obj=_tsa_signer(pki))
    assert_verdict(await make_verifier().verify(signed), Indication.INDETERMINATE, S.CHAIN_CONSTRAINTS_FAILURE,
                   says="time_stamping")


def _tsa_signer(pki: TestPki):
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return signers.SimpleSigner(signing_cert=pki.tsa.asn1_cert, signing_key=pki.tsa.asn1_key,
                                cert_registry=SimpleCertificateStore.from_certs([pki.inter.asn1_cert,
                                                                                 pki.root.asn1_cert]))


async def test_garbage_in_an_unsigned_timestamp_attribute_is_a_format_failure(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path) -> None:
    p7s = documents.openssl_cms(b"content", pki, "valid", tmp_path, attached=True)
    signed_data = cms.ContentInfo.load(p7s)["content"].copy()
    signer_info = signed_data["signer_infos"][0].copy()
    signer_info["unsigned_attrs"] = cms.CMSAttributes([cms.CMSAttribute({
        "type": "signature_time_stamp_token", "values": [cms.ContentInfo({"content_type": "data", "content": b"x"})]})])
    signed_data["signer_infos"] = cms.SignerInfos([signer_info])
    altered = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    assert_verdict(await make_verifier().verify(altered), Indication.TOTAL_FAILED, S.FORMAT_FAILURE, says="malformed")


async def test_a_timestamp_token_is_not_a_signed_document(pki: TestPki, make_verifier: MakeVerifier) -> None:
    token = await documents.sign_cms(b"content", pki, detached=True)  # a CAdES-T: its token signs TSTInfo
    signer_info = cms.ContentInfo.load(token)["content"]["signer_infos"][0]
    tst = next(a for a in signer_info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")
    report = await make_verifier().verify(tst["values"][0].dump())
    assert_verdict(report, Indication.TOTAL_FAILED, S.FORMAT_FAILURE)
    assert "tst_info" in report.error


async def test_a_hanging_revocation_responder_gives_try_later(
        pki: TestPki, make_verifier: MakeVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
    signed = await documents.sign_pdf(documents.plain_pdf(), pki, "valid")
    answer_get, answer_post = test_pki._Handler.do_GET, test_pki._Handler.do_POST

    def slow_get(handler) -> None:
        time.sleep(3)
        answer_get(handler)

    def slow_post(handler) -> None:
        if handler.path == "/ocsp":
            time.sleep(3)
        answer_post(handler)

    monkeypatch.setattr(test_pki._Handler, "do_GET", slow_get)
    monkeypatch.setattr(test_pki._Handler, "do_POST", slow_post)
    report = await make_verifier(fetch_timeout_s=1, revocation_cache_s=0).verify(signed)
    assert_verdict(report, Indication.INDETERMINATE, S.TRY_LATER)
