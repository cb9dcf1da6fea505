"""What kind of failure is this? One place decides, for every connector.

- transient: try again later (timeouts, connection errors, HTTP 408/425/429 and 5xx, also
  under SOAP; SOAP faults whose code the partner marks as transient; an open circuit breaker);
- permanent: trying again will not help (validation, other 4xx, business refusals): the
  message goes to the dead-letter topic;
- infrastructure: the gateway's own Kafka or database failed: the message is not committed
  and comes again; it is never parked or dead-lettered for that.

A partner's configuration (ErrorRules) can move HTTP statuses and fault codes between transient and
permanent (partners.NAME.errors).
"""

import asyncio
from enum import StrEnum

import httpx
from zeep import exceptions as zeep_errors
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from gateway.runtime.config import ErrorRules
from gateway.runtime.kafka import BrokerUnavailable
from gateway.store.database import StoreUnavailable


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    INFRASTRUCTURE = "infrastructure"


class GatewayFailure(Exception):
    """The gateway's own machinery failed (not the partner): the message is not committed and comes again."""


class Interrupted(GatewayFailure):
    """The gateway is stopping while a message waits: it is not committed and comes again."""


class PartnerError(Exception):
    """A partner's answer, as a value: code and message for people, kind for the machinery."""

    def __init__(self, message: str, *, code: str = "", kind: FailureKind | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind


class TransientError(PartnerError):
    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, code=code, kind=FailureKind.TRANSIENT)


class PermanentError(PartnerError):
    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, code=code, kind=FailureKind.PERMANENT)


class WaitingForEarlier(TransientError):
    """Not the partner's failure: something this message needs has not been done yet (its
    dossier has not reached the partner). Retried like a transient failure; the partner's
    circuit breaker does not count it."""


DEFAULT_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def classify(error: BaseException, rules: ErrorRules | None = None) -> FailureKind:
    rules = rules or ErrorRules()
    if isinstance(error, PartnerError):
        if error.code and error.code in rules.permanent_codes:
            return FailureKind.PERMANENT
        if error.code and error.code in rules.transient_codes:
            return FailureKind.TRANSIENT
        return error.kind or FailureKind.PERMANENT
    if isinstance(error, zeep_errors.Fault):
        return fault_kind(error, rules)
    if isinstance(error, (httpx.HTTPStatusError, zeep_errors.TransportError)):
        status = error.response.status_code if isinstance(error, httpx.HTTPStatusError) else error.status_code
        return _status_kind(status, rules)
    if isinstance(error, (httpx.TransportError, TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return FailureKind.TRANSIENT
    if isinstance(error, (DataError, IntegrityError, MessageSizeTooLargeError)):
        return FailureKind.PERMANENT  # this message can never be stored or sent as it is
    if isinstance(error, (KafkaError, SQLAlchemyError, StoreUnavailable, BrokerUnavailable, GatewayFailure)):
        return FailureKind.INFRASTRUCTURE
    if isinstance(error, (ValidationError, ValueError, KeyError, TypeError)):
        return FailureKind.PERMANENT
    return FailureKind.TRANSIENT  # unknown: retrying is safe, dead-lettering at once may not be


def fault_kind(fault: zeep_errors.Fault, rules: ErrorRules) -> FailureKind:
    """A SOAP fault is the service's answer: permanent unless the partner marks its code, or
    words of its message, transient. Codes match with or without their prefix (soap:Server, Server)."""
    codes = set()
    for code in (fault.code, *(fault.subcodes or ())):
        text = str(getattr(code, "localname", code) or "")  # subcodes are QNames
        codes |= {text, text.rpartition(":")[2]}
    codes.discard("")
    if codes & set(rules.permanent_codes):
        return FailureKind.PERMANENT
    message = str(fault.message or "").lower()
    if codes & set(rules.transient_codes) or any(word.lower() in message for word in rules.transient_messages):
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def _status_kind(status: int, rules: ErrorRules) -> FailureKind:
    if status in rules.permanent_statuses:
        return FailureKind.PERMANENT
    if status >= 500 or status in DEFAULT_TRANSIENT_STATUSES or status in rules.transient_statuses:
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT
