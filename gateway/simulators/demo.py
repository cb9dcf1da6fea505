"""`gateway demo`: the one-stop simulator submits dossiers, then every flow is summarised."""

import asyncio
import time

import httpx
from rich.console import Console
from rich.progress import Progress

from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import Settings
from gateway.runtime.roles import all_roles
from gateway.simulators.onegate import OneGateSimulator

CONCURRENCY = 16
POLL_S = 0.25


async def run_demo(settings: Settings, *, dossiers: int, url: str, timeout_s: float, seed: int | None,
                   console: Console | None) -> dict:
    """Drive the gateway at `url`, or one started here when none answers there."""
    if await _answers(url):
        return await _drive(url, dossiers, timeout_s, seed, console)
    if console:
        console.print(f"no gateway answers at {url}; starting one in this process")
    settings = settings.model_copy(deep=True)
    settings.http.port = 0
    gateway = Gateway(settings, Plan(roles=list(all_roles().values())))
    running = await gateway.start()
    try:
        return await _drive(running.http_url, dossiers, timeout_s, seed, console)
    finally:
        await gateway.stop()


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            return (await client.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _drive(url: str, count: int, timeout_s: float, seed: int | None, console: Console | None) -> dict:
    simulator = OneGateSimulator(seed)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        before = await _flows(client)
        partners_before = await _partners(client)
        outcomes = {"accepted": 0, "rejected": 0, "failed": 0}
        with Progress(console=console, disable=console is None, transient=True) as progress:
            task = progress.add_task("submitting dossiers", total=count)
            limit = asyncio.Semaphore(CONCURRENCY)

            async def submit(number: int) -> None:
                async with limit:
                    try:
                        response = await simulator.submit(client, simulator.dossier(number))
                        key = "accepted" if response.status_code == 202 else "rejected" if response.status_code == 422 else "failed"
                    except httpx.HTTPError:
                        key = "failed"
                    outcomes[key] += 1
                    progress.advance(task)

            await asyncio.gather(*(submit(number) for number in range(1, count + 1)))

            consumers = sorted(name for name, role in all_roles().items() if role.takes_every_dossier)
            settle = progress.add_task(f"waiting for {', '.join(consumers)}", total=outcomes["accepted"] * len(consumers))
            deadline = time.monotonic() + timeout_s
            while True:
                flows = _delta(before, await _flows(client))
                handled = [_handled(flows.get(flow, {})) for flow in consumers]
                progress.update(settle, completed=sum(min(count, outcomes["accepted"]) for count in handled))
                settled = all(count >= outcomes["accepted"] for count in handled)
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(POLL_S)
        flows |= _delta(partners_before, await _partners(client))

    # The intake row from the one-stop side: what it sent, and what it could not hand over.
    intake = flows.setdefault("intake", {})
    intake["sent"] = count
    intake["failed"] = outcomes["failed"]
    return {"gateway": url, "dossiers": count, "settled": settled and outcomes["failed"] == 0,
            "seconds": time.monotonic() - started, "flows": dict(sorted(flows.items()))}


def _handled(counts: dict[str, int]) -> int:
    """Events a consuming flow is finished with, one way or another."""
    return sum(counts.get(outcome, 0) for outcome in ("delivered", "duplicates", "dead_lettered", "rejected"))


async def _flows(client: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    response = await client.get("/api/v1/flows")
    response.raise_for_status()
    return response.json()


async def _partners(client: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    """What the partner simulators saw, as flow rows: requests that got through, duplicates."""
    response = await client.get("/api/v1/simulators")
    if response.status_code != 200:
        return {}
    return {
        f"partner {name}": {
            "delivered": stats["requests"] - stats["injected_errors"] - stats["injected_timeouts"],
            "rejected": stats["injected_errors"] + stats["injected_timeouts"],
            "duplicates": stats["duplicates_seen"],
        }
        for name, stats in response.json().items()
    }


def _delta(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        flow: {outcome: count - before.get(flow, {}).get(outcome, 0) for outcome, count in counts.items()}
        for flow, counts in after.items()
    }
