"""What an operator sets for signature verification (the `signing.*` settings)."""

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Circular 15/2025/TT-BKHCN: SHA-2 and SHA-3 families only
CIRCULAR_DIGESTS = ["sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256",
                    "sha3_224", "sha3_256", "sha3_384", "sha3_512"]
KEY_USAGES = {"digital_signature", "non_repudiation"}


class SigningGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AlgorithmRules(SigningGroup):
    rsa_min_bits: int = Field(default=2048, ge=1024, le=16384, description="Smallest RSA key accepted")
    ec_min_bits: int = Field(default=256, ge=160, le=521, description="Smallest ECDSA key accepted")
    digests: list[str] = Field(
        default_factory=lambda: list(CIRCULAR_DIGESTS),
        description="Digest algorithms accepted (pyHanko names); SHA-1 and MD5 are refused by default")

    @field_validator("digests")
    @classmethod
    def _known_digests(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CIRCULAR_DIGESTS) - {"sha1", "md5"})
        if unknown:
            raise ValueError(f"unknown digest algorithm(s) {unknown}; known: {CIRCULAR_DIGESTS + ['sha1', 'md5']}")
        return value


class CertifyingAuthority(SigningGroup):
    """One way to recognise a certifying office (cơ quan chứng thực); every field given must match."""

    issuer: str | None = Field(default=None, description="Common name (CN) of the issuing CA")
    subject: dict[str, str] = Field(
        default_factory=dict, description="Subject attributes that must be equal, e.g. {O: 'UBND phường Bến Nghé'}; "
                                          "keys are short names: CN, O, OU, L, ST, C, UID, serialNumber")
    policy_oid: str | None = Field(default=None, description="A certificate policy OID the signer's certificate holds")

    @field_validator("policy_oid")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-2](\.\d+)+", value):
            raise ValueError(f"{value!r} is not a dotted OID such as 2.16.704.1.1.1")
        return value


class CertifiedCopyRules(SigningGroup):
    authorities: list[CertifyingAuthority] = Field(
        default_factory=list, description="Certifying authorities; a certified copy's certifying signature must "
                                          "come from one of them (empty: every certified copy fails this rule)")
    register_number_required: bool = Field(
        default=True, description="The certification register number (số chứng thực) must be present")
    register_number_pattern: str = Field(
        default=r"(?i)(?:số chứng thực|so chung thuc|register number)\s*[:：]?\s*([0-9][^\s,;]*)",
        description="Regular expression finding the register number in the certifying signature's reason, "
                    "location, contact info or name; group 1 is the number")

    @field_validator("register_number_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value


class SigningSettings(SigningGroup):
    trust_anchors: list[Path] = Field(
        default_factory=list,
        description="Files (PEM or DER, one or many certificates) or directories of trust anchors: the national "
                    "root CA's old and new roots, the government CA. Nothing else is trusted, never the system's roots")
    fetch_revocation: bool = Field(
        default=True, description="Fetch OCSP and CRLs from the URLs in certificates; off: only revocation data "
                                  "embedded in the document counts")
    fetch_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of one OCSP or CRL request")
    revocation_cache_s: float = Field(
        default=300.0, ge=0, le=86400,
        description="Keep fetched OCSP responses and CRLs this long (never past their nextUpdate); 0: no cache")
    require_timestamp: bool = Field(
        default=False, description="Refuse signatures without an RFC 3161 signature timestamp (PAdES/CAdES B-T)")
    key_usage: list[str] = Field(
        default_factory=lambda: ["non_repudiation", "digital_signature"],
        description="Key usages a signer's certificate may have; one of them is enough")
    algorithms: AlgorithmRules = Field(default_factory=AlgorithmRules, description="Algorithm policy")
    certified_copy: CertifiedCopyRules = Field(
        default_factory=CertifiedCopyRules, description="Rules for electronic certified copies (Decree 45/2020)")
    max_document_bytes: int = Field(default=50 * 2**20, ge=1024, le=2**31, description="Largest document accepted")
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="Longest verification of one document")
    worker_memory_mb: int = Field(
        default=1024, ge=128, le=65536, description="Address-space limit of the verification worker process")
    workers: int = Field(default=1, ge=1, le=64, description="Verification worker processes")
    document_url_prefixes: list[str] = Field(
        default_factory=list,
        description="Submitted dossiers' documents are downloaded and verified only from URLs starting with one "
                    "of these (the one-stop system's file store); empty: documents are not downloaded")
    download_timeout_s: float = Field(default=30.0, gt=0, le=600, description="Timeout of one document download")

    @field_validator("key_usage")
    @classmethod
    def _known_usages(cls, value: list[str]) -> list[str]:
        if not value or set(value) - KEY_USAGES:
            raise ValueError(f"choose one or more of {sorted(KEY_USAGES)}")
        return value
