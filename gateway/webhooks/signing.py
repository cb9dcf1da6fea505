"""The two signature schemes payment providers use, over exact bytes, compared in constant time.

- checksum_sha256 (the national portal's payment platform, `MaXacThuc`): lowercase hex SHA-256
  of the named fields joined by "|" with the shared secret appended. Not an HMAC (a hash with
  an appended secret is weaker), supported because the platform requires it.
- hmac_sha256 (banks, the post office): lowercase hex HMAC-SHA256 with the shared secret over
  `TIMESTAMP.RAW_BODY`, sent in headers beside the timestamp (Unix seconds), so a captured
  request cannot be sent again later and the body cannot change.
"""

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def checksum_text(value: Any) -> str:
    """How a field's value enters the checksum: as its JSON text, without quotes; empty when absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def checksum(values: Mapping[str, Any], fields: Sequence[str], secret: str) -> str:
    joined = "|".join([checksum_text(values.get(field)) for field in fields] + [secret])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def hmac_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + raw_body, hashlib.sha256).hexdigest()


def same(offered: str | None, expected: str) -> bool:
    """Constant time: how long it takes does not tell how many leading characters were right."""
    return hmac.compare_digest((offered or "").strip().lower().encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class HmacProblem:
    refusal: str  # bad_signature or stale
    words: str  # what is wrong, for people (simulators answer it)


def hmac_problem(secret: str, timestamp: str | None, signature: str | None, raw_body: bytes,
                 tolerance_s: float) -> HmacProblem | None:
    """Why a request signed with HMAC over TIMESTAMP.RAW_BODY does not hold, or None when it does.
    The signature is checked before the timestamp's age: only the partner can make a stale one."""
    if not timestamp or not signature:
        return HmacProblem("bad_signature", "the timestamp and signature headers are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return HmacProblem("bad_signature", "the timestamp is not Unix seconds")
    if not same(signature, hmac_signature(secret, timestamp, raw_body)):
        return HmacProblem("bad_signature", "bad signature")
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return HmacProblem("stale", f"the timestamp is further than {tolerance_s:g} s from now")
    return None
