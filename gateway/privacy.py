"""Personal data as operators see it: citizen ID numbers, phones, e-mails, names and addresses
masked, and a keyed hash of the ID number so a dossier can be found by it without storing it.

The key (HMAC-SHA256) comes from the environment variable `console.citizen_id_key_env` names:
without a key, an ID number of 12 digits could be found again from its plain hash by trying
every number.
"""

import hashlib
import hmac
import json
import logging
import re
from typing import Any

# Keys whose values are personal anywhere in a message (compared in lower case), with the
# Vietnamese field names partners use; `name` only beside a phone, an address or an ID number.
PERSONAL_KEYS = frozenset({
    "id_number", "phone", "email", "address", "full_name", "payer_name",
    "hoten", "hotennguoinop", "chuhoso", "sodienthoai", "dienthoai", "diachi", "socccd", "socmnd",
    "sodinhdanh", "sogiayto",
})
ID_KEYS = frozenset({"id_number", "socccd", "socmnd", "sodinhdanh", "sogiayto"})
PERSON_MARKERS = frozenset({"phone", "address", "id_number", "sodienthoai", "diachi"})
# 9 or more digits, single spaces or dots between them allowed (0912 345 678, +84 912.345.678),
# not inside a word: ID and phone numbers, never a tracking number such as EB694554395VN.
LONG_NUMBER = re.compile(r"(?<![\d+])\+?\d(?:[ .]?\d){8,}(?!\w)")
# A value in a URL's query (?api_key=...): a partner's key quoted in an error.
QUERY_VALUE = re.compile(r"([?&][^=&\s\"'<>]+=)[^&\s\"'<>#]+")


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
    """A copy of a decoded JSON value with personal fields masked, and ID and phone numbers
    masked in every other text (a note may quote them)."""
    if isinstance(value, dict):
        keys = {str(key).lower() for key in value}
        personal = PERSONAL_KEYS | ({"name"} if PERSON_MARKERS & keys else set())
        return {key: _mask_field(str(key).lower(), item) if str(key).lower() in personal else mask_personal(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [mask_personal(item) for item in value]
    return mask_numbers(value) if isinstance(value, str) else value


def mask_numbers(text: str) -> str:
    """Free text (a note, a body that is not JSON): runs of 9 or more digits, the length of ID
    and phone numbers, masked."""
    return LONG_NUMBER.sub(lambda match: mask_id_number(re.sub(r"[ .+]", "", match.group())) or "", text)


def mask_error(text: str, limit: int | None = None) -> str:
    """An error or header operators read (it may quote a partner's answer or URL): numbers and
    query values masked first, then cut to `limit`, so a cut never leaves digits unmasked."""
    masked = QUERY_VALUE.sub(r"\1***", mask_numbers(text))
    return masked[:limit] if limit else masked


class MaskedLogs(logging.Filter):
    """On a log handler: every line, and the traceback under it, with ID and phone numbers and
    URL query values masked. Log lines quote partners' answers and errors, and logs are kept and
    shipped where personal data must not go."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format call: the handler reports it, as without this filter
            return True
        record.msg, record.args = mask_error(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_error(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_error(record.stack_info)
        return True


def mask_payload(payload: bytes) -> str:
    """A message body for display: JSON with personal fields masked, and long digit runs in
    what is left (a number quoted inside a note); other text with long digit runs masked."""
    text = payload.decode(errors="replace")
    try:
        return json.dumps(mask_personal(json.loads(text)), ensure_ascii=False, indent=2)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read or mask
        return mask_numbers(text)


def _mask_field(key: str, value: Any) -> Any:
    """Everything under a personal key is masked, whatever its shape (an address object, a phone
    number written as a number)."""
    if isinstance(value, dict):
        return {inner: _mask_field(key, item) for inner, item in value.items()}
    if isinstance(value, list):
        return [_mask_field(key, item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    return mask_id_number(text) if key in ID_KEYS else mask_text(text)
