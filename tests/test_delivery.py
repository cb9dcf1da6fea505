"""Delivery guarantees end to end: the webhook connector on the real embedded broker, calling a
real HTTP partner simulator (the webhook receiver)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from gateway.connectors.webhook.simulator import WebhookReceiver
from gateway.domain import DossierStatusChanged, DossierSubmitted, StatusChange
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.embedded_broker import EmbeddedBroker
from gateway.runtime.roles import select_roles
from gateway.topics import DEAD_LETTERS, DOSSIER_EVENTS

from .conftest import StartGateway, read_topic, sample_dossier, wait_for

FAST_RETRIES = {
    "retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 2,
              "parked_attempts": 3, "parked_delay_s": 0.3, "parked_max_delay_s": 1},
    "breaker": {"failure_threshold": 3, "cool_down_s": 1},
}


def dossier_events(dossiers: int, steps: int, prefix: str = "000.00.15.H12-261122") -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: per dossier a submission then status changes 1..steps-1, in order."""
    events = []
    for number in range(dossiers):
        code = f"{prefix}-{number:04d}"
        events.append((code, DossierSubmitted(dossier=sample_dossier(code))))
        for sequence in range(1, steps):
            change = StatusChange(dossier_code=code, sequence=sequence, status=4 if sequence < steps - 1 else 9,
                                  changed_at="2026-11-22T09:00:00+07:00")
            events.append((code, DossierStatusChanged(status_change=change)))
    # Interleave dossiers the way a busy one-stop system would: round robin.
    by_dossier: dict[str, list] = {}
    for code, event in events:
        by_dossier.setdefault(code, []).append(event)
    ordered = []
    for step in range(steps):
        for code, dossier_events_ in by_dossier.items():
            ordered.append((code.encode(), dossier_events_[step].model_dump_json().encode()))
    return ordered


