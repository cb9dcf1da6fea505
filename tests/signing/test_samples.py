"""The generated test PKI and the sample makers, checked only by independent tools (openssl,
xmlsec1, signxml, pyHanko's own validator, cryptography), never by the gateway's verifier."""

import datetime as dt
import io
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from lxml import etree
from pyhanko.pdf_utils.generic import Reference
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signxml import XMLVerifier

from gateway.signing.testing import documents
from gateway.signing.testing.pki import (
    CERTIFIER_POLICY_OID,
    LEAF_LABELS,
    SIGNER_POLICY_OID,
    TestPki,
)

DOC = "Giấy khai sinh (bản sao) / birth certificate copy\n".encode() * 50
EFORM = "{urn:vn:gov:dvc:tokhai}"


@pytest.fixture
def pems(pki_files: Path) -> Path:
    return pki_files


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def post(url: str, body: bytes) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as answer:
        return answer.read()


def policies(cert: x509.Certificate) -> list[str]:
    extension = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES)
    return [p.policy_identifier.dotted_string for p in extension.value]


# ---- the PKI -----------------------------------------------------------------------------------


def test_certificates_have_the_properties_of_their_case(pki: TestPki, pems: Path) -> None:
    leaves = {label: pki.leaves[label].cert for label in LEAF_LABELS}
    certifier = leaves["certifier"]
    assert certifier.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "UBND phường Bến Nghé"
    )
    assert certifier.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "Bộ phận chứng thực"
    )
    assert certifier.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "UBND phường Bến Nghé - chứng thực"
    )
    assert policies(certifier) == [CERTIFIER_POLICY_OID]
    assert policies(leaves["valid"]) == [SIGNER_POLICY_OID]
    assert leaves["expired"].not_valid_after_utc < pki.now
    assert leaves["sha1cert"].signature_hash_algorithm.name == "sha1"
    assert leaves["rsa1024"].public_key().key_size == 1024
    assert isinstance(leaves["ec192"].public_key().curve, ec.SECP192R1)
    assert isinstance(leaves["valid"].public_key(), rsa.RSAPublicKey)
    key_usage = leaves["wrong_ku"].extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.key_encipherment and not key_usage.digital_signature
    for missing in (x509.AuthorityInformationAccess, x509.CRLDistributionPoints):
        with pytest.raises(x509.ExtensionNotFound):
            leaves["no_revinfo"].extensions.get_extension_for_class(missing)
    tsa_eku = pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    responder = pki.ocsp_responder.cert.extensions
    assert ExtendedKeyUsageOID.OCSP_SIGNING in responder.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value
    responder.get_extension_for_class(x509.OCSPNoCheck)

    for label in ("valid", "certifier", "ec256"):
        checked = run("openssl", "verify", "-CAfile", "root.pem", "-untrusted", "inter.pem",
                      f"{label}.pem", cwd=pems)
        assert checked.returncode == 0, checked.stderr
    foreign = run("openssl", "verify", "-CAfile", "root.pem", "other_leaf.pem", cwd=pems)
    assert foreign.returncode != 0
    expired = run("openssl", "verify", "-CAfile", "root.pem", "-untrusted", "inter.pem",
                  "expired.pem", cwd=pems)
    assert "expired" in expired.stdout + expired.stderr


def test_ocsp_answers_counts_and_goes_down(pki: TestPki, pems: Path) -> None:
    def query(label: str) -> subprocess.CompletedProcess:
        return run("openssl", "ocsp", "-issuer", "inter.pem", "-cert", f"{label}.pem",
                   "-url", pki.ocsp_url, "-CAfile", "root.pem", "-verify_other", "inter.pem",
                   cwd=pems)

    hits = pki.ocsp_hits
    good, revoked = query("valid"), query("revoked")
    assert good.returncode == 0 and "valid.pem: good" in good.stdout
    assert "Response verify OK" in good.stderr
    assert "revoked.pem: revoked" in revoked.stdout and "keyCompromise" in revoked.stdout
    assert pki.ocsp_hits == hits + 2

    pki.revocation_down = True
    try:
        down = query("valid")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{pki.base_url}/crl/inter.crl", timeout=10)
    finally:
        pki.revocation_down = False
    assert down.returncode != 0 and "code=503" in down.stderr
    assert refused.value.code == 503


