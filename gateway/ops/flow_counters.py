"""Figures per flow (sent, delivered, duplicates, ..., and how long handling took), in the
database so that every worker process adds to the same figures: running totals, and counts per
minute for the console's 5-minute, hour and day windows.

Counting must not slow the flows down: each process adds in memory and writes its increments
in one transaction every half second. A crash can lose the last half second of statistics,
never a message.
"""

import asyncio
import bisect
import logging
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.runtime.background import Periodic
from gateway.store.database import Database
from gateway.store.tables import FlowCounter, FlowDirection, FlowMinute, FlowSubscription
from gateway.store.upsert import insert_for

log = logging.getLogger(__name__)

# Outcomes every flow reports, so a summary shows a zero rather than nothing.
OUTCOMES = ("sent", "delivered", "rejected", "retried", "dead_lettered", "duplicates")
FLUSH_INTERVAL_S = 0.5
FINAL_FLUSH_S = 10.0
# Upper bounds (seconds) of the latency buckets: the console's percentiles and Prometheus's
# histogram_quantile read the same buckets. The last, open bucket is everything slower.
LATENCY_BOUNDS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MINUTES_KEPT = 2 * 24 * 60
PRUNE_EVERY_S = 600.0
Direction = Literal["in", "out"]


def latency_measure(bucket: int) -> str:
    return f"latency_{bucket}"


