"""Running totals per flow (sent, delivered, duplicates, ...), in the database so that every
worker process adds to the same figures.

Counting must not slow the flows down: each process adds in memory and writes its increments
in one transaction every half second. A crash can lose the last half second of statistics,
never a message.
"""

import asyncio
import contextlib
import logging
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.database import Database
from gateway.store.tables import FlowCounter
from gateway.store.upsert import insert_for

log = logging.getLogger(__name__)

# Outcomes every flow reports, so a summary shows a zero rather than nothing.
OUTCOMES = ("sent", "delivered", "rejected", "retried", "dead_lettered", "duplicates")
FLUSH_INTERVAL_S = 0.5


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
        self.flush_interval_s = flush_interval_s
        self._pending: Tally[tuple[str, str]] = Tally()
        self._task: asyncio.Task | None = None

    def add(self, flow: str, outcome: str, amount: int = 1) -> None:
        self._pending[(flow, outcome)] += amount
        if self._metric is not None:
            self._metric.labels(flow, outcome).inc(amount)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_periodically(), name="flow-counters")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, Tally()
        if not pending:
            return
        try:
            async with self.database.transaction() as session:
                for (flow, outcome), amount in sorted(pending.items()):
                    await _add(session, flow, outcome, amount)
        except Exception as error:  # noqa: BLE001 - keep the figures for the next try
            self._pending.update(pending)
            log.warning("flow counters not written (will retry): %s", error)

    async def read(self) -> dict[str, dict[str, int]]:
        """{flow: {outcome: count}} as stored, plus what this process has not written yet."""
        async with self.database.transaction() as session:
            flows = await read_all(session)
        for (flow, outcome), amount in self._pending.items():
            flows.setdefault(flow, dict.fromkeys(OUTCOMES, 0))
            flows[flow][outcome] = flows[flow].get(outcome, 0) + amount
        return flows

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()


async def _add(session: AsyncSession, flow: str, outcome: str, amount: int) -> None:
    statement = insert_for(session, FlowCounter.__table__).values(flow=flow, outcome=outcome, count=amount)
    statement = statement.on_conflict_do_update(
        index_elements=["flow", "outcome"],
        set_={"count": FlowCounter.__table__.c.count + amount},
    )
    await session.execute(statement)


async def read_all(session: AsyncSession) -> dict[str, dict[str, int]]:
    flows: dict[str, dict[str, int]] = {}
    for row in await session.execute(select(FlowCounter.flow, FlowCounter.outcome, FlowCounter.count)):
        flows.setdefault(row.flow, dict.fromkeys(OUTCOMES, 0))[row.outcome] = row.count
    return flows
