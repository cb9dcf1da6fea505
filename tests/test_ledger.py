"""The dossier ledger consuming from the real embedded broker: records, acknowledges,
drops duplicates, rejects malformed messages without stopping, and scales across workers."""

import json

import httpx
from aiokafka import AIOKafkaProducer

from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import DatabaseSettings
from gateway.runtime.embedded_broker import EmbeddedBroker
from gateway.runtime.roles import select_roles
from gateway.topics import DEAD_LETTERS, DOSSIER_EVENTS, ONEGATE_UPDATES

from .conftest import StartGateway, read_topic, submitted_event, wait_for


async def acknowledgements(gateway: Gateway) -> list:
    """The ledger's acknowledgements on onegate.updates (other connectors publish their outcomes there too)."""
    records = await read_topic(gateway.running.kafka_bootstrap, ONEGATE_UPDATES.name, 10, timeout_s=3)
    return [record for record in records if json.loads(record.value)["kind"] == "received"]


async def flows_of(client: httpx.AsyncClient) -> dict:
    return (await client.get("/api/v1/flows")).json()


async def ledger_count(client: httpx.AsyncClient, outcome: str) -> int:
    return (await flows_of(client)).get("ledger", {}).get(outcome, 0)


async def test_events_are_recorded_and_new_dossiers_acknowledged(
    start_gateway: StartGateway, database_settings: DatabaseSettings
) -> None:
    gateway = await start_gateway(database=database_settings.model_dump())
    code = "000.00.15.H12-261122-0101"
    status_change = {"kind": "status_changed", "status_change": {
        "dossier_code": code, "sequence": 1, "status": 2, "changed_at": "2026-11-22T09:00:00+07:00"}}
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        assert (await client.post("/api/v1/dossiers/events", json=submitted_event(code))).status_code == 202
        assert (await client.post("/api/v1/dossiers/events", json=status_change)).status_code == 202
        await wait_for(lambda: _equals(ledger_count(client, "delivered"), 2), what="two recorded events")
        dossier = (await client.get(f"/api/v1/dossiers/{code}")).json()
        unknown = await client.get("/api/v1/dossiers/NOPE-1")
    assert dossier["status"] == 2 and dossier["events_seen"] == 2 and dossier["procedure_code"] == "1.001193"
    assert unknown.status_code == 404

    [ack] = await acknowledgements(gateway)
    assert ack.key == code.encode()
    body = json.loads(ack.value)
    assert body["kind"] == "received" and body["dossier_code"] == code
    headers = {name: value.decode() for name, value in ack.headers}
    assert headers["source_system"] == "gateway" and headers["schema_name"] == "onegate-update"
    assert headers["causation_id"]


