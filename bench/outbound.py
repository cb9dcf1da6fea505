"""Events/s through consume -> partner call -> commit (the shared outbound flow) beside raw
aiokafka on the same broker, measured in the same run.

    .venv/bin/python -m bench.outbound [--events N] [--database URL] [--connector webhook|national_portal|civil_status_birth]

A `gateway worker --connectors NAME` process consumes N new-dossier events from the embedded
broker and calls the partner's simulator (in this process) with everything the delivery
guarantees cost: idempotency records, partner-call records, the message log. The webhook
connector POSTs each event as it is; the national portal connector maps each dossier with its
mapping spec, validates it against the portal's schema, logs in and pushes it (DongBoHoSoMC),
records what it sent and publishes the outcome to onegate.updates. The civil_status_birth
connector (a ministry service over SOAP, deploy/ministries.yaml) maps each dossier, checks it
against the WSDL's XSD and calls TiepNhanHoSo with zeep. Baselines:
  - relay:          raw aiokafka consume -> produce of the same records (the issue's baseline);
  - relay + HTTP:   raw aiokafka consume -> httpx POST to the same receiver -> produce -> commit,
                    with no records kept (what the guarantees add is the difference).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from gateway.connectors.ministry.config import PROJECT_ROOT
from gateway.connectors.ministry.simulator import SoapMinistrySimulator
from gateway.connectors.national_portal.simulator import NationalPortalSimulator
from gateway.connectors.webhook.simulator import WebhookReceiver
from gateway.domain import DossierSubmitted
from gateway.runtime.config import PartnerSettings
from gateway.runtime.embedded_broker import EmbeddedBroker
from gateway.simulators.framework import Simulator
from gateway.simulators.onegate import OneGateSimulator
from gateway.topics import DEAD_LETTERS, DOSSIER_EVENTS, ONEGATE_UPDATES, retry_topic_name

PARTITIONS = 3


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    futures = [await producer.send(topic, value, key=key) for key, value in records]
    await asyncio.gather(*futures)
    await producer.stop()


@dataclass(frozen=True)
class Partner:
    simulator: Callable[[], Simulator]
    taken: Callable[[Simulator], int]  # how many events the simulator has taken
    role: str | None = None  # the worker's role, when it is not the connector's name
    settings: dict = field(default_factory=dict)  # partners.NAME beside its endpoint
    procedure: str | None = None  # dossiers of this procedure only (a ministry takes its own)


def _ministry(name: str) -> Partner:
    settings = yaml.safe_load((PROJECT_ROOT / "deploy/ministries.yaml").read_text())["partners"][name]
    settings["options"]["polling"] = {"enabled": False}  # the submissions are measured, not the status polls
    return Partner(simulator=lambda: SoapMinistrySimulator(name, PartnerSettings(**settings)),
                   taken=lambda simulator: len(simulator.dossiers), role="ministry", settings=settings,
                   procedure=settings["options"]["procedures"][0])


PARTNERS = {
    "webhook": Partner(WebhookReceiver, lambda simulator: len(simulator.received)),
    "national_portal": Partner(NationalPortalSimulator, lambda simulator: len(simulator.dossiers),
                               settings={"credentials": {"password": "BENCH_PASSWORD"}}),
    "civil_status_birth": _ministry("civil_status_birth"),
}


async def gateway_run(bootstrap: str, records, connector: str, partner, database_url: str, workdir: Path) -> float:
    await produce(bootstrap, DOSSIER_EVENTS.name, records)
    env = {**os.environ, "GATEWAY_KAFKA_BOOTSTRAP": bootstrap, "GATEWAY_KAFKA_IDEMPOTENT_PRODUCER": "false",
           # A schema of its own on PostgreSQL: ids and keys repeat from run to run.
           "GATEWAY_DATABASE_SCHEMA_NAME": f"bench_{uuid.uuid4().hex[:10]}" if database_url.startswith("postgres") else "",
           "GATEWAY_KAFKA_PARTITIONS": str(PARTITIONS), "GATEWAY_DATABASE_URL": database_url,
           "GATEWAY_PARTNERS": json.dumps({connector: {**PARTNERS[connector].settings, "endpoint": partner.url}}),
           "BENCH_PASSWORD": uuid.uuid4().hex, "GATEWAY_LOG_LEVEL": "WARNING"}
    taken = PARTNERS[connector].taken
    role = PARTNERS[connector].role or connector
    started = time.perf_counter()
    worker = subprocess.Popen([sys.executable, *os.environ.get("BENCH_PROFILE", "").split(), "-m", "gateway", "worker", "--connectors", role], cwd=PROJECT_ROOT,
                              env=env, stdout=(workdir / "worker.log").open("w"), stderr=subprocess.STDOUT)
    try:
        while taken(partner) < len(records):
            if worker.poll() is not None:
                raise SystemExit(f"the worker stopped:\n{(workdir / 'worker.log').read_text()}")
            await asyncio.sleep(0.01)
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(30)


async def relay_run(bootstrap: str, records, receiver_url: str | None) -> float:
    source, target = ("bench.http-in", "bench.http-out") if receiver_url else ("bench.raw-in", "bench.raw-out")
    await create_topics(bootstrap, source, target)
    await produce(bootstrap, source, records)
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bench.{source}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=2000, heartbeat_interval_ms=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    relayed = 0
    async with httpx.AsyncClient() as http:
        while relayed < len(records):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    if receiver_url:
                        (await http.post(f"{receiver_url}/events", content=record.value,
                                         headers={"Idempotency-Key": f"raw-{record.partition}-{record.offset}",
                                                  "content-type": "application/json"})).raise_for_status()
                    await producer.send_and_wait(target, record.value, key=record.key)
                    relayed += 1
                await consumer.commit()
    await consumer.stop()
    await producer.stop()
    return time.perf_counter() - started


async def main(events: int, database_url: str, connector: str) -> None:
    simulator = OneGateSimulator(seed=11)
    records = []
    procedure = PARTNERS[connector].procedure
    for number in range(1, events + 1):
        dossier = simulator.dossier(number)
        if procedure:
            dossier = dossier.model_copy(update={"procedure_code": procedure})
        records.append((dossier.code.encode(), DossierSubmitted(dossier=dossier).model_dump_json().encode()))
    partner = PARTNERS[connector].simulator()
    receiver = WebhookReceiver()  # the HTTP baseline's partner
    await partner.start()
    await receiver.start()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as workdir, EmbeddedBroker() as kafka:
        await create_topics(kafka.bootstrap, DOSSIER_EVENTS.name, retry_topic_name(connector), DEAD_LETTERS.name,
                            ONEGATE_UPDATES.name)
        ours = await gateway_run(kafka.bootstrap, records, connector, partner,
                                 database_url.replace("{workdir}", workdir), Path(workdir))
        duplicates = partner.stats.duplicates_seen
        relay = await relay_run(kafka.bootstrap, records, None)
        relay_http = await relay_run(kafka.bootstrap, records, receiver.url)
    await partner.stop()
    await receiver.stop()

    print(f"{events} dossier events, {PARTITIONS} partitions, embedded broker, worker database "
          f"{database_url.split(':')[0]}; the partner saw {duplicates} duplicate(s)")
    print(f"{'flow':66}{'events/s':>10}{'gateway / it':>14}")
    ours_rate = events / ours
    for name, seconds in ((f"gateway: consume -> {connector} call -> commit (worker)", ours),
                          ("raw aiokafka: consume -> produce", relay),
                          ("raw aiokafka: consume -> HTTP POST -> produce", relay_http)):
        rate = events / seconds
        print(f"{name:66}{rate:10.1f}{ours_rate / rate:14.2f}")
    print("(the gateway figure includes the worker's start-up and its consumer-group join)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--database", default="sqlite+aiosqlite:///{workdir}/bench.db",
                        help="the worker's database URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--connector", choices=sorted(PARTNERS), default="webhook")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.database, arguments.connector))