async def produce(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(DOSSIER_EVENTS.name, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def flows(gateway: Gateway) -> dict:
    return await gateway.counters.read()


async def webhook_count(gateway: Gateway, outcome: str) -> int:
    return (await flows(gateway)).get("webhook", {}).get(outcome, 0)


def assert_in_dossier_order(received: list[dict]) -> None:
    last_step: dict[str, int] = {}
    for event in received:
        step = 0 if event["key"].endswith(":submitted") else int(event["key"].rsplit(":", 1)[1])
        assert step == last_step.get(event["dossier"], -1) + 1, f"out of order: {event}"
        last_step[event["dossier"]] = step


async def start_webhook_gateway(start_gateway: StartGateway, receiver: WebhookReceiver, **extra) -> Gateway:
    partner = {"endpoint": receiver.url, **FAST_RETRIES}
    return await start_gateway(Plan(roles=select_roles(["webhook"]), run_simulators=False),
                               partners={"webhook": partner}, **extra)


async def test_thousand_events_with_poison_pills(start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await start_webhook_gateway(start_gateway, receiver)
    records = dossier_events(dossiers=99, steps=10)
    poison = [(b"000.00.15.H12-261122-9999", b"{not json"), (b"000.00.15.H12-261122-9998", b'{"kind": "archived"}')]
    for index in range(10):  # one message in a hundred is malformed: 1,000 in all
        records.insert(index * 100 + 50, poison[index % 2])
    assert len(records) == 1000
    await produce(gateway.running.kafka_bootstrap, records)

    await wait_for(lambda: _at_least(webhook_count(gateway, "delivered"), 990), timeout_s=120, what="990 deliveries")
    assert len(receiver.received) == 990
    assert receiver.stats.duplicates_seen == 0
    assert_in_dossier_order(receiver.received)
    assert await webhook_count(gateway, "rejected") == 10

    dead = await read_topic(gateway.running.kafka_bootstrap, DEAD_LETTERS.name, 10)
    assert len(dead) == 10
    for record in dead:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers["dlq_source_topic"] == DOSSIER_EVENTS.name
        assert headers["dlq_connector"] == "webhook"
        assert headers["dlq_exception_class"].endswith("InvalidMessage")
        assert int(headers["dlq_source_offset"]) >= 0 and headers["dlq_time"]
        assert record.value in {value for _, value in poison}


async def test_partner_outage_is_retried_through_the_breaker_and_delivered_in_order(
    start_gateway: StartGateway, receiver: WebhookReceiver
) -> None:
    gateway = await start_webhook_gateway(start_gateway, receiver, http={"port": 0})
    async with httpx.AsyncClient(base_url=receiver.url) as partner, \
            httpx.AsyncClient(base_url=gateway.running.http_url) as api:
        await partner.put("/_sim/faults", json={"error_rate": 1.0})
        await produce(gateway.running.kafka_bootstrap, dossier_events(dossiers=5, steps=4))
        await wait_for(lambda: _at_least(webhook_count(gateway, "retried"), 5), what="parked messages")
        await wait_for(lambda: _breaker(api, "open"), what="the breaker to open")
        assert receiver.received == []
        await partner.put("/_sim/faults", json={})
        await wait_for(lambda: _at_least(webhook_count(gateway, "delivered"), 20), timeout_s=60, what="recovery")
        await wait_for(lambda: _breaker(api, "closed"), what="the breaker to close")
        metrics = (await api.get("/metrics")).text
    assert 'gateway_circuit_breaker_state{partner="webhook"} 0.0' in metrics
    assert len(receiver.received) == 20 and receiver.stats.duplicates_seen == 0
    assert_in_dossier_order(receiver.received)
    assert await webhook_count(gateway, "dead_lettered") == 0


async def test_refused_message_is_dead_lettered_and_replayed_once(
    start_gateway: StartGateway, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    gateway = await start_webhook_gateway(start_gateway, receiver, http={"port": 0})
    refused = "000.00.15.H12-261122-0500"
    receiver.refused_dossiers = {refused}
    await produce(gateway.running.kafka_bootstrap, dossier_events(dossiers=1, steps=1, prefix="000.00.15.H12-261122-05")
                  + [(refused.encode(), DossierSubmitted(dossier=sample_dossier(refused)).model_dump_json().encode())])
    await wait_for(lambda: _at_least(webhook_count(gateway, "dead_lettered"), 1), what="the dead letter")
    url = gateway.running.http_url
    listed = await _cli("dlq", "list", "--json", "--url", url, cwd=tmp_path)
    [letter] = json.loads(listed.stdout)
    assert letter["dossier_code"] == refused and letter["error_class"].endswith("PermanentError")
    shown = json.loads((await _cli("dlq", "show", str(letter["id"]), "--url", url, cwd=tmp_path)).stdout)
    assert json.loads(shown["payload"])["dossier"]["code"] == refused
    assert shown["key"] == refused and shown["source"].startswith(DOSSIER_EVENTS.name)

    receiver.refused_dossiers = set()  # the partner fixed its side
    replayed = await _cli("dlq", "replay", str(letter["id"]), "--url", url, "--reason", "partner fixed", cwd=tmp_path)
    assert "replayed 1 dead letter(s)" in replayed.stdout
    await wait_for(lambda: _received(receiver, f"{refused}:submitted"), what="the replayed delivery")
    await asyncio.sleep(1)  # a second delivery, if there were one, would have arrived by now
    assert [event["key"] for event in receiver.received].count(f"{refused}:submitted") == 1
    assert receiver.stats.duplicates_seen == 0
    async with httpx.AsyncClient(base_url=url) as api:
        again = (await api.get(f"/api/v1/dead-letters/{letter['id']}")).json()
        missing = await api.post("/api/v1/dead-letters/replay", json={"ids": [424242], "reason": "test"})
        nothing = await api.post("/api/v1/dead-letters/replay", json={})
    assert again["replay_count"] == 1 and again["last_replayed_at"]
    assert missing.status_code == 404 and nothing.status_code == 422


async def test_database_outage_commits_nothing_and_loses_nothing(
    start_gateway: StartGateway, receiver: WebhookReceiver
) -> None:
    gateway = await start_webhook_gateway(start_gateway, receiver)
    await gateway.database.close()  # the database is gone
    await produce(gateway.running.kafka_bootstrap, dossier_events(dossiers=3, steps=2))
    await asyncio.sleep(2)
    await gateway.database.start()  # and back
    await wait_for(lambda: _at_least(webhook_count(gateway, "delivered"), 6), timeout_s=60, what="delivery after the outage")
    assert len(receiver.received) == 6 and receiver.stats.duplicates_seen == 0
    assert await webhook_count(gateway, "dead_lettered") == 0


async def test_killed_worker_delivers_everything_once(receiver: WebhookReceiver, tmp_path: Path) -> None:
    with EmbeddedBroker() as kafka:
        env = {**os.environ,
               "GATEWAY_KAFKA_BOOTSTRAP": kafka.bootstrap, "GATEWAY_KAFKA_IDEMPOTENT_PRODUCER": "false",
               "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/worker.db",
               "GATEWAY_PARTNERS": json.dumps({"webhook": {"endpoint": receiver.url, **FAST_RETRIES}}),
               "GATEWAY_LOG_LEVEL": "WARNING"}
        worker = _start_worker(env, tmp_path / "worker-1.log")
        try:
            await produce(kafka.bootstrap, dossier_events(dossiers=50, steps=20))
            await wait_for(lambda: _received_at_least(receiver, 250), timeout_s=60, what="a quarter delivered")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        assert len(receiver.received) < 1000, "killed in the middle of the run"
        worker = _start_worker(env, tmp_path / "worker-2.log")
        try:
            await wait_for(lambda: _received_at_least(receiver, 1000), timeout_s=120, what="every event")
            await asyncio.sleep(1)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    assert len(receiver.received) == 1000
    assert receiver.stats.duplicates_seen == 0, "the partner saw an event twice"
    assert_in_dossier_order(receiver.received)


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway", "worker", "--connectors", "webhook"],
                            cwd=log.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


async def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The gateway CLI in its own process; in a thread, so this test's gateway keeps answering."""
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", *args], cwd=cwd,
                                     capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


async def _at_least(value, expected: int) -> bool:
    return await value >= expected


async def _breaker(api: httpx.AsyncClient, state: str) -> bool:
    return (await api.get("/readyz")).json()["breakers"].get("webhook") == state


async def _received(receiver: WebhookReceiver, key: str) -> bool:
    return any(event["key"] == key for event in receiver.received)


async def _received_at_least(receiver: WebhookReceiver, count: int) -> bool:
    return len(receiver.received) >= count