async def test_late_status_changes_do_not_overwrite_newer_ones(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    code = "000.00.15.H12-261122-0104"

    def change(sequence: int, status: int) -> dict:
        return {"kind": "status_changed", "status_change": {
            "dossier_code": code, "sequence": sequence, "status": status, "changed_at": "2026-11-22T09:00:00+07:00"}}

    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        # Same key, same partition, so this is the order the ledger sees them in.
        for event in (change(3, 9), submitted_event(code), change(2, 4)):
            assert (await client.post("/api/v1/dossiers/events", json=event)).status_code == 202
        await wait_for(lambda: _equals(ledger_count(client, "delivered"), 3), what="three recorded events")
        dossier = (await client.get(f"/api/v1/dossiers/{code}")).json()
    assert (dossier["status"], dossier["status_sequence"], dossier["events_seen"]) == (9, 3, 3)
    assert dossier["procedure_code"] == "1.001193"


async def test_a_redelivered_event_is_recorded_once(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    code = "000.00.15.H12-261122-0102"
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        for _ in range(2):  # the one-stop system resends after a lost answer, with the same key
            response = await client.post("/api/v1/dossiers/events", json=submitted_event(code),
                                         headers={"Idempotency-Key": "evt-102"})
            assert response.status_code == 202
        await wait_for(lambda: _equals(ledger_count(client, "duplicates"), 1), what="the duplicate")
        assert await ledger_count(client, "delivered") == 1
        assert (await client.get(f"/api/v1/dossiers/{code}")).json()["events_seen"] == 1
    assert len(await acknowledgements(gateway)) == 1


async def test_malformed_messages_on_the_topic_are_rejected_and_the_rest_flows(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    bootstrap = gateway.running.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        key = b"000.00.15.H12-261122-0103"
        # Written straight to the topic by a one-stop system that sets no envelope headers.
        await producer.send_and_wait(DOSSIER_EVENTS.name, b"{not json", key=key)
        await producer.send_and_wait(DOSSIER_EVENTS.name, json.dumps({"kind": "submitted"}).encode(), key=key)
        await producer.send_and_wait(DOSSIER_EVENTS.name, json.dumps(submitted_event(key.decode())).encode(), key=key)
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        await wait_for(lambda: _equals(ledger_count(client, "delivered"), 1), what="the valid event")
        assert await ledger_count(client, "rejected") == 2
        assert (await client.get(f"/api/v1/dossiers/{key.decode()}")).status_code == 200


async def test_messages_faststream_cannot_decode_are_dead_lettered_too(start_gateway: StartGateway) -> None:
    """A body that claims to be JSON but is not, a header that is not UTF-8, a null header:
    each must reach the dead letters instead of vanishing before the handler runs."""
    gateway = await start_gateway(Plan(roles=select_roles(["ledger"]), run_simulators=False))
    bootstrap = gateway.running.kafka_bootstrap
    key = b"000.00.15.H12-261122-0105"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(DOSSIER_EVENTS.name, b"{not json", key=key,
                                     headers=[("content-type", b"application/json")])
        await producer.send_and_wait(DOSSIER_EVENTS.name, json.dumps(submitted_event(key.decode())).encode(),
                                     key=key, headers=[("traceparent", b"\xff\xfe")])
        await producer.send_and_wait(DOSSIER_EVENTS.name, b'{"kind": "submitted"}', key=key,
                                     headers=[("content-type", b"application/json"), ("x-empty", None)])
        await producer.send_and_wait(DOSSIER_EVENTS.name, json.dumps(submitted_event("000.00.15.H12-261122-0106"))
                                     .encode(), key=b"000.00.15.H12-261122-0106")
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        await wait_for(lambda: _equals(ledger_count(client, "delivered"), 2), what="the two valid events")
        assert await ledger_count(client, "rejected") == 2
        [letter, _] = (await client.get("/api/v1/dead-letters", params={"connector": "ledger"})).json()
        replay = await client.post("/api/v1/dead-letters/replay",
                                   json={"ids": [letter["id"]], "reason": "producer fixed"})
    assert replay.status_code == 409 and "no retry topic" in replay.json()["detail"]
    assert len(await read_topic(bootstrap, DEAD_LETTERS.name, 2)) == 2


async def test_workers_share_the_partitions_and_record_each_event_once(start_gateway: StartGateway, tmp_path) -> None:
    """Scale-out: an HTTP node and two ledger workers in one consumer group on one Kafka."""
    with EmbeddedBroker() as kafka:
        shared = {"kafka": {"bootstrap": kafka.bootstrap, "idempotent_producer": False, "partitions": 4},
                  "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/shared.db"}}
        http_node = await start_gateway(Plan(roles=[], serve_http=True, run_simulators=False), **shared)
        workers: list[Gateway] = [
            await start_gateway(Plan(roles=select_roles(["ledger"]), serve_http=False, run_simulators=False), **shared)
            for _ in range(2)
        ]
        async with httpx.AsyncClient(base_url=http_node.running.http_url) as client:
            for number in range(40):
                response = await client.post("/api/v1/dossiers/events",
                                             json=submitted_event(f"000.00.15.H12-261122-{2000 + number}"))
                assert response.status_code == 202
            await wait_for(lambda: _equals(ledger_count(client, "delivered"), 40), what="40 recorded events")
            assert await ledger_count(client, "duplicates") == 0
        for worker in workers:
            subscriber = next(iter(worker.broker.subscribers))
            consumers = getattr(subscriber, "consumer_subgroup", None) or [subscriber.consumer]
            assert any(consumer.assignment() for consumer in consumers), "each worker owns some partitions"
        for gateway in [*workers, http_node]:
            await gateway.stop()


async def _equals(value, expected: int) -> bool:
    return await value == expected