def test_crls_are_signed_and_list_the_revoked_leaf(pki: TestPki) -> None:
    with urllib.request.urlopen(f"{pki.base_url}/crl/inter.crl", timeout=10) as answer:
        inter_crl = x509.load_der_x509_crl(answer.read())
    with urllib.request.urlopen(f"{pki.base_url}/crl/root.crl", timeout=10) as answer:
        root_crl = x509.load_der_x509_crl(answer.read())
    assert inter_crl.is_signature_valid(pki.inter.cert.public_key())
    assert root_crl.is_signature_valid(pki.root.cert.public_key())
    entry = inter_crl.get_revoked_certificate_by_serial_number(
        pki.leaves["revoked"].cert.serial_number
    )
    assert entry is not None
    assert entry.revocation_date_utc == pki.now - dt.timedelta(hours=1)
    assert len(root_crl) == 0


def test_tsa_tokens_verify_with_openssl_and_can_be_back_dated(
    pki: TestPki, pems: Path, tmp_path: Path
) -> None:
    (tmp_path / "doc.bin").write_bytes(DOC)
    made = run("openssl", "ts", "-query", "-data", "doc.bin", "-sha256", "-cert",
               "-out", "req.tsq", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    hits = pki.tsa_hits
    (tmp_path / "resp.tsr").write_bytes(post(pki.tsa_url, (tmp_path / "req.tsq").read_bytes()))
    checked = run("openssl", "ts", "-verify", "-data", "doc.bin", "-in", "resp.tsr",
                  "-CAfile", str(pems / "root.pem"), "-untrusted", str(pems / "inter.pem"),
                  cwd=tmp_path)
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr
    assert pki.tsa_hits == hits + 1

    past = pki.now - dt.timedelta(days=500)
    pki.tsa_time = past
    try:
        answer = tsp.TimeStampResp.load(post(pki.tsa_url, (tmp_path / "req.tsq").read_bytes()))
    finally:
        pki.tsa_time = None
    token = answer["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert token["gen_time"].native == past


# ---- CMS ---------------------------------------------------------------------------------------


def openssl_verify_cms(pems: Path, folder: Path, signature: bytes, content: bytes | None):
    (folder / "sig.p7s").write_bytes(signature)
    command = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s",
               "-CAfile", str(pems / "root.pem"), "-purpose", "any", "-out", "content.out"]
    if content is not None:
        (folder / "doc.bin").write_bytes(content)
        command += ["-content", "doc.bin"]
    return run(*command, cwd=folder)


@pytest.mark.parametrize(
    ("signer", "options"),
    [
        ("valid", {}),
        ("valid", {"cades": True}),
        ("valid", {"pss": True}),
        ("ec256", {"md": "sha384"}),
        ("certifier", {}),
    ],
)
def test_openssl_detached_cms_verifies_and_altered_data_fails(
    pki: TestPki, pems: Path, tmp_path: Path, signer: str, options: dict
) -> None:
    signature = documents.openssl_cms(DOC, pki, signer, tmp_path, **options)
    checked = openssl_verify_cms(pems, tmp_path, signature, DOC)
    assert checked.returncode == 0 and "Verification successful" in checked.stderr, checked.stderr
    altered = openssl_verify_cms(pems, tmp_path, signature, DOC.replace(b"birth", b"death"))
    assert altered.returncode != 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("openssl-cms-")] == []


def test_openssl_attached_cms_verifies_and_altered_content_fails(
    pki: TestPki, pems: Path, tmp_path: Path
) -> None:
    signature = documents.openssl_cms(DOC, pki, "valid", tmp_path, attached=True)
    checked = openssl_verify_cms(pems, tmp_path, signature, None)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "content.out").read_bytes() == DOC
    altered = openssl_verify_cms(pems, tmp_path, signature.replace(b"birth", b"death", 1), None)
    assert altered.returncode != 0


def test_openssl_cms_reports_openssl_errors(pki: TestPki, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="openssl cms -sign failed"):
        documents.openssl_cms(DOC, pki, "valid", tmp_path, md="no-such-digest")


