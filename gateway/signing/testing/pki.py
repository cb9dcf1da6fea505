"""A test PKI generated with `cryptography`, served by loopback OCSP / CRL / RFC 3161 services.

Root CA (RSA-3072) -> intermediate CA (pathlen 0) -> one leaf per case the verifier must tell
apart (see `LEAF_LABELS`), plus an OCSP responder, a TSA and an unrelated root with its own leaf.
One `ThreadingHTTPServer` on 127.0.0.1 answers

    POST /ocsp            OCSP for every certificate the intermediate issued
    GET  /crl/root.crl    CRL of the root (covers the intermediate)
    GET  /crl/inter.crl   CRL of the intermediate (lists the `revoked` leaf)
    POST /tsa             RFC 3161 time-stamps (pyHanko's DummyTimeStamper behind HTTP)

Keys are generated at every run and kept in memory; nothing here may ever be trusted outside
tests and benchmarks.

    with running_pki() as pki:
        signer = pki.signer("valid")          # pyHanko SimpleSigner
        pki.revocation_down = True            # OCSP and CRL now answer 503
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SIGNER_POLICY_OID = "1.3.6.1.4.1.99999.1.1"
"""Certificate policy of the `valid` leaf (an ordinary personal signing certificate)."""
CERTIFIER_POLICY_OID = "1.3.6.1.4.1.99999.2.1"
"""Certificate policy of the `certifier` leaf (a certifying office, cơ quan chứng thực)."""
CERTIFIER_ORGANIZATION = "UBND phường Bến Nghé"
CERTIFIER_UNIT = "Bộ phận chứng thực"
CERTIFIER_COMMON_NAME = "UBND phường Bến Nghé - chứng thực"

LEAF_LABELS = (
    "valid",       # RSA-2048, digitalSignature + nonRepudiation, SIGNER_POLICY_OID
    "ec256",       # ECDSA P-256
    "revoked",     # revoked one hour before generation (keyCompromise)
    "expired",     # validity ended 400 days before generation
    "wrong_ku",    # keyEncipherment only
    "rsa1024",     # key too small
    "sha1cert",    # certificate signed with SHA-1
    "ec192",       # ECDSA P-192, curve too small
    "no_revinfo",  # neither OCSP nor CRL URL
    "certifier",   # certifying office, CERTIFIER_POLICY_OID
)
"""Labels of the leaves issued by the intermediate, in `TestPki.leaves` and `TestPki.signer`."""

OTHER_LEAF = "other_leaf"
"""Label of the leaf under the unrelated root (untrusted-anchor case)."""

_MAX_REQUEST_BYTES = 1 << 20


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer `running_pki`, which binds
    first and cannot race)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(eq=False)
class Issued:
    """A private key and the certificate issued for it."""

    key: PrivateKey
    cert: x509.Certificate

    @cached_property
    def asn1_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @cached_property
    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str, organization: str = "Test PKI", unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


_NO_KEY_USAGE = {
    "digital_signature": False, "content_commitment": False, "key_encipherment": False,
    "data_encipherment": False, "key_agreement": False, "key_cert_sign": False,
    "crl_sign": False, "encipher_only": False, "decipher_only": False,
}


def _issue(
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool = False,
    path_length: int | None = None,
    key_usage: dict[str, bool] | None = None,
    ext_key_usage: list[x509.ObjectIdentifier] | None = None,
    ext_key_usage_critical: bool = False,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
    ocsp_nocheck: bool = False,
    policy_oid: str | None = None,
    sha1: bool = False,
) -> Issued:
    """Issue a certificate for `key`, signed by `issuer` (self-signed when None)."""
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if key_usage is None:
        key_usage = (
            {"key_cert_sign": True, "crl_sign": True}
            if ca
            else {"digital_signature": True, "content_commitment": True}
        )
    builder = builder.add_extension(x509.KeyUsage(**{**_NO_KEY_USAGE, **key_usage}), critical=True)
    if ext_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(ext_key_usage), critical=ext_key_usage_critical
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess([
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                )
            ]),
            critical=False,
        )
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints([
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(crl_url)],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]),
            critical=False,
        )
    if ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if policy_oid:
        builder = builder.add_extension(
            x509.CertificatePolicies([
                x509.PolicyInformation(x509.ObjectIdentifier(policy_oid), None)
            ]),
            critical=False,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    if sha1:
        cert = _resign_with_sha1(cert, signing_key)
    return Issued(key, cert)


def _resign_with_sha1(cert: x509.Certificate, issuer_key: PrivateKey) -> x509.Certificate:
    """Re-sign `cert` with SHA-1: cryptography >= 48 refuses SHA-1 in CertificateBuilder.sign,
    but still signs raw data with it, so the TBS is rebuilt with asn1crypto and signed by hand."""
    if not isinstance(issuer_key, rsa.RSAPrivateKey):
        raise TypeError("a SHA-1 certificate needs an RSA issuer key")
    algorithm = asn1_algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    tbs = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))[
        "tbs_certificate"
    ]
    tbs["signature"] = algorithm
    # force=True re-encodes the modified TBS instead of reusing the cached original bytes
    tbs = asn1_x509.TbsCertificate.load(tbs.dump(force=True))
    signature = issuer_key.sign(tbs.dump(), padding.PKCS1v15(), hashes.SHA1())
    resigned = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )
    return x509.load_der_x509_certificate(resigned.dump())


@dataclass(eq=False)
class TestPki:
    """The generated certificates and keys, the revocation state and the loopback service's
    switches and counters. Build with `generate` (then `serve`) or with `running_pki()`."""

    __test__ = False  # not a pytest test class despite its name

    port: int
    now: dt.datetime
    """Generation time; every validity period and revocation time is relative to it."""
    root: Issued
    inter: Issued
    leaves: dict[str, Issued]
    ocsp_responder: Issued
    tsa: Issued
    other_root: Issued
    other_leaf: Issued
    revocations: dict[int, dt.datetime]
    """Serial number -> revocation time of the intermediate's revoked certificates."""
    revocation_down: bool = False
    """When True, /ocsp and /crl/* answer 503 (responder-down case)."""
    tsa_time: dt.datetime | None = None
    """When set, the TSA issues tokens with this genTime (back-dated proof of existence)."""
    ocsp_hits: int = field(default=0, init=False)
    crl_hits: int = field(default=0, init=False)
    tsa_hits: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)

    # ---- generation ------------------------------------------------------------------------

    @classmethod
    def generate(cls, port: int | None = None) -> TestPki:
        """Generate every key and certificate; URLs in the certificates point at `port` on
        127.0.0.1 (a free one when None). Takes a few seconds (RSA key generation)."""
        port = free_port() if port is None else port
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        days = dt.timedelta(days=1)
        base = f"http://127.0.0.1:{port}"
        ocsp_url, inter_crl = f"{base}/ocsp", f"{base}/crl/inter.crl"

        root = _issue(
            _name("Test Root CA"), _rsa(3072), None, ca=True,
            not_before=now - 3650 * days, not_after=now + 3650 * days,
        )
        inter = _issue(
            _name("Test Intermediate CA"), _rsa(3072), root, ca=True, path_length=0,
            crl_url=f"{base}/crl/root.crl",
            not_before=now - 3000 * days, not_after=now + 3000 * days,
        )

        def leaf(common_name: str, key: PrivateKey, **options) -> Issued:
            settings = {
                "ocsp_url": ocsp_url, "crl_url": inter_crl,
                "not_before": now - 30 * days, "not_after": now + 365 * days,
            }
            settings.update(options)
            subject = settings.pop("subject", None) or _name(common_name)
            return _issue(subject, key, inter, **settings)

        leaves = {
            "valid": leaf("Test Signer valid", _rsa(), policy_oid=SIGNER_POLICY_OID),
            "ec256": leaf("Test Signer ec256", ec.generate_private_key(ec.SECP256R1())),
            "revoked": leaf("Test Signer revoked", _rsa()),
            "expired": leaf(
                "Test Signer expired", _rsa(),
                not_before=now - 800 * days, not_after=now - 400 * days,
            ),
            "wrong_ku": leaf("Test Signer wrong_ku", _rsa(), key_usage={"key_encipherment": True}),
            "rsa1024": leaf("Test Signer rsa1024", _rsa(1024)),
            "sha1cert": leaf("Test Signer sha1cert", _rsa(), sha1=True),
            # cryptography still generates P-192 keys; verifiers must refuse them
            "ec192": leaf("Test Signer ec192", ec.generate_private_key(ec.SECP192R1())),
            "no_revinfo": leaf("Test Signer no_revinfo", _rsa(), ocsp_url=None, crl_url=None),
            "certifier": leaf(
                CERTIFIER_COMMON_NAME, _rsa(), policy_oid=CERTIFIER_POLICY_OID,
                subject=_name(CERTIFIER_COMMON_NAME, CERTIFIER_ORGANIZATION, CERTIFIER_UNIT),
            ),
        }
        ocsp_responder = leaf(
            "Test OCSP Responder", _rsa(), ocsp_url=None, crl_url=None,
            key_usage={"digital_signature": True},
            ext_key_usage=[ExtendedKeyUsageOID.OCSP_SIGNING],
            ocsp_nocheck=True,  # the responder's own status is not checked (RFC 6960 4.2.2.2.1)
        )
        # RFC 3161 requires the timeStamping EKU to be the only one and critical; DummyTimeStamper
        # only signs with RSA
        tsa = leaf(
            "Test TSA", _rsa(), ocsp_url=None,
            key_usage={"digital_signature": True, "content_commitment": True},
            ext_key_usage=[ExtendedKeyUsageOID.TIME_STAMPING], ext_key_usage_critical=True,
        )
        other_root = _issue(
            _name("Other Root CA", "Other Test PKI"), _rsa(), None, ca=True,
            not_before=now - 30 * days, not_after=now + 3650 * days,
        )
        other_leaf = _issue(
            _name("Signer under other root", "Other Test PKI"), _rsa(), other_root,
            not_before=now - 30 * days, not_after=now + 365 * days,
        )
        revocations = {leaves["revoked"].cert.serial_number: now - dt.timedelta(hours=1)}
        return cls(
            port=port, now=now, root=root, inter=inter, leaves=leaves,
            ocsp_responder=ocsp_responder, tsa=tsa, other_root=other_root,
            other_leaf=other_leaf, revocations=revocations,
        )

    # ---- access ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/tsa"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    def issued(self, label: str) -> Issued:
        """The leaf named `label` (one of LEAF_LABELS, or OTHER_LEAF)."""
        if label == OTHER_LEAF:
            return self.other_leaf
        try:
            return self.leaves[label]
        except KeyError:
            known = ", ".join((*self.leaves, OTHER_LEAF))
            raise KeyError(f"no test leaf {label!r}; known: {known}") from None

    def chain(self, label: str) -> list[Issued]:
        """The CA certificates above the leaf `label`, issuer first, root last."""
        return [self.other_root] if label == OTHER_LEAF else [self.inter, self.root]

    def signer(self, label: str = "valid") -> signers.SimpleSigner:
        """A pyHanko signer for the leaf `label`, with its CA certificates to embed."""
        return self.mismatched_signer(label, label)

    def mismatched_signer(self, cert_label: str, key_label: str) -> signers.SimpleSigner:
        """A pyHanko signer presenting the certificate of `cert_label` but signing with the key
        of `key_label` (the wrong-key case when they differ)."""
        return signers.SimpleSigner(
            signing_cert=self.issued(cert_label).asn1_cert,
            signing_key=self.issued(key_label).asn1_key,
            cert_registry=SimpleCertificateStore.from_certs(
                [ca.asn1_cert for ca in self.chain(cert_label)]
            ),
        )

    def write(self, directory: Path) -> Path:
        """Write the certificates (PEM) and leaf keys (PKCS#8 PEM) for command-line tools:
        root.pem, inter.pem, other_root.pem, chain.pem (intermediate + root), tsa.pem,
        LABEL.pem / LABEL.key for every leaf and other_leaf."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "root.pem").write_bytes(self.root.pem())
        (directory / "inter.pem").write_bytes(self.inter.pem())
        (directory / "other_root.pem").write_bytes(self.other_root.pem())
        (directory / "chain.pem").write_bytes(self.inter.pem() + self.root.pem())
        (directory / "tsa.pem").write_bytes(self.tsa.pem())
        for label, issued in (*self.leaves.items(), (OTHER_LEAF, self.other_leaf)):
            (directory / f"{label}.pem").write_bytes(issued.pem())
            (directory / f"{label}.key").write_bytes(issued.key_pem())
        return directory

    # ---- revocation data and time-stamps ---------------------------------------------------

    def crl(self, which: str) -> bytes:
        """DER CRL of the root (`which="root"`) or of the intermediate (`"inter"`)."""
        if which not in ("root", "inter"):
            raise ValueError(f"no CRL {which!r}; known: root, inter")
        issuer = self.root if which == "root" else self.inter
        # issued before anything is signed with this PKI, so validations "at the time of a
        # fresh signature" can use it, and after the revocation it lists
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(self.now - dt.timedelta(minutes=30))
            .next_update(self.now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),
                critical=False,
            )
        )
        if which == "inter":
            for serial, when in self.revocations.items():
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(when)
                    .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                    .build()
                )
        return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, der_request: bytes) -> bytes:
        """DER OCSP response to a DER request, signed by the delegated responder. A request
        for several certificates is answered malformedRequest (one certificate per request)."""
        try:
            request = ocsp.load_der_ocsp_request(der_request)
        except (ValueError, NotImplementedError):
            # NotImplementedError: cryptography reads one certificate per request only
            return _ocsp_refusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        target = self._intermediate_issued().get(request.serial_number)
        if target is None or not self._is_intermediate_key_hash(request):
            return _ocsp_refusal(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        revoked_at = self.revocations.get(request.serial_number)
        # thisUpdate just before generation, like the CRLs, so a validation at the time of a
        # fresh signature finds an answer that was already current then
        this_update = self.now - dt.timedelta(minutes=5)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=target.cert,
                issuer=self.inter.cert,
                algorithm=request.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
                this_update=this_update,
                next_update=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
                revocation_time=revoked_at,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_responder.cert)
            .certificates([self.ocsp_responder.cert])
        )
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, critical=False)
        return builder.sign(self.ocsp_responder.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER
        )

    def timestamp_response(self, der_request: bytes) -> bytes:
        """DER RFC 3161 TimeStampResp to a DER TimeStampReq (genTime = `tsa_time` when set)."""
        stamper = DummyTimeStamper(
            tsa_cert=self.tsa.asn1_cert,
            tsa_key=self.tsa.asn1_key,
            certs_to_embed=SimpleCertificateStore.from_certs([self.inter.asn1_cert]),
            fixed_dt=self.tsa_time,
        )
        return stamper.request_tsa_response(tsp.TimeStampReq.load(der_request)).dump()

    def _intermediate_issued(self) -> dict[int, Issued]:
        issued = [*self.leaves.values(), self.ocsp_responder, self.tsa]
        return {i.cert.serial_number: i for i in issued}

    def _is_intermediate_key_hash(self, request: ocsp.OCSPRequest) -> bool:
        # CertID.issuerKeyHash is the hash of the issuer's subjectPublicKey BIT STRING value
        key_bits = self.inter.asn1_cert.public_key["public_key"].contents[1:]
        return hashlib.new(request.hash_algorithm.name, key_bits).digest() == (
            request.issuer_key_hash
        )

    # ---- loopback service ------------------------------------------------------------------

    def count(self, counter: str) -> None:
        """Add one to `ocsp_hits`, `crl_hits` or `tsa_hits` (handler threads call this)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def serve(self) -> ThreadingHTTPServer:
        """Start the loopback service on `port` in a daemon thread; stop it with `stop()`."""
        return self._start(_PkiServer(self.port))

    def stop(self) -> None:
        """Shut the loopback service down and close its socket (no-op when not serving)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _start(self, server: _PkiServer) -> ThreadingHTTPServer:
        if self._server is not None:
            raise RuntimeError(f"the test PKI is already served at {self.base_url}")
        server.pki = self
        threading.Thread(
            target=server.serve_forever, name=f"test-pki-{self.port}", daemon=True
        ).start()
        self._server = server
        return server


def _ocsp_refusal(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


class _PkiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.pki: TestPki | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _PkiServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        pki = self.server.pki
        if self.path not in ("/crl/root.crl", "/crl/inter.crl"):
            self._send(404, b"not found")
            return
        pki.count("crl_hits")
        if pki.revocation_down:
            self._send(503, b"revocation service unavailable")
            return
        which = self.path.removeprefix("/crl/").removesuffix(".crl")
        self._send(200, pki.crl(which), "application/pkix-crl")

    def do_POST(self) -> None:
        pki = self.server.pki
        if self.path not in ("/ocsp", "/tsa"):
            self._send(404, b"not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_REQUEST_BYTES:
            self._send(400, b"missing or oversized body")
            return
        body = self.rfile.read(length)
        if self.path == "/ocsp":
            pki.count("ocsp_hits")
            if pki.revocation_down:
                self._send(503, b"revocation service unavailable")
                return
            self._send(200, pki.ocsp_response(body), "application/ocsp-response")
            return
        pki.count("tsa_hits")
        try:
            answer = pki.timestamp_response(body)
        except ValueError as error:  # asn1crypto parse errors
            self._send(400, f"bad time-stamp request: {error}".encode())
            return
        self._send(200, answer, "application/timestamp-reply")


@contextmanager
def running_pki(port: int | None = None) -> Iterator[TestPki]:
    """Generate a test PKI served on 127.0.0.1 (a free port when None) for the duration of the
    block. The socket is bound before generation so the port cannot be taken meanwhile."""
    server = _PkiServer(port or 0)
    pki: TestPki | None = None
    try:
        pki = TestPki.generate(server.server_address[1])
        pki._start(server)
        yield pki
    finally:
        if pki is not None and pki._server is server:
            pki.stop()
        else:
            server.server_close()
