"""XML-DSig and XAdES e-forms (tờ khai), signed by xmlsec1 and signxml: cryptography, chain and
revocation under the same policy as PDFs, and the signature-wrapping guards."""

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.signing.report import Indication, SubIndication
from gateway.signing.testing import documents
from gateway.signing.testing.pki import TestPki

from .conftest import MakeVerifier, assert_verdict

FORM = documents.sample_eform()
DS = "{http://www.w3.org/2000/09/xmldsig#}"
PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
S = SubIndication

MakeXml = Callable[[TestPki, Path], bytes]


def xmlsec1(signer: str = "valid", *, then: Callable[[bytes, TestPki], bytes] | None = None,
            **options: Any) -> MakeXml:
    def make(pki: TestPki, workdir: Path) -> bytes:
        signed = documents.xmlsec1_sign(FORM, pki, signer, workdir, **options)
        return then(signed, pki) if then else signed
    return make


def signxml(signer: str) -> MakeXml:
    return lambda pki, workdir: documents.signxml_enveloped(FORM, pki, signer)


def xades(pki: TestPki, workdir: Path) -> bytes:
    return documents.signxml_xades(FORM, pki)


def other_certificate(signed: bytes, pki: TestPki) -> bytes:
    """The signer's certificate in KeyInfo replaced by the `revoked` leaf's: the signature no
    longer verifies with the key the document names."""
    root = etree.fromstring(signed)
    leaf = root.find(f".//{DS}KeyInfo//{DS}X509Certificate")
    leaf.text = base64.b64encode(pki.leaves["revoked"].asn1_cert.dump()).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def two_signatures(signed: bytes, pki: TestPki) -> bytes:
    root = etree.fromstring(signed)
    root.append(copy.deepcopy(root.find(f"{DS}Signature")))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def appended(signed: bytes, pki: TestPki) -> bytes:
    """An element added to the e-form after it was signed."""
    root = etree.fromstring(signed)
    etree.SubElement(root, "{urn:vn:gov:dvc:tokhai}GhiChu").text = "added after signing"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def tampered(signed: bytes, pki: TestPki) -> bytes:
    return documents.tamper_xml_value(signed)


def wrapped(signed: bytes, pki: TestPki) -> bytes:
    return documents.wrap_attack(signed)


@pytest.mark.parametrize(("make", "indication", "sub_indication", "says"), [
    pytest.param(xmlsec1(), PASSED, None, None, id="xmlsec1-enveloped-rsa"),
    pytest.param(xmlsec1("ec256"), PASSED, None, None, id="xmlsec1-enveloped-ecdsa"),
    pytest.param(xmlsec1(enveloping=True), PASSED, None, None, id="xmlsec1-enveloping"),
    pytest.param(xmlsec1(reference_id="d1"), PASSED, None, None, id="xmlsec1-reference-to-root-id"),
    pytest.param(xades, PASSED, None, None, id="signxml-xades"),
    pytest.param(xmlsec1(then=tampered), FAILED, S.HASH_FAILURE, "changed after signing", id="value-tampered"),
    pytest.param(xmlsec1(then=appended), FAILED, S.HASH_FAILURE, "changed after signing",
                 id="element-added-after-signing"),
    pytest.param(xmlsec1(reference_id="d1", then=wrapped), FAILED, S.FORMAT_FAILURE, "wrapping",
                 id="signature-wrapping"),
    pytest.param(signxml("revoked"), INDETERMINATE, S.REVOKED_NO_POE, "revoked", id="revoked"),
    pytest.param(signxml("expired"), INDETERMINATE, S.OUT_OF_BOUNDS_NO_POE, "expired", id="expired"),
    pytest.param(signxml("wrong_ku"), INDETERMINATE, S.CHAIN_CONSTRAINTS_FAILURE, "key usage", id="wrong-key-usage"),
    pytest.param(signxml("rsa1024"), INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "1024", id="rsa-1024"),
    pytest.param(signxml("other_leaf"), INDETERMINATE, S.NO_CERTIFICATE_CHAIN_FOUND, None, id="untrusted-root"),
    pytest.param(xmlsec1(md="sha1"), INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "sha1", id="sha1"),
    pytest.param(xmlsec1(then=other_certificate), FAILED, S.SIG_CRYPTO_FAILURE, "does not verify", id="wrong-key"),
    pytest.param(xmlsec1(then=two_signatures), FAILED, S.FORMAT_FAILURE, "2 ds:Signature", id="two-signatures"),
])
async def test_verdicts(pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path, make: MakeXml,
                        indication: Indication, sub_indication: SubIndication | None, says: str | None) -> None:
    report = await make_verifier().verify(make(pki, tmp_path))
    assert report.format == "xml"
    assert_verdict(report, indication, sub_indication, says)
    [signature] = report.signatures
    assert_verdict(signature, indication, sub_indication, says)


async def test_valid_signature_report(pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path) -> None:
    report = await make_verifier().verify(documents.xmlsec1_sign(FORM, pki, "valid", tmp_path))
    assert_verdict(report, PASSED)
    [signature] = report.signatures
    assert "Test Signer valid" in signature.signer.subject
    assert [c.sha256 for c in signature.chain] == [
        issued.asn1_cert.sha256.hex() for issued in (pki.leaves["valid"], pki.inter, pki.root)]
    assert signature.trust_anchor == signature.chain[-1]
    assert (signature.digest_algorithm, signature.signature_algorithm) == ("sha256", "rsa-sha256")
    assert signature.coverage == "ToKhai"
