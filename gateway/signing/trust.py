"""Trust anchors from the operator's files; nothing else is ever trusted.

The national root CA (NEAC, "Root CA quốc gia": the old root and the roots issued on
2025-11-25) and the government CA (Ban Cơ yếu, VGCA) are installed by the operator as files;
docs/signatures.md says where to get them. The operating system's TLS roots are never used:
pyHanko would fall back to them when given no roots, so an empty store is passed as empty.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509

ANCHOR_SUFFIXES = {".pem", ".crt", ".cer", ".der"}


class TrustStoreError(ValueError):
    """A configured anchor file is missing or holds no certificate."""


@dataclass(frozen=True)
class TrustStore:
    anchors: tuple[x509.Certificate, ...]
    sources: tuple[str, ...]

    @property
    def version(self) -> str:
        """Changes whenever the set of anchors changes: part of every cache key."""
        digest = hashlib.sha256()
        for cert in sorted(anchor.sha256 for anchor in self.anchors):
            digest.update(cert)
        return digest.hexdigest()[:16]

    def describe(self) -> list[str]:
        return [f"{anchor.subject.human_friendly} (SHA-256 {anchor.sha256.hex()[:16]}…)" for anchor in self.anchors]


def load_trust_store(paths: list[Path]) -> TrustStore:
    anchors: dict[bytes, x509.Certificate] = {}
    sources: list[str] = []
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in ANCHOR_SUFFIXES) if path.is_dir() else [path]
        if not path.exists():
            raise TrustStoreError(f"signing.trust_anchors: {path} does not exist")
        if path.is_dir() and not files:
            raise TrustStoreError(f"signing.trust_anchors: directory {path} holds no .pem/.crt/.cer/.der file")
        for file in files:
            try:
                certificates = read_certificates(file.read_bytes())
            except TrustStoreError as error:
                raise TrustStoreError(f"signing.trust_anchors: {file}: {error}") from None
            if not certificates:
                raise TrustStoreError(f"signing.trust_anchors: {file} holds no certificate")
            for certificate in certificates:
                if not certificate.ca:
                    raise TrustStoreError(f"signing.trust_anchors: {file} holds {certificate.subject.human_friendly}, "
                                          "which is not a CA certificate")
                anchors.setdefault(certificate.sha256, certificate)
            sources.append(str(file))
    return TrustStore(anchors=tuple(anchors.values()), sources=tuple(sources))


def read_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in PEM (one or many) or DER bytes."""
    try:
        if pem.detect(data):
            return [x509.Certificate.load(der) for kind, _, der in pem.unarmor(data, multiple=True)
                    if kind == "CERTIFICATE"]
        certificate = x509.Certificate.load(data)
        certificate.native  # parse now: asn1crypto is lazy  # noqa: B018
        return [certificate]
    except (ValueError, TypeError) as error:
        raise TrustStoreError(f"not a certificate: {error}") from None
