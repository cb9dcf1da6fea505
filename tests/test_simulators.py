"""The simulator framework over real HTTP: partner routes, injected faults, duplicates, callbacks."""

import httpx
import pytest
from fastapi import APIRouter, Request

from gateway.runtime.app import Plan
from gateway.simulators import registry
from gateway.simulators.faults import FaultProfile
from gateway.simulators.framework import Simulator, SimulatorHost

from .conftest import StartGateway


class OrderDesk(Simulator):
    """A made-up partner: takes orders, keyed by order number, and calls back."""

    name = "order_desk"
    description = "test partner"

    def __init__(self, faults: FaultProfile | None = None) -> None:
        super().__init__(faults)
        self.callbacks_received: list[dict] = []

    def partner_routes(self, router: APIRouter) -> None:
        @router.post("/orders")
        async def place(order: dict) -> dict:
            duplicate = self.stats.record_key(order["order_number"])
            return {"status": "100", "duplicate": duplicate}

        @router.post("/callbacks")
        async def callback(request: Request) -> dict:
            self.callbacks_received.append(await request.json())
            return {"ok": True}


@pytest.fixture
async def desk():
    simulator = OrderDesk()
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_partner_routes_answer_and_duplicates_are_seen(desk: OrderDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as client:
        first = await client.post("/orders", json={"order_number": "HS-1"})
        again = await client.post("/orders", json={"order_number": "HS-1"})
        other = await client.post("/orders", json={"order_number": "HS-2"})
        stats = (await client.get("/_sim/stats")).json()
    assert first.json() == {"status": "100", "duplicate": False}
    assert again.json()["duplicate"] is True and other.json()["duplicate"] is False
    assert stats["requests"] == 3 and stats["duplicates_seen"] == 1 and stats["distinct_keys"] == 2


async def test_injected_errors_and_recovery(desk: OrderDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as client:
        assert (await client.put("/_sim/faults", json={"error_rate": 1.0})).status_code == 200
        failed = await client.post("/orders", json={"order_number": "HS-3"})
        assert (await client.put("/_sim/faults", json={})).status_code == 200
        recovered = await client.post("/orders", json={"order_number": "HS-3"})
        stats = (await client.get("/_sim/stats")).json()
    assert failed.status_code == 503 and failed.json()["error"] == "injected fault"
    assert recovered.status_code == 200 and recovered.json()["duplicate"] is False, "a failed call reached no partner"
    assert stats["injected_errors"] == 1


@pytest.mark.parametrize("faults", [{"timeout_rate": 1.0, "hang_s": 30}, {"latency_ms": 30_000}])
async def test_hangs_and_latency_make_callers_time_out(desk: OrderDesk, faults: dict) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as client:
        await client.put("/_sim/faults", json=faults)
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/orders", json={"order_number": "HS-4"}, timeout=0.5)
        assert (await client.get("/_sim/faults", timeout=5)).json()["hang_s"] == faults.get("hang_s", 60.0)


async def test_invalid_fault_profile_is_refused(desk: OrderDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.url) as client:
        response = await client.put("/_sim/faults", json={"error_rate": 2, "latency_ms": -1})
    assert response.status_code == 422
    assert {tuple(problem["loc"]) for problem in response.json()["detail"]} == {("body", "error_rate"), ("body", "latency_ms")}


async def test_callbacks_are_duplicated_when_the_dice_say_so(desk: OrderDesk) -> None:
    sender = OrderDesk(FaultProfile(duplicate_rate=1.0, seed=7))
    async with httpx.AsyncClient() as client:
        await sender.send_callback(client, f"{desk.url}/callbacks", json={"order_number": "HS-5", "status": "3"})
    assert len(desk.callbacks_received) == 2
    assert sender.stats.callbacks_sent == 1 and sender.stats.callbacks_duplicated == 1


def test_seeded_dice_repeat_their_faults() -> None:
    def draws(seed: int) -> list[bool]:
        simulator = OrderDesk(FaultProfile(error_rate=0.5, seed=seed))
        return [simulator.dice.fails() for _ in range(50)]

    assert draws(1) == draws(1)
    assert 0 < sum(draws(1)) < 50


async def test_host_runs_each_simulator_on_its_own_port() -> None:
    class Second(OrderDesk):
        name = "second_desk"

    host = SimulatorHost([OrderDesk(), Second()])
    await host.start()
    try:
        urls = host.urls()
        assert set(urls) == {"order_desk", "second_desk"} and len(set(urls.values())) == 2
        async with httpx.AsyncClient() as client:
            for url in urls.values():
                assert (await client.get(f"{url}/_sim/stats")).status_code == 200
    finally:
        await host.stop()


async def test_gateway_up_starts_registered_simulators_with_configured_faults(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.SIMULATORS, OrderDesk.name, OrderDesk)
    gateway = await start_gateway(Plan(roles=[]), simulators={"faults": {"order_desk": {"error_rate": 1.0}}})
    url = gateway.running.simulators["order_desk"]
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/orders", json={"order_number": "HS-6"})).status_code == 503
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        listed = (await client.get("/api/v1/simulators")).json()
    assert listed["order_desk"]["url"] == url and listed["order_desk"]["injected_errors"] == 1
