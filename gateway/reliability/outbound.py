"""Outbound flow: a Kafka message becomes one call to a partner, safely. Every connector that
calls a partner describes itself as a `PartnerFlow`; this module does the rest:

1. it reads the source topic in the connector's own consumer group, and the connector's retry
   topic (`gateway.retry.NAME`);
2. a message whose side effect is already done (same message id, or the same partner
   idempotency key marked done) is not sent again;
3. a message of a dossier that already has a parked message waits behind it, so each
   dossier's messages reach the partner in order while other dossiers keep flowing;
4. the call is retried in process for transient failures (tenacity: exponential backoff with
   jitter, bounded by attempts and a deadline), through the partner's circuit breaker;
5. still failing transiently: the message is parked in the retry topic, due after a growing
   delay; after `retry.parked_attempts` rounds, or at once for a permanent failure, it goes to
   the dead letters;
6. the offset is committed only after one of these ended durably; a failure of Kafka or of the
   database commits nothing and the message is read again.
"""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from gateway.reliability import parking
from gateway.reliability.breaker import BreakerOpen, CircuitBreaker
from gateway.reliability.dead_letters import RETRY_ATTEMPT, RETRY_DUE_AT
from gateway.reliability.errors import FailureKind, GatewayFailure, Interrupted, WaitingForEarlier, classify
from gateway.reliability.idempotency import claim_message
from gateway.reliability.partner_calls import CallState, PartnerCalls
from gateway.runtime.config import PartnerSettings
from gateway.runtime.messaging import Delivery, subscribe
from gateway.runtime.roles import RoleContext
from gateway.topics import Topic, retry_topic, retry_topic_name

log = logging.getLogger(__name__)

# A message not yet due waits in its handler at most this long, then goes round the retry
# topic again: the consumer must keep polling to stay in its group.
LONGEST_WAIT_S = 20.0


@dataclass(frozen=True)
class Outcome:
    """How a message ended at the partner: taken, or refused for good (dead-lettered)."""

    delivered: bool
    detail: str  # the partner's answer or error, for people


@dataclass(frozen=True)
class PartnerFlow:
    """What a connector tells the machinery about itself."""

    connector: str  # names the consumer group, retry topic, breaker and dead letters
    source: Topic
    idempotency_key: Callable[[Any], str]  # body -> the partner's idempotency key
    call: Callable[[Any, Delivery], Awaitable[str]]  # one call; returns a short outcome ("201 Created")
    lookup: Callable[[str], Awaitable[bool]] | None = None  # does the partner already have this key?
    applies_to: Callable[[Any], bool] = field(default=lambda body: True)  # others are committed at once
    # Tells the one-stop system how it ended. Called before the outcome is made durable, so a
    # crash in between reports again (with the same message id) rather than never.
    report: Callable[[Any, Delivery, Outcome], Awaitable[None]] | None = None
    description: str = ""


