"""`gateway demo`: the one-stop simulator submits dossiers, then every flow is summarised.

Some dossiers choose the public postal service (pick-up at home, result by post); those whose
result goes home by post are then processed (status 2, 4, 9), and when the gateway serves a
postal carrier the demo also waits for their parcels to end (delivered or returned). A demo that
starts its own gateway plays the post too: VNPost as deploy/postal.yaml configures it, unless a
postal carrier is configured already."""

import asyncio
import os
import secrets
import time

import httpx
import yaml
from rich.console import Console
from rich.progress import Progress

from gateway.connectors.ministry.config import PROJECT_ROOT
from gateway.connectors.postal.config import postal_partners
from gateway.ops.console.auth import token_headers
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import PartnerSettings, Settings
from gateway.runtime.roles import all_roles
from gateway.simulators.onegate import OneGateSimulator

CONCURRENCY = 16
POLL_S = 0.25
FINAL_PARCEL_STATES = ("delivered", "returned", "cancelled", "refused")
PARCELS_PER_REQUEST = 200  # dossier codes asked about at once
SHIPPED_POSTAL = PROJECT_ROOT / "deploy/postal.yaml"


async def run_demo(settings: Settings, *, dossiers: int, url: str, timeout_s: float, seed: int | None,
                   console: Console | None) -> dict:
    """Drive the gateway at `url`, or one started here when none answers there."""
    if await _answers(url):
        return await _drive(url, dossiers, timeout_s, seed, console)
    if console:
        console.print(f"no gateway answers at {url}; starting one in this process")
    settings = settings.model_copy(deep=True)
    settings.http.port = 0
    # A gateway of its own, on a loopback port for the demo's minutes: the demo reads its
    # figures without an account.
    settings.http.host = "127.0.0.1"
    settings.console.anonymous_role = "viewer"
    _play_the_post(settings, console)
    gateway = Gateway(settings, Plan(roles=list(all_roles().values())))
    running = await gateway.start()
    try:
        return await _drive(running.http_url, dossiers, timeout_s, seed, console)
    finally:
        await gateway.stop()


