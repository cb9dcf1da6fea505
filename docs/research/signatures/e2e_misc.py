"""XML signer chain via pyhanko-certvalidator; wrong-key PDF/CMS; event-loop pitfalls."""
from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import async_validate_pdf_signature, validate_pdf_signature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from signxml import SignatureConfiguration, XMLVerifier

from e2e_pdf import CircularPolicy, blank_pdf, describe, sign_pdf, trust_only
from pki import TestPKI

logging.basicConfig(level=logging.CRITICAL)
DS = "http://www.w3.org/2000/09/xmldsig#"


def x509data_certs(xml: bytes) -> list[x509.Certificate]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(xml, parser)
    return [x509.load_der_x509_certificate(__import__("base64").b64decode("".join(e.text.split())))
            for e in root.iter(f"{{{DS}}}X509Certificate")]


async def verify_xml(xml: bytes, vc: ValidationContext):
    certs = x509data_certs(xml)
    for cand in certs:          # find the cert whose key verifies SignedInfo
        try:
            # time and chain are judged by certvalidator; signxml would reject an expired cert
            # outright, so pin its clock inside the certificate's validity
            res = XMLVerifier().verify(xml, x509_cert=cand, expect_config=SignatureConfiguration(
                verification_time=cand.not_valid_before_utc))
        except Exception:  # noqa: BLE001
            continue
        leaf = asn1_x509.Certificate.load(cand.public_bytes(serialization.Encoding.DER))
        others = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                  for c in certs if c is not cand]
        v = CertificateValidator(leaf, intermediate_certs=others, validation_context=vc)
        try:
            path = await v.async_validate_usage({"digital_signature"})
            return f"crypto OK, chain OK ({len(path)} certs, anchor {path.trust_anchor.name if hasattr(path.trust_anchor,'name') else path.first.subject.human_friendly})"
        except Exception as e:  # noqa: BLE001
            return f"crypto OK, chain FAILED: {type(e).__name__}: {e}"
    return "no certificate in X509Data verifies the signature"


async def main():
    pki = TestPKI.generate()
    srv = pki.serve()
    signed = Path("/tmp/sigresearch/out/xml/signed.xml")
    if signed.exists():
        # NB: that file was signed by a previous run's PKI: chain must fail against this root
        vc = trust_only(pki)
        print("xml from previous PKI:", await verify_xml(signed.read_bytes(), vc))
        await vc.aclose()
    from signxml import XMLSigner
    for label in ("valid", "revoked", "expired"):
        doc = etree.fromstring(b'<HoSo xmlns="urn:vn:egov:dossier"><LePhi>1</LePhi></HoSo>')
        leaf = pki.leaves[label]
        xml = etree.tostring(XMLSigner().sign(doc, key=leaf.key_pem(),
                                              cert=[leaf.pem().decode(), pki.inter.pem().decode()]))
        vc = trust_only(pki)
        print(f"xml {label}:", await verify_xml(xml, vc))
        await vc.aclose()

    print("== wrong key: cert of 'valid' but signed with another key ==")
    wrong = signers.SimpleSigner(signing_cert=pki.leaves["valid"].asn1_cert,
                                 signing_key=pki.leaves["revoked"].asn1_key,
                                 cert_registry=SimpleCertificateStore.from_certs([pki.inter.asn1_cert]))
    d = await sign_pdf(pki, blank_pdf(), wrong, ts=False)
    vc = trust_only(pki)
    st = await async_validate_pdf_signature(PdfFileReader(io.BytesIO(d)).embedded_signatures[0], vc)
    await vc.aclose()
    print("  pdf wrong key:", describe(st))

    print("== sync API inside a running loop ==")
    try:
        trust_only(pki, fetch=False)
    except Exception as e:  # noqa: BLE001
        print("  ValidationContext(allow_fetching=False, hard-fail):", type(e).__name__, e)
    try:
        validate_pdf_signature(PdfFileReader(io.BytesIO(d)).embedded_signatures[0], trust_only(pki))
    except Exception as e:  # noqa: BLE001
        print("  validate_pdf_signature in async code:", type(e).__name__, e)
    # the workaround: run the sync wrapper in a worker thread (own event loop there)
    st = await asyncio.to_thread(
        lambda: validate_pdf_signature(PdfFileReader(io.BytesIO(d)).embedded_signatures[0],
                                       trust_only(pki)))
    print("  via asyncio.to_thread:", st.summary())
    srv.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
