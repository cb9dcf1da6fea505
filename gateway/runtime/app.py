"""The running gateway: embedded broker (when no Kafka is configured), database, Kafka
broker with the selected roles, partner simulators and the HTTP server, started in that
order and stopped in reverse."""

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker
from faststream.kafka.publisher import DefaultPublisher as KafkaPublisher
from prometheus_client import CollectorRegistry

from gateway.audit.message_log import MessageLog
from gateway.connectors.ministry.config import callback_partners
from gateway.connectors.ministry.reports import StatusReports
from gateway.connectors.payment.config import payment_partners
from gateway.connectors.payment.confirmations import confirmation_intake
from gateway.connectors.postal.config import postal_partners
from gateway.connectors.postal.tracking import tracking_intake
from gateway.ops.console.actions import OperatorActions
from gateway.ops.console.api import ConsoleParts
from gateway.ops.console.auth import Users
from gateway.ops.console.sampler import ConsoleSampler
from gateway.ops.flow_counters import FlowCounters
from gateway.ops.partner_health import PartnerHealthReporter
from gateway.reliability.breaker import Breakers
from gateway.reliability.dead_letters import DeadLetters
from gateway.reliability.partner_calls import PartnerCalls
from gateway.runtime.config import Settings
from gateway.runtime.embedded_broker import EmbeddedBroker
from gateway.runtime.http import build_http_app
from gateway.runtime.kafka import BrokerUnavailable, build_broker, ensure_topics, start_broker, stop_broker
from gateway.runtime.roles import Role, RoleContext, gateway_topics
from gateway.runtime.serving import LoopbackServer
from gateway.simulators.framework import SimulatorHost
from gateway.simulators.registry import build_simulators
from gateway.store.database import Database
from gateway.topics import DOSSIER_EVENTS

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What this process runs."""

    roles: list[Role]
    serve_http: bool = True
    run_simulators: bool = True


@dataclass
class Running:
    """Where things are, once started: printed by the CLI, read by tests."""

    http_url: str | None = None
    kafka_bootstrap: str = ""
    embedded_broker_pid: int | None = None
    database_url: str = ""
    topics_created: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    simulators: dict[str, str] = field(default_factory=dict)
    startup_s: float = 0.0


class Gateway:
    def __init__(self, settings: Settings, plan: Plan) -> None:
        self.settings = settings
        self.plan = plan
        self.registry = CollectorRegistry()
        self.database = Database(settings.database)
        self.counters = FlowCounters(self.database, self.registry)
        self.message_log = MessageLog(self.database)
        self.breakers = Breakers(self.registry)
        self.partner_health = PartnerHealthReporter(self.database, self.breakers)
        self.context: RoleContext | None = None
        self.running = Running()
        self.broker: KafkaBroker | None = None
        self.embedded: EmbeddedBroker | None = None
        self.simulator_host: SimulatorHost | None = None
        self.http_app = None  # the FastAPI app, once it serves
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()

    async def start(self) -> Running:
        started = time.monotonic()
        try:
            await self._start_parts()
        except BaseException:
            await self._stack.aclose()
            raise
        self.running.startup_s = time.monotonic() - started
        return self.running

    async def _start_parts(self) -> None:
        settings = self.settings
        http_server = None
        if self.plan.serve_http:
            http_server = LoopbackServer(host=settings.http.host, port=settings.http.port, name="gateway HTTP")
            http_server.bind()
            self._stack.push_async_callback(http_server.stop)  # closes the socket if start-up fails
        bootstrap = settings.kafka.bootstrap
        if settings.kafka.embedded:
            # Started from the event loop's (main) thread: the broker dies with that thread.
            self.embedded = EmbeddedBroker()
            self.embedded.start(settings.kafka.embedded_startup_timeout_s)
            self._stack.callback(self.embedded.stop)
            bootstrap = self.embedded.bootstrap
            self.running.embedded_broker_pid = self.embedded.pid
        self.running.kafka_bootstrap = bootstrap

        await self.database.start()
        self._stack.push_async_callback(self.database.close)
        self.running.database_url = self.database.display_url
        for service in (self.counters, self.message_log, self.partner_health):
            await service.start()
            self._stack.push_async_callback(service.stop)

        if settings.kafka.create_topics:
            self.running.topics_created = await ensure_topics(settings.kafka, bootstrap, gateway_topics(settings))

        simulators = None
        if self.plan.run_simulators and settings.simulators.enabled:
            simulators = self.simulator_host = SimulatorHost(build_simulators(settings), settings.simulators.host)
            await simulators.start()
            self._stack.push_async_callback(simulators.stop)
            self.running.simulators = simulators.urls()

        self.broker = build_broker(settings.kafka, bootstrap, self.registry)
        self.context = RoleContext(
            settings=settings, database=self.database, counters=self.counters,
            dead_letters=DeadLetters(self.database, self.broker), partner_calls=PartnerCalls(self.database),
            breakers=self.breakers, message_log=self.message_log, simulator_urls=self.running.simulators,
        )
        roles = [role for role in self.plan.roles if self._enabled(role)]
        for role in roles:
            role.install(self.broker, self.context)
        self.running.roles = [role.name for role in roles]
        dossier_events = dossier_events_publisher(self.broker)
        # Publishers are declared before the broker starts: the callback endpoint's, when it serves one.
        ministry_reports = payment_intake = postal_intake = None
        if self.plan.serve_http and callback_partners(settings):
            ministry_reports = StatusReports(self.broker, self.database, self.message_log, where="callback")
        if self.plan.serve_http and payment_partners(settings):
            payment_intake = confirmation_intake(self.broker, self.context)
        if self.plan.serve_http and postal_partners(settings):
            postal_intake = tracking_intake(self.broker, self.context)
        try:
            await start_broker(self.broker)
        except Exception as error:
            await self.broker.stop()
            raise BrokerUnavailable(f"cannot connect to Kafka at {bootstrap}: {error}") from error
        self._stack.push_async_callback(self._stop_broker)
        self._start_background()

        if http_server is not None:
            sampler = ConsoleSampler(settings, self.database, self.context.dead_letters, bootstrap, self.registry)
            await sampler.start()
            self._stack.push_async_callback(sampler.stop)
            console = ConsoleParts(settings=settings, users=Users(self.database, settings.console),
                                   actions=OperatorActions(self.database, self.message_log), counters=self.counters,
                                   dead_letters=self.context.dead_letters, sampler=sampler)
            self.http_app = build_http_app(self.context, self.broker, dossier_events, self.registry, console,
                                           simulators, ministry_reports, payment_intake, postal_intake)
            await http_server.start(self.http_app)
            self._stack.push_async_callback(http_server.stop)  # stopping: no new requests first
            self.running.http_url = http_server.url
            if simulators is not None:
                simulators.gateway_started(http_server.url)

    def _start_background(self) -> None:
        tasks = [asyncio.create_task(work(), name=getattr(work, "__name__", "background"))
                 for work in self.context.background]

        async def stop_background() -> None:
            self.context.stopping.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._stack.push_async_callback(stop_background)

    async def stop(self) -> None:
        await self._stack.aclose()

    def _enabled(self, role: Role) -> bool:
        partner = self.settings.partners.get(role.name)
        if partner is not None and not partner.enabled:
            log.info("partners.%s.enabled is false: the %s connector does not run", role.name, role.name)
            return False
        return True

    async def _stop_broker(self) -> None:
        self.context.stopping.set()  # handlers waiting for a due time give their message back
        # With Kafka gone, a clean stop (commit, leave the group) would wait for request
        # timeouts; offsets not committed are simply consumed again by the next owner.
        try:
            await asyncio.wait_for(stop_broker(self.broker), self.settings.kafka.shutdown_timeout_s)
        except TimeoutError:
            log.warning("Kafka did not answer within %ss while stopping; stopped without a clean leave",
                        self.settings.kafka.shutdown_timeout_s)

    def request_stop(self) -> None:
        self._stop.set()

    async def serve_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()


def dossier_events_publisher(broker: KafkaBroker) -> KafkaPublisher:
    return broker.publisher(
        DOSSIER_EVENTS.name,
        title=f"{DOSSIER_EVENTS.name}:intake",
        description="Events accepted at POST /api/v1/dossiers/events, keyed by dossier code.",
        schema=DOSSIER_EVENTS.body,
    )