@pytest.mark.parametrize("detached", [True, False])
async def test_pyhanko_cades_t_verifies_with_openssl(
    pki: TestPki, pems: Path, tmp_path: Path, detached: bool
) -> None:
    signature = await documents.sign_cms(DOC, pki, detached=detached)
    signer_info = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    unsigned = [a["type"].native for a in signer_info["unsigned_attrs"]]
    assert "signature_time_stamp_token" in unsigned

    checked = openssl_verify_cms(pems, tmp_path, signature, DOC if detached else None)
    assert checked.returncode == 0, checked.stderr
    if detached:
        altered = openssl_verify_cms(pems, tmp_path, signature, DOC + b"!")
    else:
        altered = openssl_verify_cms(pems, tmp_path, signature.replace(b"birth", b"death", 1), None)
    assert altered.returncode != 0


# ---- XML ---------------------------------------------------------------------------------------


def xmlsec1_verify(pems: Path, folder: Path, xml: bytes, *id_attrs: str):
    (folder / "signed.xml").write_bytes(xml)
    options = [a for node in id_attrs for a in ("--id-attr:Id", node)]
    return run("xmlsec1", "--verify", "--trusted-pem", str(pems / "root.pem"),
               "--untrusted-pem", str(pems / "inter.pem"), *options, "signed.xml", cwd=folder)


@pytest.mark.parametrize(
    ("signer", "options", "method"),
    [
        ("valid", {}, "xmldsig-more#rsa-sha256"),
        ("ec256", {}, "xmldsig-more#ecdsa-sha256"),
        ("valid", {"md": "sha1"}, "xmldsig#rsa-sha1"),
    ],
)
def test_xmlsec1_enveloped_verifies_and_tampered_value_fails(
    pki: TestPki, pems: Path, tmp_path: Path, signer: str, options: dict, method: str
) -> None:
    signed = documents.xmlsec1_sign(documents.sample_eform(), pki, signer, tmp_path, **options)
    root = etree.fromstring(signed)
    assert root.find(f"{EFORM}LePhi").text == documents.FEE
    assert root.find(".//{*}SignatureMethod").get("Algorithm").endswith(method)
    assert len(root.findall(".//{*}X509Certificate")) == 2  # leaf and intermediate
    checked = xmlsec1_verify(pems, tmp_path, signed)
    assert checked.returncode == 0, checked.stderr
    tampered = documents.tamper_xml_value(signed)
    assert b"<LePhi>90000</LePhi>" in tampered
    assert xmlsec1_verify(pems, tmp_path, tampered).returncode != 0


def test_enveloping_xades_and_signxml_samples_verify_with_xmlsec1(
    pki: TestPki, pems: Path, tmp_path: Path
) -> None:
    form = documents.sample_eform()
    enveloping = documents.xmlsec1_sign(form, pki, "valid", tmp_path, enveloping=True)
    assert etree.QName(etree.fromstring(enveloping)).localname == "Signature"
    ds_object = "http://www.w3.org/2000/09/xmldsig#:Object"
    assert xmlsec1_verify(pems, tmp_path, enveloping, ds_object).returncode == 0

    xades = documents.signxml_xades(form, pki)
    assert b"SignedProperties" in xades
    signed_properties = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"
    checked = xmlsec1_verify(pems, tmp_path, xades, signed_properties)
    assert checked.returncode == 0, checked.stderr

    enveloped = documents.signxml_enveloped(form, pki, "ec256")
    assert xmlsec1_verify(pems, tmp_path, enveloped).returncode == 0
    assert xmlsec1_verify(pems, tmp_path, documents.tamper_xml_value(enveloped)).returncode != 0
    with pytest.raises(ValueError, match="SHA-1"):
        documents.signxml_enveloped(form, pki, "valid", digest="sha1")


def test_wrapping_attack_still_verifies_but_shows_a_forged_fee(
    pki: TestPki, pems: Path, tmp_path: Path
) -> None:
    signed = documents.xmlsec1_sign(
        documents.sample_eform(), pki, "valid", tmp_path, reference_id="d1"
    )
    forged = documents.wrap_attack(signed)
    result = XMLVerifier().verify(forged, x509_cert=pki.leaves["valid"].cert)
    assert result.signed_xml.find(f"{EFORM}LePhi").text == documents.FEE
    assert etree.fromstring(forged).find(f"{EFORM}LePhi").text == "0"  # what a naive reader sees
    checked = xmlsec1_verify(pems, tmp_path, forged, "urn:vn:gov:dvc:tokhai:ToKhai")
    assert checked.returncode == 0, checked.stderr
    with pytest.raises(ValueError, match="Reference to an Id"):
        documents.wrap_attack(documents.signxml_enveloped(documents.sample_eform(), pki, "valid"))


