"""Test PKI generated with `cryptography`, plus loopback OCSP / CRL / RFC 3161 services.

Root -> Intermediate -> leaves (valid RSA, valid EC P-256, revoked, expired, wrong key usage,
RSA-1024, SHA-1-signed cert, EC P-192), an OCSP responder cert (OCSPSigning + ocsp-nocheck), a TSA
cert (critical EKU timeStamping). One ThreadingHTTPServer on 127.0.0.1 serves
  POST /ocsp      OCSP (cryptography.x509.ocsp.OCSPResponseBuilder)
  GET  /crl/*.crl CRLs (root CRL, intermediate CRL)
  POST /tsa       RFC 3161 (pyhanko DummyTimeStamper behind HTTP)
"""
from __future__ import annotations

import datetime as dt
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as asn1_keys, tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


@dataclass
class Issued:
    key: object
    cert: x509.Certificate

    @property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _ski(pub):
    return x509.SubjectKeyIdentifier.from_public_key(pub)


def issue(subject_cn, pub_key, issuer: Issued | None, issuer_key, *, ca=False, path_len=None,
          not_before=None, not_after=None, ku=None, eku=None, eku_critical=False,
          ocsp_url=None, crl_url=None, ca_issuers_url=None, ocsp_nocheck=False,
          sig_hash=hashes.SHA256(), policy_oid=None, serial=None):
    b = (x509.CertificateBuilder()
         .subject_name(name(subject_cn))
         .issuer_name(issuer.cert.subject if issuer else name(subject_cn))
         .public_key(pub_key)
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(not_before or NOW - dt.timedelta(days=30))
         .not_valid_after(not_after or NOW + dt.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
         .add_extension(_ski(pub_key), critical=False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.cert.public_key()), critical=False)
    if ku is None:
        ku = (dict(key_cert_sign=True, crl_sign=True) if ca
              else dict(digital_signature=True, content_commitment=True))
    full = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False)
    full.update(ku)
    b = b.add_extension(x509.KeyUsage(**full), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    aia = []
    if ocsp_url:
        aia.append(x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                          x509.UniformResourceIdentifier(ocsp_url)))
    if ca_issuers_url:
        aia.append(x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                          x509.UniformResourceIdentifier(ca_issuers_url)))
    if aia:
        b = b.add_extension(x509.AuthorityInformationAccess(aia), critical=False)
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    if ocsp_nocheck:
        b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    if policy_oid:
        b = b.add_extension(x509.CertificatePolicies([x509.PolicyInformation(
            x509.ObjectIdentifier(policy_oid), None)]), critical=False)
    if isinstance(sig_hash, hashes.SHA1):
        # cryptography >= 48 refuses SHA-1 in CertificateBuilder.sign: re-sign the TBS by hand
        return _resign_sha1(b.sign(issuer_key, hashes.SHA256()), issuer_key)
    return b.sign(issuer_key, sig_hash)