class FlowCounters:
    def __init__(
        self, database: Database, registry: CollectorRegistry | None = None, flush_interval_s: float = FLUSH_INTERVAL_S
    ) -> None:
        self.database = database
        # The same figures for Prometheus, per process.
        self._metric = Counter(
            "gateway_flow_events", "Events per flow and outcome in this process", ["flow", "outcome"],
            registry=registry,
        ) if registry is not None else None
        self._latency = Histogram(
            "gateway_flow_latency_seconds", "From a message's write to its topic until its flow finished handling it",
            ["flow"], buckets=LATENCY_BOUNDS_S, registry=registry,
        ) if registry is not None else None
        self.flush_interval_s = flush_interval_s
        self._pending: Tally[tuple[str, str]] = Tally()
        self._minutes: Tally[tuple[str, int, str]] = Tally()  # (flow, minute, measure)
        self._directions: dict[str, Direction] = {}
        self._subscriptions: set[tuple[str, str, str]] = set()  # (group, topic, flow) not yet written
        self._declared: set[tuple] = set()
        self._writer = Periodic(flush_interval_s, self.flush, "flow-counters")
        self._pruned_at = 0.0
        # Held while a flush writes: its figures are then neither pending nor yet committed, and
        # a reader in between would see them missing.
        self._writing = asyncio.Lock()

    def declare(self, flow: str, direction: Direction, subscription: tuple[str, str] | None = None) -> None:
        """A flow this process runs (and a consumer group and topic it reads): its Prometheus
        series start at 0 (so `increase()` sees the first dead letter), and the console knows
        which way it carries messages and where to measure its lag."""
        if (flow, direction, subscription) in self._declared:
            return
        self._declared.add((flow, direction, subscription))
        self._directions[flow] = direction
        if subscription is not None:
            self._subscriptions.add((*subscription, flow))
        if self._metric is not None:
            for outcome in OUTCOMES:
                self._metric.labels(flow, outcome)

    def add(self, flow: str, outcome: str, amount: int = 1) -> None:
        self._pending[(flow, outcome)] += amount
        self._minutes[(flow, _minute_now(), outcome)] += amount
        if self._metric is not None:
            self._metric.labels(flow, outcome).inc(amount)

    def observe_latency(self, flow: str, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self._minutes[(flow, _minute_now(), latency_measure(bisect.bisect_left(LATENCY_BOUNDS_S, seconds)))] += 1
        if self._latency is not None:
            self._latency.labels(flow).observe(seconds)

    async def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()
        try:  # the last figures, unless the database is gone for good
            await asyncio.wait_for(self.flush(), FINAL_FLUSH_S)
        except TimeoutError:
            log.warning("flow counters: the last %s figure(s) were not written (the database does not answer)",
                        sum(self._pending.values()))

    async def flush(self) -> None:
        async with self._writing:
            await self._write()

    @asynccontextmanager
    async def settled(self) -> AsyncIterator[None]:
        """While inside, no flush is half done: what the database holds plus `with_pending` is
        every figure this process counted."""
        async with self._writing:
            yield

    async def _write(self) -> None:
        pending, self._pending = self._pending, Tally()
        minutes, self._minutes = self._minutes, Tally()
        directions, self._directions = self._directions, {}
        subscriptions, self._subscriptions = self._subscriptions, set()
        prune = time.monotonic() - self._pruned_at > PRUNE_EVERY_S
        if not (pending or minutes or directions or subscriptions or prune):
            return
        try:
            async with self.database.transaction() as session:
                for flow, direction in sorted(directions.items()):
                    await _declare(session, flow, direction)
                for group, topic, flow in sorted(subscriptions):
                    statement = insert_for(session, FlowSubscription.__table__).values(
                        group_id=group, topic=topic, flow=flow)
                    await session.execute(statement.on_conflict_do_nothing())
                for (flow, outcome), amount in sorted(pending.items()):
                    await _add(session, flow, outcome, amount)
                for (flow, minute, measure), amount in sorted(minutes.items()):
                    await _add_minute(session, flow, minute, measure, amount)
                if prune:
                    await session.execute(delete(FlowMinute).where(FlowMinute.minute < _minute_now() - MINUTES_KEPT))
        except BaseException as error:  # keep the figures for the next try (also when cancelled at shutdown)
            self._pending.update(pending)
            self._minutes.update(minutes)
            self._directions = directions | self._directions
            self._subscriptions |= subscriptions
            if not isinstance(error, Exception):
                raise
            log.warning("flow counters not written (will retry): %s", error)
            return
        if prune:
            self._pruned_at = time.monotonic()

    async def read(self) -> dict[str, dict[str, int]]:
        """{flow: {outcome: count}} as stored, plus what this process has not written yet."""
        async with self.settled(), self.database.transaction() as session:
            return self.with_pending(await read_all(session))

    def with_pending(self, flows: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """`flows` as read from the database, plus what this process has not written yet."""
        for (flow, outcome), amount in self._pending.items():
            flows.setdefault(flow, dict.fromkeys(OUTCOMES, 0))
            flows[flow][outcome] = flows[flow].get(outcome, 0) + amount
        return flows


async def _add(session: AsyncSession, flow: str, outcome: str, amount: int) -> None:
    statement = insert_for(session, FlowCounter.__table__).values(flow=flow, outcome=outcome, count=amount)
    statement = statement.on_conflict_do_update(
        index_elements=["flow", "outcome"],
        set_={"count": FlowCounter.__table__.c.count + amount},
    )
    await session.execute(statement)


async def _declare(session: AsyncSession, flow: str, direction: str) -> None:
    table = FlowDirection.__table__
    statement = insert_for(session, table).values(flow=flow, direction=direction)
    await session.execute(statement.on_conflict_do_update(index_elements=["flow"], set_={"direction": direction}))
    # Zero totals, so the flow shows before its first message.
    for outcome in OUTCOMES:
        await _add(session, flow, outcome, 0)


async def _add_minute(session: AsyncSession, flow: str, minute: int, measure: str, amount: int) -> None:
    table = FlowMinute.__table__
    statement = insert_for(session, table).values(flow=flow, minute=minute, measure=measure, count=amount)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["flow", "minute", "measure"], set_={"count": table.c.count + amount}))


def _minute_now() -> int:
    return int(time.time() // 60)


async def read_all(session: AsyncSession) -> dict[str, dict[str, int]]:
    flows: dict[str, dict[str, int]] = {}
    for row in await session.execute(select(FlowCounter.flow, FlowCounter.outcome, FlowCounter.count)):
        flows.setdefault(row.flow, dict.fromkeys(OUTCOMES, 0))[row.outcome] = row.count
    return flows