def _play_the_post(settings: Settings, console: Console | None) -> None:
    """Add the shipped VNPost carrier, played by its simulator in this process, when no postal
    carrier is configured. Its secret is generated when unset: both ends live in this process."""
    if postal_partners(settings) or not SHIPPED_POSTAL.is_file():
        return
    for name, partner in yaml.safe_load(SHIPPED_POSTAL.read_text(encoding="utf-8"))["partners"].items():
        if name in settings.partners:
            continue
        for variable in partner.get("credentials", {}).values():
            os.environ.setdefault(variable, secrets.token_hex(32))
        settings.partners[name] = PartnerSettings.model_validate(partner)
        if console:
            console.print(f"postal: {name} as {SHIPPED_POSTAL.relative_to(PROJECT_ROOT)} configures it, played by "
                          "its simulator")


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            return (await client.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _drive(url: str, count: int, timeout_s: float, seed: int | None, console: Console | None) -> dict:
    simulator = OneGateSimulator(seed)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=token_headers()) as client:
        before = await _flows(client)
        partners_before = await _partners(client)
        serves_postal = await _serves_postal(client)
        outcomes = {"accepted": 0, "rejected": 0, "failed": 0}
        by_post: dict[str, int] = {}  # dossier code -> parcels it asks for
        steps = {"sent": 0, "accepted": 0}  # status changes of those dossiers, which every consumer also takes
        with Progress(console=console, disable=console is None, transient=True) as progress:
            task = progress.add_task("submitting dossiers", total=count)
            limit = asyncio.Semaphore(CONCURRENCY)

            async def submit(number: int) -> None:
                async with limit:
                    dossier = simulator.dossier(number)
                    try:
                        response = await simulator.submit(client, dossier)
                        key = "accepted" if response.status_code == 202 else "rejected" if response.status_code == 422 else "failed"
                        if key == "accepted" and dossier.postal is not None:
                            by_post[dossier.code] = 1 + (dossier.postal.pick_up_from is not None)
                            for step in simulator.processing(dossier):  # processed: the result goes by post
                                steps["sent"] += 1
                                steps["accepted"] += (await simulator.report(client, step)).status_code == 202
                    except httpx.HTTPError:
                        key = "failed"
                    outcomes[key] += 1
                    progress.advance(task)

            await asyncio.gather(*(submit(number) for number in range(1, count + 1)))

            consumers = sorted(name for name, role in all_roles().items() if role.takes_every_dossier)
            events = outcomes["accepted"] + steps["accepted"]
            settle = progress.add_task(f"waiting for {', '.join(consumers)}", total=events * len(consumers))
            deadline = time.monotonic() + timeout_s
            while True:
                flows = _delta(before, await _flows(client))
                handled = [_handled(flows.get(flow, {})) for flow in consumers]
                progress.update(settle, completed=sum(min(count, events) for count in handled))
                settled = all(count >= events for count in handled)
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(POLL_S)
            postal = None
            if serves_postal:  # wait for this demo's parcels to end
                parcels = progress.add_task("parcels delivered or returned", total=sum(by_post.values()))
                while True:
                    postal, ended = await _parcels(client, by_post)
                    progress.update(parcels, completed=ended)
                    if ended >= sum(by_post.values()) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(POLL_S)
                settled = settled and ended >= sum(by_post.values())
        flows |= _delta(partners_before, await _partners(client))

    # The intake row from the one-stop side: what it sent, and what it could not hand over.
    intake = flows.setdefault("intake", {})
    intake["sent"] = count + steps["sent"]  # dossiers and the status steps of those sent by post
    intake["failed"] = outcomes["failed"]
    summary = {"gateway": url, "dossiers": count, "settled": settled and outcomes["failed"] == 0,
               "seconds": time.monotonic() - started, "flows": dict(sorted(flows.items()))}
    if postal is not None:
        summary["postal"] = {"chosen": {"dossiers": len(by_post), "parcels": sum(by_post.values())},
                             "parcels": postal}
    return summary


def _handled(counts: dict[str, int]) -> int:
    """Events a consuming flow is finished with, one way or another."""
    return sum(counts.get(outcome, 0) for outcome in ("delivered", "duplicates", "dead_lettered", "rejected"))


async def _flows(client: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    response = await client.get("/api/v1/flows")
    if response.status_code in (401, 403):
        raise PermissionError(f"the gateway at {client.base_url} refuses the demo its figures "
                              f"({response.json().get('detail')}): set OPERATOR_TOKEN to an API token of a user "
                              "(`gateway users token NAME`)")
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


async def _serves_postal(client: httpx.AsyncClient) -> bool:
    response = await client.get("/api/v1/postal/carriers")
    return response.status_code == 200 and bool(response.json())


async def _parcels(client: httpx.AsyncClient, by_post: dict[str, int]) -> tuple[dict[str, dict[str, int]], int]:
    """The parcels of these dossiers by kind and state, and how many have ended."""
    states: dict[str, dict[str, int]] = {}
    codes = list(by_post)
    for start in range(0, len(codes), PARCELS_PER_REQUEST):
        response = await client.get("/api/v1/postal/shipments", params={
            "dossier": codes[start:start + PARCELS_PER_REQUEST], "limit": 2 * PARCELS_PER_REQUEST})
        response.raise_for_status()
        for row in response.json():
            kind = states.setdefault(row["kind"], {})
            kind[row["state"]] = kind.get(row["state"], 0) + 1
    ended = sum(count for kind in states.values() for state, count in kind.items() if state in FINAL_PARCEL_STATES)
    return states, ended


def _delta(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        flow: {outcome: count - before.get(flow, {}).get(outcome, 0) for outcome, count in counts.items()}
        for flow, counts in after.items()
    }
