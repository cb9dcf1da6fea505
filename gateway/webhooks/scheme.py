"""How a partner signs what it sends and what it expects signed back, as configuration."""

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.webhooks import signing

DAY_S = 86_400.0


class SignatureScheme(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheme: Literal["checksum_sha256", "hmac_sha256"] = Field(
        description="checksum_sha256: SHA-256 of named fields + secret in a body field (the national portal's "
                    "MaXacThuc); hmac_sha256: HMAC over TIMESTAMP.BODY in headers")
    credential: str = Field(default="secret", description="Name in partners.NAME.credentials of the shared secret")
    field: str = Field(default="MaXacThuc", description="checksum_sha256: the body field holding the checksum")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="checksum_sha256: the fields joined, in order, per message kind")
    timestamp_header: str = Field(default="X-Timestamp", description="hmac_sha256: header with Unix seconds")
    signature_header: str = Field(default="X-Signature", description="hmac_sha256: header with the hex HMAC")
    tolerance_s: float = Field(default=300.0, gt=0, le=DAY_S,
                               description="hmac_sha256: a timestamp further than this from now is stale")

    def missing_fields(self, kinds: tuple[str, ...]) -> list[str]:
        """The message kinds a checksum scheme names no fields for."""
        return [kind for kind in kinds if not self.fields.get(kind)] if self.scheme == "checksum_sha256" else []


@dataclass(frozen=True)
class Verified:
    refusal: str | None  # bad_signature, stale or malformed; None: the request is the partner's
    body: dict[str, Any] | None = None  # checksum scheme: the JSON it had to read to check
    replay_key: str | None = None  # hmac scheme: the signature, refused when it comes again


def verify(scheme: SignatureScheme, secret: str, headers: dict[str, str], raw: bytes, kind: str) -> Verified:
    """Check a request over its raw bytes in constant time (`headers` with lower-case names).
    hmac_sha256 is checked before the body is parsed; checksum_sha256 must parse the JSON to
    find its fields, and nothing else is done with it before the checksum holds."""
    if scheme.scheme == "hmac_sha256":
        offered = headers.get(scheme.signature_header.lower(), "")
        problem = signing.hmac_problem(secret, headers.get(scheme.timestamp_header.lower()), offered, raw,
                                       scheme.tolerance_s)
        if problem is not None:
            return Verified(problem.refusal)
        return Verified(None, replay_key=offered.strip().lower())
    body = parse_json(raw)
    if not isinstance(body, dict):
        return Verified("malformed")
    offered = body.get(scheme.field)
    if not isinstance(offered, str) or not signing.same(offered, signing.checksum(body, scheme.fields[kind], secret)):
        return Verified("bad_signature")
    return Verified(None, body=body)  # no request timestamp: a repeat is for the connector to answer


def parse_json(raw: bytes) -> Any:
    """The JSON of a body, or None when it is not JSON (or nested deeper than Python parses)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def signed(scheme: SignatureScheme, secret: str, body: dict[str, Any] | None, kind: str) -> tuple[bytes, dict]:
    """The body's bytes and headers, signed: a checksum field in the body (over the fields of
    `kind`), or timestamp and HMAC headers over the bytes."""
    if body is not None and scheme.scheme == "checksum_sha256":
        body = body | {scheme.field: signing.checksum(body, scheme.fields[kind], secret)}
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if scheme.scheme != "hmac_sha256":
        return raw, {}
    timestamp = str(int(time.time()))
    return raw, {scheme.timestamp_header: timestamp,
                 scheme.signature_header: signing.hmac_signature(secret, timestamp, raw)}