def _resign_sha1(cert: x509.Certificate, issuer_key) -> x509.Certificate:
    from asn1crypto import algos
    from cryptography.hazmat.primitives.asymmetric import padding
    a = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = a['tbs_certificate']
    alg = algos.SignedDigestAlgorithm({'algorithm': 'sha1_rsa'})
    tbs['signature'] = alg
    tbs = asn1_x509.TbsCertificate.load(tbs.dump(force=True))
    sig = issuer_key.sign(tbs.dump(), padding.PKCS1v15(), hashes.SHA1())
    new = asn1_x509.Certificate({'tbs_certificate': tbs, 'signature_algorithm': alg,
                                 'signature_value': sig})
    return x509.load_der_x509_certificate(new.dump())


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class TestPKI:
    base_url: str
    port: int
    root: Issued = None
    inter: Issued = None
    leaves: dict[str, Issued] = field(default_factory=dict)
    ocsp_resp: Issued = None
    tsa: Issued = None
    other_root: Issued = None          # an unrelated root (untrusted-anchor case)
    other_leaf: Issued = None
    revoked: dict[int, dt.datetime] = field(default_factory=dict)  # serial -> revocation time

    @classmethod
    def generate(cls, port: int | None = None) -> "TestPKI":
        port = port or free_port()
        base = f"http://127.0.0.1:{port}"
        p = cls(base_url=base, port=port)
        rk = rsa_key(3072)
        p.root = Issued(rk, issue("Test Root CA", rk.public_key(), None, rk, ca=True,
                                   not_before=NOW - dt.timedelta(days=3650),
                                   not_after=NOW + dt.timedelta(days=3650)))
        ik = rsa_key(3072)
        p.inter = Issued(ik, issue("Test Intermediate CA", ik.public_key(), p.root, rk, ca=True,
                                    path_len=0, crl_url=f"{base}/crl/root.crl",
                                    not_before=NOW - dt.timedelta(days=3000),
                                    not_after=NOW + dt.timedelta(days=3000)))
        leaf_kw = dict(ocsp_url=f"{base}/ocsp", crl_url=f"{base}/crl/inter.crl")

        def leaf(label, key, **kw):
            args = dict(leaf_kw)
            args.update(kw)
            p.leaves[label] = Issued(key, issue(f"Signer {label}", key.public_key(), p.inter,
                                                ik, **args))

        leaf("valid", rsa_key(), policy_oid="1.3.6.1.4.1.99999.1.1")
        leaf("ec256", ec.generate_private_key(ec.SECP256R1()))
        leaf("revoked", rsa_key())
        leaf("expired", rsa_key(), not_before=NOW - dt.timedelta(days=800),
             not_after=NOW - dt.timedelta(days=400))
        leaf("wrong_ku", rsa_key(), ku=dict(key_encipherment=True))
        leaf("rsa1024", rsa_key(1024))
        leaf("sha1cert", rsa_key(), sig_hash=hashes.SHA1())
        leaf("ec192", ec.generate_private_key(ec.SECP192R1()))
        leaf("no_revinfo", rsa_key(), ocsp_url=None, crl_url=None)
        # revoked one hour ago (keyCompromise)
        p.revoked[p.leaves["revoked"].cert.serial_number] = NOW - dt.timedelta(hours=1)

        ok = rsa_key()
        p.ocsp_resp = Issued(ok, issue("Test OCSP Responder", ok.public_key(), p.inter, ik,
                                       ku=dict(digital_signature=True),
                                       eku=[ExtendedKeyUsageOID.OCSP_SIGNING],
                                       ocsp_nocheck=True))
        tk = rsa_key()
        p.tsa = Issued(tk, issue("Test TSA", tk.public_key(), p.inter, ik,
                                 ku=dict(digital_signature=True, content_commitment=True),
                                 eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=True,
                                 crl_url=f"{base}/crl/inter.crl"))
        ork = rsa_key()
        p.other_root = Issued(ork, issue("Other Root CA", ork.public_key(), None, ork, ca=True))
        olk = rsa_key()
        p.other_leaf = Issued(olk, issue("Signer from other root", olk.public_key(),
                                         p.other_root, ork))
        return p

    # ---- revocation data -------------------------------------------------
    def crl(self, which: str) -> bytes:
        issuer = self.root if which == "root" else self.inter
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(issuer.cert.subject)
             .last_update(NOW - dt.timedelta(days=1))
             .next_update(NOW + dt.timedelta(days=7))
             .add_extension(x509.CRLNumber(1), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.cert.public_key()), critical=False))
        if which == "inter":
            for serial, when in self.revoked.items():
                b = b.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(serial)
                    .revocation_date(when)
                    .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise),
                                   critical=False).build())
        return b.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, der_req: bytes) -> bytes:
        req = ocsp.load_der_ocsp_request(der_req)
        by_serial = {i.cert.serial_number: i for i in self.leaves.values()}
        by_serial[self.tsa.cert.serial_number] = self.tsa
        target = by_serial.get(req.serial_number)
        if target is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        rev = self.revoked.get(req.serial_number)
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=target.cert, issuer=self.inter.cert, algorithm=req.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if rev else ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - dt.timedelta(minutes=5) if not rev else dt.datetime.now(UTC) - dt.timedelta(seconds=5),
            next_update=dt.datetime.now(UTC) + dt.timedelta(days=1),
            revocation_time=rev, revocation_reason=x509.ReasonFlags.key_compromise if rev else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_resp.cert
                       ).certificates([self.ocsp_resp.cert])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                b = b.add_extension(ext.value, critical=False)
        self.ocsp_hits += 1
        return b.sign(self.ocsp_resp.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    ocsp_hits: int = 0
    crl_hits: int = 0

    # ---- services ----------------------------------------------------------
    def timestamper(self):
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
        return DummyTimeStamper(tsa_cert=self.tsa.asn1_cert, tsa_key=self.tsa.asn1_key,
                                certs_to_embed=[self.inter.asn1_cert])

    def serve(self) -> ThreadingHTTPServer:
        pki = self
        stamper = self.timestamper()

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, body: bytes, ctype: str, code=200):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path in ("/crl/root.crl", "/crl/inter.crl"):
                    pki.crl_hits += 1
                    self._send(pki.crl(self.path.split("/")[-1][:-4]), "application/pkix-crl")
                else:
                    self._send(b"not found", "text/plain", 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/ocsp":
                    self._send(pki.ocsp_response(body), "application/ocsp-response")
                elif self.path == "/tsa":
                    resp = stamper.request_tsa_response(tsp.TimeStampReq.load(body))
                    self._send(resp.dump(), "application/timestamp-reply")
                else:
                    self._send(b"not found", "text/plain", 404)

        srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv

    def write(self, d: Path):
        d.mkdir(parents=True, exist_ok=True)
        (d / "root.pem").write_bytes(self.root.pem())
        (d / "inter.pem").write_bytes(self.inter.pem())
        (d / "other_root.pem").write_bytes(self.other_root.pem())
        for k, v in self.leaves.items():
            (d / f"{k}.pem").write_bytes(v.pem())
            (d / f"{k}.key").write_bytes(v.key_pem())
        (d / "chain.pem").write_bytes(self.inter.pem() + self.root.pem())
