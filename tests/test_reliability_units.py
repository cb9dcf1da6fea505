"""Failure classification, circuit breaker and retry delays, without any I/O."""

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from gateway.reliability.breaker import BreakerOpen, BreakerState, CircuitBreaker
from gateway.reliability.errors import FailureKind, Interrupted, PermanentError, TransientError, classify
from gateway.runtime.config import BreakerSettings, ErrorRules, RetryPolicy
from gateway.store.database import StoreUnavailable


def http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://partner.test/events")
    return httpx.HTTPStatusError("", request=request, response=httpx.Response(status, request=request))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (http_error(503), FailureKind.TRANSIENT),
        (http_error(429), FailureKind.TRANSIENT),
        (http_error(400), FailureKind.PERMANENT),
        (http_error(404), FailureKind.PERMANENT),
        (httpx.ConnectTimeout("slow"), FailureKind.TRANSIENT),
        (httpx.ConnectError("refused"), FailureKind.TRANSIENT),
        (TimeoutError(), FailureKind.TRANSIENT),
        (TransientError("busy"), FailureKind.TRANSIENT),
        (PermanentError("refused"), FailureKind.PERMANENT),
        (StoreUnavailable("down"), FailureKind.INFRASTRUCTURE),
        (Interrupted("stopping"), FailureKind.INFRASTRUCTURE),
        (RuntimeError("surprise"), FailureKind.TRANSIENT),
    ],
)
def test_default_classification(error: BaseException, kind: FailureKind) -> None:
    assert classify(error) is kind


def test_validation_errors_are_permanent() -> None:
    class Model(BaseModel):
        number: int

    with pytest.raises(ValidationError) as raised:
        Model(number="x")
    assert classify(raised.value) is FailureKind.PERMANENT


def test_partner_rules_move_statuses_and_codes() -> None:
    rules = ErrorRules(transient_statuses=[409], permanent_statuses=[501], transient_codes=["-3"])
    assert classify(http_error(409), rules) is FailureKind.TRANSIENT
    assert classify(http_error(501), rules) is FailureKind.PERMANENT
    assert classify(PermanentError("exists", code="-3"), rules) is FailureKind.TRANSIENT


def test_soap_faults_are_permanent_unless_the_partner_marks_their_code() -> None:
    from zeep.exceptions import Fault, TransportError

    busy = Fault("Hệ thống đang bận (system busy)", code="soap:Server", subcodes=["BUSY"])
    refused = Fault("Hồ sơ không hợp lệ (invalid dossier)", code="soap:Client")
    rules = ErrorRules(transient_codes=["BUSY"])
    assert classify(busy) is FailureKind.PERMANENT
    assert classify(busy, rules) is FailureKind.TRANSIENT
    assert classify(refused, rules) is FailureKind.PERMANENT
    assert classify(TransportError("gateway timeout", status_code=504)) is FailureKind.TRANSIENT
    assert classify(TransportError("forbidden", status_code=403)) is FailureKind.PERMANENT


def test_breaker_opens_probes_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker("bank", BreakerSettings(failure_threshold=3, cool_down_s=10), clock=lambda: now[0])
    for _ in range(3):
        breaker.before_call()
        breaker.failed()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call()
    now[0] = 11
    breaker.before_call()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call()  # only one probe at a time
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    now[0] = 22
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_a_call_held_back_by_the_gateway_gives_the_breaker_no_verdict() -> None:
    now = [0.0]
    breaker = CircuitBreaker("portal", BreakerSettings(failure_threshold=2, cool_down_s=10), clock=lambda: now[0])
    for _ in range(2):
        breaker.before_call()
        breaker.failed()
    now[0] = 11
    breaker.before_call()  # the probe turns out to wait for its dossier: the partner was not asked
    breaker.released()
    assert breaker.state is BreakerState.HALF_OPEN  # not closed on no evidence
    breaker.before_call()  # the next message may probe
    breaker.failed()
    assert breaker.state is BreakerState.OPEN


def test_retry_topic_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(parked_delay_s=10, multiplier=2, parked_max_delay_s=60)
    assert [policy.parked_delay(attempt) for attempt in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
