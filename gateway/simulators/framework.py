"""What every partner simulator shares: its own loopback HTTP server, fault injection, and
the figures a rehearsal reads (requests, faults injected, duplicates the partner saw).

A partner's simulator subclasses `Simulator` and adds its routes in `partner_routes`.
Every simulator also answers:
  GET  /_sim/stats    what it received and injected
  GET  /_sim/faults   its fault profile
  PUT  /_sim/faults   a new fault profile (JSON FaultProfile), for rehearsing an outage
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.runtime.serving import LoopbackServer
from gateway.simulators.faults import FaultDice, FaultProfile

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sim"
CALLBACK_ATTEMPTS = 5  # posts of one callback, on connection errors and 5xx answers
CALLBACK_FIRST_BACKOFF_S = 0.2  # doubling between attempts


@dataclass
class SimulatorStats:
    requests: int = 0
    injected_errors: int = 0
    injected_timeouts: int = 0
    callbacks_sent: int = 0
    callbacks_duplicated: int = 0
    keys_seen: Counter = field(default_factory=Counter)

    def record_key(self, key: str) -> bool:
        """Note a partner-side idempotency key (payment reference, order number...);
        True when the partner has seen it before, which is what a duplicate looks like."""
        self.keys_seen[key] += 1
        return self.keys_seen[key] > 1

    @property
    def duplicates_seen(self) -> int:
        return sum(count - 1 for count in self.keys_seen.values())

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "injected_errors": self.injected_errors,
            "injected_timeouts": self.injected_timeouts,
            "callbacks_sent": self.callbacks_sent,
            "callbacks_duplicated": self.callbacks_duplicated,
            "distinct_keys": len(self.keys_seen),
            "duplicates_seen": self.duplicates_seen,
        }


class Simulator:
    """Base of a partner simulator. Subclasses set `name` and `description` and add routes."""

    name: str = "simulator"
    description: str = ""

    def __init__(self, faults: FaultProfile | None = None) -> None:
        self.dice = FaultDice(faults or FaultProfile())
        self.stats = SimulatorStats()
        self._server: LoopbackServer | None = None
        self.gateway_url: str | None = None  # where to send callbacks, once the gateway listens

    def partner_routes(self, router: APIRouter) -> None:
        """Add the partner's own endpoints."""

    def build_app(self) -> FastAPI:
        app = FastAPI(title=f"{self.name} simulator", description=self.description)
        partner = APIRouter()
        self.partner_routes(partner)
        app.include_router(partner)
        app.include_router(self._admin_router())
        app.add_middleware(_FaultInjection, simulator=self)
        return app

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"simulator {self.name} is not running")
        return self._server.url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # A simulator may be holding hung requests on purpose; stopping does not wait for them.
        self._server = LoopbackServer(host=host, port=port, name=f"{self.name} simulator", graceful_s=0.5)
        await self._server.start(self.build_app())

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def send_callback(self, client: httpx.AsyncClient, url: str, **request: object) -> httpx.Response:
        """POST a callback to the gateway, twice when the dice say so (partners do resend)."""
        response = await client.post(url, **request)
        self.stats.callbacks_sent += 1
        if self.dice.duplicates():
            self.stats.callbacks_duplicated += 1
            response = await client.post(url, **request)
        return response

    async def post_until_answered(self, client: httpx.AsyncClient, url: str,
                                  build: Callable[[], tuple[bytes, dict[str, str]]], *,
                                  on_answer: Callable[[httpx.Response], None],
                                  on_error: Callable[[int, Exception], None]) -> bool:
        """POST a callback as partners do: connection errors and 5xx answers are retried
        (CALLBACK_ATTEMPTS, the wait doubling from CALLBACK_FIRST_BACKOFF_S), a 4xx never; each
        attempt is built anew (signed with a fresh timestamp). True once answered below 500."""
        backoff = CALLBACK_FIRST_BACKOFF_S
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            content, headers = build()
            try:
                response = await client.post(url, content=content, headers=headers)
            except httpx.TransportError as error:
                on_error(attempt, error)
            else:
                on_answer(response)
                if response.status_code < 500:
                    return True
            if attempt < CALLBACK_ATTEMPTS:
                await asyncio.sleep(backoff)
                backoff *= 2
        return False

    def _admin_router(self) -> APIRouter:
        router = APIRouter(prefix=ADMIN_PREFIX, tags=["simulator control"])

        @router.get("/stats")
        async def stats() -> dict[str, int]:
            return self.stats.as_dict()

        @router.get("/faults")
        async def faults() -> FaultProfile:
            return self.dice.profile

        @router.put("/faults")
        async def set_faults(profile: FaultProfile) -> FaultProfile:
            self.dice = FaultDice(profile)
            log.info("%s simulator: faults now %s", self.name, profile.model_dump(exclude_defaults=True))
            return profile

        return router


class _FaultInjection:
    """ASGI middleware: latency, errors and hangs on partner routes (never on /_sim)."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        simulator = self.simulator
        simulator.stats.requests += 1
        dice = simulator.dice
        if latency := dice.latency_s():
            await asyncio.sleep(latency)
        if dice.hangs():
            simulator.stats.injected_timeouts += 1
            await asyncio.sleep(dice.profile.hang_s)
        if dice.fails():
            simulator.stats.injected_errors += 1
            await _answer_503(send, simulator.name)
            return
        await self.app(scope, receive, send)


async def _answer_503(send: Send, name: str) -> None:
    body = f'{{"error":"injected fault","simulator":"{name}"}}'.encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SimulatorHost:
    """Runs a set of simulators, each on its own loopback port."""

    def __init__(self, simulators: list[Simulator], host: str = "127.0.0.1") -> None:
        self.simulators = {simulator.name: simulator for simulator in simulators}
        self.host = host

    async def start(self) -> None:
        for simulator in self.simulators.values():
            await simulator.start(self.host)

    async def stop(self) -> None:
        await asyncio.gather(*(simulator.stop() for simulator in self.simulators.values()))

    def gateway_started(self, url: str) -> None:
        """Tell the simulators where the gateway listens, for the callbacks they send."""
        for simulator in self.simulators.values():
            simulator.gateway_url = url

    def urls(self) -> dict[str, str]:
        return {name: simulator.url for name, simulator in self.simulators.items()}

