"""Circuit breaker per partner endpoint: after repeated transient failures, stop calling for a
cool-down; then let one probe through (half-open); its result closes or re-opens the circuit.

State is per process (each worker protects itself); it is exported to /metrics and /readyz,
and with the times of the last success and the last error to the console (ops/partner_health).
"""

import time
from datetime import UTC, datetime
from enum import StrEnum

from prometheus_client import CollectorRegistry, Gauge

from gateway.privacy import mask_error
from gateway.reliability.errors import TransientError
from gateway.runtime.config import BreakerSettings


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class BreakerOpen(TransientError):
    def __init__(self, partner: str, retry_in_s: float) -> None:
        super().__init__(f"circuit breaker for {partner} is open; next probe in {retry_in_s:.0f}s", code="breaker_open")
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(self, partner: str, settings: BreakerSettings, gauge: Gauge | None = None,
                 clock=time.monotonic) -> None:
        self.partner = partner
        self.settings = settings
        self._clock = clock
        self._gauge = gauge
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED
        self.last_success_at: datetime | None = None
        self.last_error_at: datetime | None = None
        self.last_error: str | None = None
        self._show()

    def before_call(self) -> None:
        """Raise BreakerOpen unless a call may go out now."""
        if self.state is BreakerState.OPEN:
            waited = self._clock() - self._opened_at
            if waited < self.settings.cool_down_s:
                raise BreakerOpen(self.partner, self.settings.cool_down_s - waited)
            self._set(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                raise BreakerOpen(self.partner, 1)
            self._probing = True

    def succeeded(self) -> None:
        self._failures = 0
        self._probing = False
        self.last_success_at = datetime.now(UTC)
        self._set(BreakerState.CLOSED)

    def answered_with_error(self, error: BaseException) -> None:
        """The partner answered, with a permanent error: it is up (the circuit closes), but this
        is no success to show; the error is shown."""
        self._note(error)
        self._failures = 0
        self._probing = False
        self._set(BreakerState.CLOSED)

    def released(self) -> None:
        """The call never reached the partner (the gateway held it back): no verdict on its health."""
        self._probing = False

    def failed(self, error: BaseException | None = None) -> None:
        """A transient failure (permanent ones say nothing about the partner's health)."""
        self._note(error)
        self._probing = False
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.settings.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def _note(self, error: BaseException | None) -> None:
        self.last_error_at = datetime.now(UTC)
        # Masked before it is cut and kept: the console shows it to viewers.
        self.last_error = mask_error(str(error) or type(error).__name__, 500) if error is not None else "failed"

    def _set(self, state: BreakerState) -> None:
        self.state = state
        self._show()

    def _show(self) -> None:
        if self._gauge is not None:
            self._gauge.labels(self.partner).set(STATE_VALUES[self.state])


def breaker_gauge(registry: CollectorRegistry | None) -> Gauge | None:
    if registry is None:
        return None
    return Gauge("gateway_circuit_breaker_state", "Circuit breaker per partner: 0 closed, 1 half-open, 2 open",
                 ["partner"], registry=registry)


class Breakers:
    """The breakers of this process, one per partner endpoint."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._gauge = breaker_gauge(registry)
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_partner(self, partner: str, settings: BreakerSettings) -> CircuitBreaker:
        if partner not in self._breakers:
            self._breakers[partner] = CircuitBreaker(partner, settings, self._gauge)
        return self._breakers[partner]

    def states(self) -> dict[str, str]:
        return {partner: breaker.state.value for partner, breaker in self._breakers.items()}

    def all(self) -> list[CircuitBreaker]:
        return list(self._breakers.values())
