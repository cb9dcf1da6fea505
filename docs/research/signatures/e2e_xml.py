"""XML-DSig / XAdES: xmlsec1-signed documents verified by signxml; wrapping attack; XXE/bombs."""
from __future__ import annotations

import asyncio
import copy
import logging
import subprocess
import time
from pathlib import Path

from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier, SignatureMethod, DigestAlgorithm
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.xades import XAdESSigner, XAdESVerifier

from pki import TestPKI

logging.basicConfig(level=logging.CRITICAL)
D = Path("/tmp/sigresearch/out/xml")
D.mkdir(parents=True, exist_ok=True)
DS = "http://www.w3.org/2000/09/xmldsig#"

ENVELOPED_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<HoSo xmlns="urn:vn:egov:dossier" Id="hs1">
  <MaHoSo>000.00.01.H01-260101-0001</MaHoSo>
  <ChuHoSo>Nguyen Van A</ChuHoSo>
  <LePhi>50000</LePhi>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-{HASH}"/>
      <Reference URI="">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </Transforms>
        <DigestMethod Algorithm="{DIGEST}"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
    <KeyInfo><X509Data/></KeyInfo>
  </Signature>
</HoSo>
"""

ENVELOPING_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
  <SignedInfo>
    <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
    <Reference URI="#obj">
      <Transforms><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>
      <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <DigestValue/>
    </Reference>
  </SignedInfo>
  <SignatureValue/>
  <KeyInfo><X509Data/></KeyInfo>
  <Object Id="obj"><ToKhai xmlns="urn:vn:egov:form"><SoTien>50000</SoTien></ToKhai></Object>
</Signature>
"""


def sh(cmd):
    print("  $", cmd)
    r = subprocess.run(cmd, shell=True, cwd=D, capture_output=True, text=True)
    if r.returncode:
        print("   ->", r.returncode, r.stderr.strip()[:300])
    return r.returncode


def try_verify(label, fn):
    try:
        res = fn()
        results = res if isinstance(res, list) else [res]
        tags = [etree.QName(r.signed_xml).localname if r.signed_xml is not None else None
                for r in results]
        print(f"  [{label}] OK signed_xml={tags}")
        return res
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput) as e:
        print(f"  [{label}] {type(e).__name__}: {str(e)[:160]}")
    except Exception as e:  # noqa: BLE001
        print(f"  [{label}] EXCEPTION {type(e).__name__}: {str(e)[:160]}")


