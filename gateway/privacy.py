"""Personal data as operators see it: citizen ID numbers, phones, e-mails, names and addresses
masked, and a keyed hash of the ID number so a dossier can be found by it without storing it.

The key (HMAC-SHA256) comes from the environment variable `console.citizen_id_key_env` names:
without a key, an ID number of 12 digits could be found again from its plain hash by trying
every number.
"""

import hashlib
import hmac
import json
import re
from typing import Any

# Keys whose values are personal anywhere in a message; `name` only beside a phone or an address.
PERSONAL_KEYS = frozenset({"id_number", "phone", "email", "address", "full_name", "payer_name"})
PERSON_MARKERS = frozenset({"phone", "address", "id_number"})
LONG_NUMBER = re.compile(r"\d{9,}")


def mask_id_number(number: str | None) -> str | None:
    """All but the last four characters hidden: 046190000123 → ********0123."""
    if not number:
        return number
    return "*" * max(len(number) - 4, 0) + number[-4:]


def mask_text(value: str) -> str:
    """A name, phone, e-mail or address: its first character and length only."""
    value = value.strip()
    return value[:1] + "*" * (len(value) - 1) if value else value


def citizen_key(number: str, key: bytes) -> str:
    """The keyed hash the ledger stores and a search by ID number compares."""
    normalized = re.sub(r"\s+", "", number).upper()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def mask_personal(value: Any) -> Any:
    """A copy of a decoded JSON value with personal fields masked."""
    if isinstance(value, dict):
        personal = PERSONAL_KEYS | ({"name"} if PERSON_MARKERS & value.keys() else set())
        return {key: _mask_field(key, item) if key in personal else mask_personal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_personal(item) for item in value]
    return value


def mask_payload(payload: bytes) -> str:
    """A message body for display: JSON with personal fields masked; other text with long digit
    runs (ID and phone numbers) masked."""
    text = payload.decode(errors="replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        return LONG_NUMBER.sub(lambda match: mask_id_number(match.group()) or "", text)
    return json.dumps(mask_personal(decoded), ensure_ascii=False, indent=2)


def _mask_field(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return mask_personal(value)
    return mask_id_number(value) if key == "id_number" else mask_text(value)
