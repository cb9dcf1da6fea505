"""Throughput and latency of intake -> Kafka -> ledger, beside baselines measured in the same run.

    .venv/bin/python -m bench.pipeline [--dossiers N] [--database URL]

The gateway runs as `gateway up` in its own process (embedded broker); this process is the
one-stop system sending dossier events over HTTP with 16 requests in flight. Baselines, on the
same machine, broker and gateway process:
  - HTTP floor:  GET /healthz of the same gateway, same concurrency (what HTTP alone costs);
  - Kafka floor: raw aiokafka send_and_wait (acks=all) of the same bodies, same concurrency;
  - relay floor: raw aiokafka consume -> produce of the same bodies (no database, no validation).
Read the ratios: gateway / baseline.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from gateway.domain import DossierSubmitted
from gateway.simulators.onegate import OneGateSimulator

CONCURRENCY = 16
READY = re.compile(r"gateway ready in ([\d.]+)s: http=(\S+) kafka=(\S+)")


def start_gateway(workdir: Path, database_url: str, *arguments: str,
                  env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, str]:
    """`gateway up --port 0 ARGUMENTS` in its own process; (process, HTTP URL, Kafka bootstrap)."""
    log = workdir / "gateway.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "up", "--port", "0", *arguments], cwd=workdir,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_LOG_LEVEL": "WARNING", **(env or {})},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if match := READY.search(log.read_text()):
            return process, match.group(2), match.group(3)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the gateway did not start:\n{log.read_text()}")


async def timed_concurrently(calls) -> tuple[float, list[float]]:
    """Run the calls CONCURRENCY at a time; total seconds and each call's latency."""
    limit = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []

    async def one(call) -> None:
        async with limit:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(call) for call in calls))
    return time.perf_counter() - started, latencies


async def measure_gateway(url: str, bodies: list[bytes]) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def health() -> None:
            (await client.get("/healthz")).raise_for_status()

        http_s, http_latencies = await timed_concurrently([health] * len(bodies))

        def post(body: bytes):
            async def call() -> None:
                response = await client.post("/api/v1/dossiers/events", content=body,
                                             headers={"content-type": "application/json"})
                response.raise_for_status()
            return call

        started = time.perf_counter()
        intake_s, intake_latencies = await timed_concurrently([post(body) for body in bodies])
        while (await client.get("/api/v1/flows")).json().get("ledger", {}).get("delivered", 0) < len(bodies):
            await asyncio.sleep(0.02)
        pipeline_s = time.perf_counter() - started
    return {"http_s": http_s, "http_latencies": http_latencies, "intake_s": intake_s,
            "intake_latencies": intake_latencies, "pipeline_s": pipeline_s}


async def measure_raw_kafka(bootstrap: str, bodies: list[bytes]) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("bench.raw-in", 3, 1), NewTopic("bench.raw-out", 3, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer("bench.raw-in", bootstrap_servers=bootstrap, group_id="bench.raw",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=2000, heartbeat_interval_ms=500)
    await consumer.start()
    try:
        def send(number: int, body: bytes):
            return lambda: producer.send_and_wait("bench.raw-in", body, key=str(number).encode())

        started = time.perf_counter()
        send_s, send_latencies = await timed_concurrently([send(n, body) for n, body in enumerate(bodies)])
        relayed = 0
        while relayed < len(bodies):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    json.loads(record.value)
                    await producer.send_and_wait("bench.raw-out", record.value, key=record.key)
                    relayed += 1
            await consumer.commit()
        relay_s = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return {"send_s": send_s, "send_latencies": send_latencies, "relay_s": relay_s}


def p(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100)[round(fraction * 100) - 1] * 1000


async def main(dossiers: int, database_url: str) -> None:
    simulator = OneGateSimulator(seed=42)
    bodies = [json.dumps(DossierSubmitted(dossier=simulator.dossier(n)).model_dump(mode="json")).encode()
              for n in range(1, dossiers + 1)]
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as workdir:
        process, url, bootstrap = start_gateway(Path(workdir), database_url.replace("{workdir}", workdir))
        try:
            ours = await measure_gateway(url, bodies)
            raw = await measure_raw_kafka(bootstrap, bodies)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)

    print(f"{dossiers} dossier events of ~{sum(map(len, bodies)) // dossiers} bytes, {CONCURRENCY} in flight; "
          f"gateway in its own process, embedded broker, database {database_url.split(':')[0]}")
    print(f"{'figure':40}{'gateway':>10}{'baseline':>10}{'ratio':>8}  baseline")
    rows = [
        ("intake throughput (events/s)", dossiers / ours["intake_s"], dossiers / raw["send_s"], "raw aiokafka send"),
        ("intake latency p50 (ms)", p(ours["intake_latencies"], .5), p(raw["send_latencies"], .5), "raw aiokafka send"),
        ("intake latency p95 (ms)", p(ours["intake_latencies"], .95), p(raw["send_latencies"], .95), "raw aiokafka send"),
        ("intake throughput (events/s)", dossiers / ours["intake_s"], dossiers / ours["http_s"], "GET /healthz"),
        ("intake latency p50 (ms)", p(ours["intake_latencies"], .5), p(ours["http_latencies"], .5), "GET /healthz"),
        ("in -> recorded by ledger (events/s)", dossiers / ours["pipeline_s"], dossiers / raw["relay_s"],
         "raw send + consume->produce"),
    ]
    for name, gateway_figure, baseline, baseline_name in rows:
        print(f"{name:40}{gateway_figure:10.1f}{baseline:10.1f}{gateway_figure / baseline:8.2f}  {baseline_name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--database", default="sqlite+aiosqlite:///{workdir}/bench.db",
                        help="database URL of the gateway (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.dossiers, arguments.database))