def main():
    pki = TestPKI.generate()
    pki.write(D)
    (D / "root-only.pem").write_bytes(pki.root.pem())
    valid_cert = pki.leaves["valid"].cert

    print("== xmlsec1 --sign (enveloped, RSA-SHA256, cert + intermediate in X509Data) ==")
    (D / "tmpl.xml").write_text(ENVELOPED_TEMPLATE.replace("{HASH}", "sha256").replace(
        "{DIGEST}", "http://www.w3.org/2001/04/xmlenc#sha256"))
    sh("xmlsec1 --sign --privkey-pem valid.key,valid.pem,inter.pem --output signed.xml tmpl.xml")
    sh("xmlsec1 --verify --trusted-pem root.pem --untrusted-pem inter.pem signed.xml")
    signed = (D / "signed.xml").read_bytes()
    print("  X509Certificate elements:", signed.count(b"<X509Certificate>"))

    v = XMLVerifier()
    try_verify("signxml ca_pem_file=root-only.pem", lambda: v.verify(signed, ca_pem_file=str(D / "root-only.pem")))
    try_verify("signxml x509_cert=leaf (chain checked elsewhere)", lambda: v.verify(signed, x509_cert=valid_cert))
    try_verify("signxml default (certifi roots!)", lambda: v.verify(signed))
    try_verify("tampered LePhi", lambda: v.verify(signed.replace(b"50000", b"5"), x509_cert=valid_cert))
    try_verify("wrong key (another RSA cert)", lambda: v.verify(signed, x509_cert=pki.leaves["revoked"].cert))
    try:
        v.verify(signed)
    except Exception as e:  # noqa: BLE001
        print("     full message:", e)

    print("== xmlsec1 --sign with RSA-SHA1 ==")
    (D / "tmpl-sha1.xml").write_text(ENVELOPED_TEMPLATE.replace("rsa-{HASH}", "rsa-sha1").replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    ).replace("{DIGEST}", "http://www.w3.org/2000/09/xmldsig#sha1"))
    if sh("xmlsec1 --sign --privkey-pem valid.key,valid.pem --output signed-sha1.xml tmpl-sha1.xml") == 0:
        try_verify("signxml on RSA-SHA1", lambda: v.verify((D / "signed-sha1.xml").read_bytes(), x509_cert=valid_cert))

    print("== xmlsec1 --sign with the 1024-bit key ==")
    sh("xmlsec1 --sign --privkey-pem rsa1024.key,rsa1024.pem --output signed-1024.xml tmpl.xml")
    try_verify("signxml on RSA-1024 (no key-size check in signxml)",
               lambda: v.verify((D / "signed-1024.xml").read_bytes(), x509_cert=pki.leaves["rsa1024"].cert))

    print("== xmlsec1 enveloping ==")
    (D / "tmpl-env.xml").write_text(ENVELOPING_TEMPLATE)
    sh("xmlsec1 --sign --privkey-pem valid.key,valid.pem --id-attr:Id Object --output enveloping.xml tmpl-env.xml")
    env = (D / "enveloping.xml").read_bytes()
    r = try_verify("enveloping, location='./'", lambda: v.verify(
        env, x509_cert=valid_cert, expect_config=SignatureConfiguration(location="./")))
    if r is not None:
        print("     signed_xml =", etree.tostring(r.signed_xml)[:120])

    print("== signature wrapping (XSW): reference by Id, attacker re-roots the document ==")
    signer = XMLSigner()
    doc = etree.fromstring(b'<HoSo xmlns="urn:vn:egov:dossier"><Data Id="d1"><LePhi>50000</LePhi></Data></HoSo>')
    signed_el = signer.sign(doc, key=pki.leaves["valid"].key_pem(), cert=[pki.leaves["valid"].pem().decode()],
                            reference_uri="#d1")
    good = etree.tostring(signed_el)
    # attacker: put a forged <Data> first, hide the original signed <Data> in a wrapper
    evil = etree.fromstring(good)
    orig = evil.find("{urn:vn:egov:dossier}Data")
    forged = copy.deepcopy(orig)
    forged.attrib.pop("Id")
    forged.find("{urn:vn:egov:dossier}LePhi").text = "0"
    wrapper = etree.Element("{urn:vn:egov:dossier}PhuLuc")  # an "attachments" element the app ignores
    evil.remove(orig)
    wrapper.append(orig)
    evil.insert(0, forged)
    evil.insert(1, wrapper)
    evil_bytes = etree.tostring(evil)
    res = try_verify("wrapped document", lambda: v.verify(evil_bytes, x509_cert=valid_cert))
    if res is not None:
        naive = etree.fromstring(evil_bytes).find("{urn:vn:egov:dossier}Data/{urn:vn:egov:dossier}LePhi").text
        print(f"     naive reader sees LePhi={naive!r}; VerifyResult.signed_xml LePhi="
              f"{res.signed_xml.find('{urn:vn:egov:dossier}LePhi').text!r}")

    print("== XAdES (signxml XAdESSigner -> XAdESVerifier) ==")
    xdoc = etree.fromstring(b'<ToKhai xmlns="urn:vn:egov:form"><SoTien>50000</SoTien></ToKhai>')
    xs = XAdESSigner()  # NB: c14n_algorithm=exc-c14n produced an unverifiable SignedProperties digest
    xsigned = etree.tostring(xs.sign(xdoc, key=pki.leaves["valid"].key_pem(),
                                     cert=[pki.leaves["valid"].pem().decode(), pki.inter.pem().decode()]))
    (D / "xades.xml").write_bytes(xsigned)
    xv = XAdESVerifier()
    res = try_verify("XAdES", lambda: xv.verify(xsigned, x509_cert=valid_cert,
                                                 expect_references=3))
    if res:
        for r in res:
            print("     result:", type(r).__name__, etree.QName(r.signed_xml).localname,
                  "signed_properties" if getattr(r, "signed_properties", None) is not None else "")
        sp = res[-1].signed_properties if hasattr(res[-1], "signed_properties") else res[1].signed_properties
        st = sp.find(".//{http://uri.etsi.org/01903/v1.3.2#}SigningTime")
        print("     SigningTime:", st.text if st is not None else None)
    tam = xsigned.replace(b"<xades:SigningTime>", b"<xades:SigningTime>1").replace(b"xades:SigningTime>1", b"xades:SigningTime>", 1)
    # tamper SigningTime value (change the year)
    import re
    tam = re.sub(rb"(<xades:SigningTime>)(\d{4})", rb"\g<1>2001", xsigned)
    try_verify("XAdES tampered SigningTime", lambda: xv.verify(tam, x509_cert=valid_cert, expect_references=3))
    sh("xmlsec1 --verify --trusted-pem root.pem --untrusted-pem inter.pem --id-attr:Id urn:vn:egov:form:ToKhai "
       "--id-attr:Id http://uri.etsi.org/01903/v1.3.2#:SignedProperties xades.xml")

    print("== hostile XML ==")
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">""" + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    ) + b"""]><HoSo>&lol9;</HoSo>"""
    xxe = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><HoSo>&x;</HoSo>"""
    safe = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           dtd_validation=False)
    for label, data in (("billion laughs", bomb), ("XXE file:///etc/passwd", xxe)):
        for pname, parser in (("lxml default", None), ("safe parser", safe)):
            t = time.perf_counter()
            try:
                root = etree.fromstring(data, parser=parser)
                txt = "".join(root.itertext())
                print(f"  [{label} / {pname}] parsed, text length {len(txt)}, "
                      f"contains 'root:' {('root:' in txt)}, {time.perf_counter() - t:.3f}s")
            except etree.XMLSyntaxError as e:
                print(f"  [{label} / {pname}] XMLSyntaxError: {str(e)[:100]} ({time.perf_counter() - t:.3f}s)")
        try_verify(f"{label} / signxml.verify", lambda: v.verify(data, x509_cert=valid_cert))


if __name__ == "__main__":
    main()