def test_hostile_xml_is_what_it_claims() -> None:
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(documents.xml_bomb())
    xxe = documents.xml_external_entity()
    assert b'SYSTEM "file:///etc/passwd"' in xxe
    # only a parser told to load external entities leaks the file
    leaky = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True)
    assert "root:" in etree.fromstring(xxe, leaky).findtext(f"{EFORM}HoTen")
    assert documents.garbage(64) == documents.garbage(64) != documents.garbage(64, seed=8)
    assert documents.truncated(b"0123456789", keep=0.3) == b"012"


# ---- PDF ---------------------------------------------------------------------------------------


async def validate_first(pki: TestPki, pdf: bytes):
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures[0]
    context = ValidationContext(
        trust_roots=[pki.root.asn1_cert], allow_fetching=True, revocation_mode="require"
    )
    try:
        return await async_validate_pdf_signature(
            signature, context, ts_validation_context=context
        )
    finally:
        await context.aclose()


async def test_signed_pdf_validates_with_pyhanko_and_changes_are_seen(pki: TestPki) -> None:
    unsigned = documents.plain_pdf(pages=2)
    assert len(PdfFileReader(io.BytesIO(unsigned)).root["/Pages"]["/Kids"]) == 2
    register = "Số chứng thực: 123/2026/SCT-BS"
    signed = await documents.sign_pdf(unsigned, pki, "certifier", certify=True, reason=register)
    hits = pki.ocsp_hits

    status = await validate_first(pki, signed)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert pki.ocsp_hits > hits
    signature = PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures[0]
    assert signature.sig_object["/Reason"] == register

    flipped = documents.flip_signed_byte(signed)
    assert len(flipped) == len(signed) and flipped != signed
    assert (await validate_first(pki, flipped)).intact is False

    modified = await validate_first(pki, documents.modify_after_signing(signed))
    assert modified.intact and modified.modification_level == ModificationLevel.OTHER
    assert not modified.docmdp_ok and not modified.bottom_line


async def test_wrong_key_and_unreachable_revocation_fail_in_pyhanko(pki: TestPki) -> None:
    unsigned = documents.plain_pdf()
    wrong_key = await documents.sign_pdf(
        unsigned, pki, timestamp=False, signer_obj=pki.mismatched_signer("valid", "revoked")
    )
    assert (await validate_first(pki, wrong_key)).valid is False

    signed = await documents.sign_pdf(unsigned, pki, timestamp=False)
    pki.revocation_down = True
    try:
        status = await validate_first(pki, signed)
    finally:
        pki.revocation_down = False
    assert status.intact and status.valid and not status.bottom_line
    assert status.trust_problem_indic is not None


async def test_lta_sample_has_dss_and_document_timestamp(pki: TestPki) -> None:
    signed = await documents.sign_pdf(documents.plain_pdf(), pki, lta=True)
    reader = PdfFileReader(io.BytesIO(signed))
    assert "/DSS" in reader.root
    assert len(reader.embedded_timestamp_signatures) == 1
    assert (await validate_first(pki, signed)).bottom_line


def test_hostile_pdfs_are_well_formed() -> None:
    small = documents.huge_object_count_pdf(objects=2_000)
    table = re.search(rb"xref\n0 (\d+)\n0000000000 65535 f \n((?:\d{10} 00000 n \n)+)", small)
    assert table is not None and int(table.group(1)) == 2_001
    offsets = [int(entry[:10]) for entry in table.group(2).splitlines()]
    for number, offset in enumerate(offsets, start=1):
        assert small.startswith(b"%d 0 obj\n" % number, offset)
    reader = PdfFileReader(io.BytesIO(small))
    assert reader.get_object(Reference(2_000, 0)) is not None
    assert reader.root["/Pages"]["/Count"] == 1

    huge = documents.huge_object_count_pdf()
    assert b"\nxref\n0 300001\n" in huge and 10_000_000 < len(huge) < 20_000_000

    shallow = PdfFileReader(io.BytesIO(documents.deeply_nested_pdf(depth=20)))
    nested, depth = shallow.root["/Nested"], 1
    while len(nested):
        nested, depth = nested[0], depth + 1
    assert depth == 20
    assert b"[" * 100_000 + b"]" * 100_000 in documents.deeply_nested_pdf()