class OutboundConsumer:
    def __init__(self, flow: PartnerFlow, broker: KafkaBroker, context: RoleContext) -> None:
        self.flow = flow
        self.broker = broker
        self.context = context
        self.settings: PartnerSettings = context.partner(flow.connector)
        self.breaker: CircuitBreaker = context.breakers.for_partner(flow.connector, self.settings.breaker)
        self.calls = PartnerCalls(context.database)
        self.retry_topic = retry_topic(flow.connector, flow.source)

    def install(self) -> None:
        common = {"kafka": self.context.settings.kafka, "connector": self.flow.connector,
                  "dead_letters": self.context.dead_letters, "counters": self.context.counters}
        name = self.flow.connector
        subscribe(self.broker, self.flow.source, title=f"{self.flow.source.name}:{name}",
                  description=self.flow.description, **common)(_own_failures_retried(self.on_source))
        # Its own group: two consumers of one group on different topics rebalance each other.
        subscribe(self.broker, self.retry_topic, title=f"{self.retry_topic.name}:{name}", group=f"gateway.{name}.retry",
                  description=f"{name}: messages parked for another try.", **common)(_own_failures_retried(self.on_retry))

    async def on_source(self, body: Any, delivery: Delivery) -> None:
        if not self.flow.applies_to(body):
            return
        key = self.flow.idempotency_key(body)
        # One transaction decides: done already, queue behind a parked message, or go.
        async with self.context.database.transaction() as session:
            state = await self._call_state(session, key, delivery)
            if state is CallState.DONE:
                return
            head = await parking.head_of(session, self.flow.connector, delivery.dossier_code)
            if head is None and state is None:
                await PartnerCalls.mark_in(session, self.flow.connector, key, delivery.message_id, CallState.STARTED)
        if head is not None:
            if head[0] == delivery.message_id:
                return  # read again after it was parked (its commit was lost): it waits in the retry topic
            # An earlier message of this dossier is parked: this one queues behind it.
            await self._park(delivery, attempts=0, due_at=datetime.now(UTC), error=f"waiting behind {head[0]}")
            return
        await self._deliver(body, delivery, attempts_before=0, uncertain=state is CallState.STARTED)

    async def on_retry(self, body: Any, delivery: Delivery) -> None:
        attempts = int(delivery.raw.headers.get(RETRY_ATTEMPT, "0"))
        due_at = datetime.fromtimestamp(int(delivery.raw.headers.get(RETRY_DUE_AT, "0")) / 1000, UTC)
        key = self.flow.idempotency_key(body)
        async with self.context.database.transaction() as session:
            state = await self._call_state(session, key, delivery)
            if state is CallState.DONE:
                return
            if await parking.find(session, self.flow.connector, delivery.message_id) is None:
                # A replay, or a crash between the retry topic's write and the database's.
                await parking.park(session, connector=self.flow.connector, message_id=delivery.message_id,
                                   dossier_code=delivery.dossier_code, attempts=attempts, due_at=due_at,
                                   error=None, now=datetime.now(UTC))
            head_id, head = await parking.head_of(session, self.flow.connector, delivery.dossier_code)
        if head_id != delivery.message_id:
            # Not first in its dossier's line: wait (bounded) so the line is not spun through the topic.
            due_at = max(due_at, head.due_at)
            await self._wait_until(due_at)
            await self._park(delivery, attempts=attempts, due_at=due_at, error=f"waiting behind {head_id}")
            return
        if not await self._wait_until(due_at):
            await self._park(delivery, attempts=attempts, due_at=due_at, error=None)
            return
        if state is None:
            await self.calls.mark(self.flow.connector, key, delivery.message_id, CallState.STARTED)
        await self._deliver(body, delivery, attempts_before=attempts, uncertain=state is CallState.STARTED)

    async def _call_state(self, session, key: str, delivery: Delivery) -> CallState | None:
        """The state of the partner call for `key`. When it is done (a redelivery, a resend),
        the message is dropped here and counted as a duplicate."""
        state = await PartnerCalls.state_in(session, self.flow.connector, key)
        if state is CallState.DONE:
            await claim_message(session, self.flow.connector, delivery.message_id)
            await parking.release(session, self.flow.connector, delivery.message_id)
            self.context.counters.add(self.flow.connector, "duplicates")
        return state

    async def _deliver(self, body: Any, delivery: Delivery, attempts_before: int, uncertain: bool) -> None:
        """Call the partner (its call is marked 'started'); `uncertain`: an earlier call may have reached it."""
        key = self.flow.idempotency_key(body)
        try:
            outcome = await self._call_with_retries(body, delivery, key, uncertain)
        except Exception as error:
            kind = classify(error, self.settings.errors)
            if kind is FailureKind.INFRASTRUCTURE:
                raise
            await self._audit(delivery, f"failed: {type(error).__name__}: {error}")
            await self._after_failure(body, delivery, error, kind, attempts_before + 1)
            return
        if self.flow.report:
            await self.flow.report(body, delivery, Outcome(delivered=True, detail=outcome))
        async with self.context.database.transaction() as session:
            await PartnerCalls.mark_in(session, self.flow.connector, key, delivery.message_id, CallState.DONE)
            await claim_message(session, self.flow.connector, delivery.message_id)
            await parking.release(session, self.flow.connector, delivery.message_id)
        await self._audit(delivery, outcome)
        self.context.counters.add(self.flow.connector, "delivered")

    async def _call_with_retries(self, body: Any, delivery: Delivery, key: str, uncertain: bool) -> str:
        policy = self.settings.retry
        if uncertain and self.flow.lookup and await self.flow.lookup(key):
            # An earlier call reached the partner before its worker died or lost the answer.
            return "already at the partner (confirmed by look-up)"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_s),
            wait=wait_exponential_jitter(multiplier=policy.initial_delay_s, max=policy.max_delay_s,
                                         exp_base=policy.multiplier, jitter=policy.initial_delay_s if policy.jitter else 0),
            retry=retry_if_exception(self._worth_retrying_now),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._call_once(body, delivery)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _call_once(self, body: Any, delivery: Delivery) -> str:
        self.breaker.before_call()
        try:
            outcome = await self.flow.call(body, delivery)
        except Exception as error:
            if isinstance(error, WaitingForEarlier):
                self.breaker.released()
            elif classify(error, self.settings.errors) is FailureKind.TRANSIENT:
                self.breaker.failed(error)
            else:
                self.breaker.answered_with_error(error)  # the partner answered: it is up
            raise
        self.breaker.succeeded()
        return outcome

    def _worth_retrying_now(self, error: BaseException) -> bool:
        return not isinstance(error, BreakerOpen) and classify(error, self.settings.errors) is FailureKind.TRANSIENT

    async def _after_failure(self, body: Any, delivery: Delivery, error: BaseException, kind: FailureKind,
                             attempts: int) -> None:
        policy = self.settings.retry
        message = f"{type(error).__name__}: {error}"
        if kind is FailureKind.TRANSIENT and attempts <= policy.parked_attempts:
            due_at = datetime.now(UTC) + timedelta(seconds=policy.parked_delay(attempts))
            await self._park(delivery, attempts=attempts, due_at=due_at, error=message)
            self.context.counters.add(self.flow.connector, "retried")
            log.info("%s: parked %s of %s (round %s, due %s): %s", self.flow.connector, delivery.message_id,
                     delivery.dossier_code, attempts, due_at.isoformat(timespec="seconds"), message)
            return
        if self.flow.report:
            await self.flow.report(body, delivery, Outcome(delivered=False, detail=str(error)))
        await self.context.dead_letters.bury(
            self.flow.connector, delivery.raw, attempts=attempts, error=error, message_id=delivery.message_id,
            dossier_code=delivery.dossier_code,
            also=lambda session: parking.release(session, self.flow.connector, delivery.message_id))
        self.context.counters.add(self.flow.connector, "dead_lettered")

    async def _park(self, delivery: Delivery, *, attempts: int, due_at: datetime, error: str | None) -> None:
        """Put the message in the retry topic and the parking table, both or neither."""
        headers = {name: value for name, value in delivery.raw.headers.items() if not name.startswith("retry_")}
        # Keep the identity the message had at its source, even if its producer set none.
        headers |= {"message_id": delivery.message_id, "correlation_id": delivery.dossier_code,
                    RETRY_ATTEMPT: str(attempts), RETRY_DUE_AT: str(int(due_at.timestamp() * 1000))}
        if error:
            headers["retry_last_error"] = error[:500]
        async with self.context.database.transaction() as session:
            await parking.park(session, connector=self.flow.connector, message_id=delivery.message_id,
                               dossier_code=delivery.dossier_code, attempts=attempts, due_at=due_at, error=error,
                               now=datetime.now(UTC))
            await self.broker.publish(delivery.raw.value, retry_topic_name(self.flow.connector),
                                      key=delivery.raw.key, headers=headers)

    async def _wait_until(self, due_at: datetime) -> bool:
        """Wait for the due time, up to LONGEST_WAIT_S; False when it is still not due."""
        delay = (due_at - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            return True
        try:
            await asyncio.wait_for(self.context.stopping.wait(), min(delay, LONGEST_WAIT_S))
        except TimeoutError:
            return delay <= LONGEST_WAIT_S
        raise Interrupted("the gateway is stopping")

    async def _audit(self, delivery: Delivery, outcome: str) -> None:
        await self.context.message_log.record(
            direction="out", channel="http", partner=self.flow.connector, message_id=delivery.message_id,
            dossier_code=delivery.dossier_code, payload=delivery.raw.value, outcome=outcome)


def _own_failures_retried(handler):
    """The partner's failures are handled inside; what else escapes comes from the gateway's own
    database or Kafka. Unless it can never succeed (permanent), the message must come again, not
    be dead-lettered while its place in its dossier's queue stays taken (a driver's connection
    error that nobody classified looks transient)."""

    @functools.wraps(handler)
    async def guarded(body: Any, delivery: Delivery) -> None:
        try:
            await handler(body, delivery)
        except Exception as error:
            if classify(error) is not FailureKind.TRANSIENT:
                raise
            raise GatewayFailure(f"{type(error).__name__}: {error}") from error

    return guarded


def install_partner_flow(broker: KafkaBroker, context: RoleContext, flow: PartnerFlow) -> OutboundConsumer:
    consumer = OutboundConsumer(flow, broker, context)
    consumer.install()
    return consumer
