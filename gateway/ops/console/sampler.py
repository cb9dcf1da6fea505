"""Figures measured every `console.sample_interval_s` by the process that serves HTTP: consumer
lag per group and topic, open dead letters, and dossiers overdue or due soon. They go to
/metrics (for the alert rules) and to the console's Flows page."""

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import select

from gateway.ops.console.deadlines import counts, deadlines
from gateway.reliability.dead_letters import DeadLetters
from gateway.runtime.background import Periodic
from gateway.runtime.config import Settings
from gateway.store.database import Database
from gateway.store.tables import FlowSubscription

log = logging.getLogger(__name__)

LAG_TIMEOUT_S = 10.0


class ConsoleSampler:
    def __init__(self, settings: Settings, database: Database, dead_letters: DeadLetters, bootstrap: str,
                 registry: CollectorRegistry) -> None:
        self.settings = settings
        self.database = database
        self.dead_letters = dead_letters
        self.bootstrap = bootstrap
        self.lag: list[dict] = []  # the last measurement, for the console
        self._lag = Gauge("gateway_consumer_lag", "Records of the topic not yet consumed by the group",
                          ["group", "topic"], registry=registry)
        self._open = Gauge("gateway_dead_letters_open", "Dead letters neither replayed nor discarded",
                           ["connector"], registry=registry)
        self._overdue = Gauge("gateway_dossiers_acceptance_overdue",
                              "Dossiers past their acceptance deadline with no decision", registry=registry)
        self._due_soon = Gauge("gateway_dossiers_acceptance_due_soon",
                               "Dossiers whose acceptance deadline is within console.due_soon_hours", registry=registry)
        self._past = Gauge("gateway_dossiers_past_appointment",
                           "Dossiers past their appointment date (NgayHenTra) with no result returned",
                           registry=registry)
        self._offsets: AIOKafkaConsumer | None = None
        self._sampler = Periodic(settings.console.sample_interval_s, self.sample, "console-sampler")

    async def start(self) -> None:
        self._sampler.start()

    async def stop(self) -> None:
        await self._sampler.stop()
        if self._offsets is not None:
            await self._offsets.stop()
            self._offsets = None

    async def sample(self) -> None:
        for name, measure in (("dead letters", self._measure_dead_letters), ("deadlines", self._measure_deadlines),
                              ("consumer lag", self._measure_lag_in_time)):
            try:
                await measure()
            except Exception as error:  # noqa: BLE001 - one figure missing must not stop the others
                log.warning("console: %s not measured: %s", name, str(error) or type(error).__name__)

    async def _measure_lag_in_time(self) -> None:
        """Lag not measured is no lag: a figure left from before Kafka went away would say all is
        well (and ConsumerLagGrowing could never fire), so the figures go and the page shows none."""
        try:
            await asyncio.wait_for(self._measure_lag(), LAG_TIMEOUT_S)
        except Exception:
            self.lag = []
            self._lag.clear()
            offsets, self._offsets = self._offsets, None  # connect afresh next round
            if offsets is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(offsets.stop(), 2)
            raise

    async def _measure_lag(self) -> None:
        async with self.database.transaction() as session:
            subscriptions = (await session.execute(
                select(FlowSubscription.group_id, FlowSubscription.topic, FlowSubscription.flow)
                .order_by(FlowSubscription.group_id, FlowSubscription.topic))).all()
        if not subscriptions:
            return
        if self._offsets is None:
            self._offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                             client_id=f"{self.settings.kafka.client_id}-console")
            await self._offsets.start()
        lag = []
        for group, topic, flow in subscriptions:
            partitions = [TopicPartition(topic, p) for p in sorted(await self._partitions(topic))]
            if not partitions:
                continue
            ends = await self._offsets.end_offsets(partitions)
            committed = await _committed(self.bootstrap, group, partitions)
            behind = sum(max(ends[tp] - committed.get(tp, 0), 0) for tp in partitions)
            lag.append({"group": group, "topic": topic, "flow": flow, "lag": behind})
            self._lag.labels(group, topic).set(behind)
        self.lag = lag

    async def _partitions(self, topic: str) -> set[int]:
        found = self._offsets.partitions_for_topic(topic)
        if not found:
            await self._offsets._client.force_metadata_update()
            found = self._offsets.partitions_for_topic(topic)
        return found or set()

    async def _measure_dead_letters(self) -> None:
        open_counts = await self.dead_letters.open_counts()
        for labels in self._open.collect()[0].samples:
            connector = labels.labels["connector"]
            if connector not in open_counts:
                self._open.labels(connector).set(0)
        for connector, count in open_counts.items():
            self._open.labels(connector).set(count)

    async def _measure_deadlines(self) -> None:
        page = await deadlines(self.database, self.settings.calendar, self.settings.console, self.settings.agencies)
        found = counts(page)
        self._overdue.set(found.overdue)
        self._due_soon.set(found.due_soon)
        self._past.set(found.past_appointment)


async def _committed(bootstrap: str, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The group's committed offsets, asked by a consumer that carries the group id but never
    subscribes (so it does not join the group and cause a rebalance). Kafka's admin OffsetFetch
    would be simpler, but aiokafka's fails on the embedded Tansu broker."""
    member = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await member.start()
    try:
        return {tp: offset for tp in partitions if (offset := await member.committed(tp)) is not None}
    finally:
        await member.stop()
