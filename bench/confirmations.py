"""Payment confirmations/s accepted by the gateway (signature checked, settled in the database,
`paid` published to Kafka, answered) beside a bare endpoint of the same web stack that only
answers 200, measured in the same run.

    .venv/bin/python -m bench.confirmations [--confirmations N] [--concurrency 16] [--database URL]

The gateway runs as `gateway up` in its own process with the bank provider of
deploy/payments.yaml played by its simulator (which posts no confirmation itself, and offers no
receipt here, so that only the confirmation path is measured). N fee assessments make N open
payments first; then this process posts one HMAC-signed confirmation per payment, CONCURRENCY
in flight. The baseline is FastAPI on uvicorn (the gateway's web stack) in its own process,
answering 200 to the same POSTs after reading the body.
"""

import argparse
import asyncio
import json
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from bench.pipeline import p, start_gateway
from gateway.connectors.ministry.config import PROJECT_ROOT
from gateway.webhooks import signing
from gateway.connectors.payment.ledger import reference_for

PROVIDER = "payment_bank"


def gateway_config(workdir: Path) -> Path:
    partner = yaml.safe_load((PROJECT_ROOT / "deploy/payments.yaml").read_text())["partners"][PROVIDER]
    partner["options"]["operations"].pop("receipt")
    partner["options"]["reconcile"] = {"enabled": False}
    config = workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump({"partners": {PROVIDER: partner}}))
    return config


def assessment(number: int) -> tuple[str, bytes]:
    code = f"000.00.15.H12-261123-B{number:05d}"
    event = {"kind": "status_changed", "status_change": {
        "dossier_code": code, "sequence": 2, "status": 6, "changed_at": datetime.now(UTC).isoformat(),
        "fee_assessment": {"provider": PROVIDER, "payer_name": "Nguyễn Văn An",
                           "fees": [{"code": "LP1", "name": "Lệ phí", "amount_vnd": 50_000}]}}}
    return reference_for(f"{code}:status:2"), json.dumps(event).encode()


def confirmation(reference: str, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": "payment.succeeded", "orderRef": reference, "status": "SUCCESS", "amount": 50_000,
                       "currency": "VND", "transactionId": f"FT{reference[-10:]}",
                       "paidAt": datetime.now(UTC).isoformat()}).encode()
    stamp = str(int(time.time()))
    return body, {"X-Timestamp": stamp, "X-Signature": signing.hmac_signature(secret, stamp, body),
                  "content-type": "application/json"}


async def post_all(url: str, requests: list[tuple[bytes, dict]], concurrency: int) -> tuple[float, list[float], dict]:
    limit, latencies, statuses = asyncio.Semaphore(concurrency), [], {}
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(body: bytes, headers: dict) -> None:
            async with limit:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one(body, headers) for body, headers in requests))
        return time.perf_counter() - started, latencies, statuses


async def open_payments(url: str, bodies: list[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        limit = asyncio.Semaphore(16)

        async def send(body: bytes) -> None:
            async with limit:
                (await client.post("/api/v1/dossiers/events", content=body,
                                   headers={"content-type": "application/json"})).raise_for_status()

        await asyncio.gather(*(send(body) for body in bodies))
        simulators = (await client.get("/api/v1/simulators")).json()
        (await client.put(f"{simulators[PROVIDER]['url']}/_sim/controls", json={"lost_rate": 1.0})).raise_for_status()
        deadline = time.monotonic() + 300
        while (await client.get("/api/v1/flows")).json().get(PROVIDER, {}).get("delivered", 0) < len(bodies):
            if time.monotonic() > deadline:
                raise SystemExit("the payments were not all created in 300 s")
            await asyncio.sleep(0.2)


def start_bare(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "bench.confirmations", "--serve-bare", str(port)],
                               cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the bare endpoint did not start")


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/confirmations")
    async def confirm(request: Request) -> Response:
        await request.body()
        return Response(b'{"code":"00"}', media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def drop_schema(database_url: str, schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def gateway_and_bare(database_url: str, config_for: Callable[[Path], Path],
                           env: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """`gateway up --config` in its own process and the bare endpoint in another; yields their
    URLs (the bare one answers POST /confirmations). On PostgreSQL the gateway gets a schema of its
    own, dropped after: references and dossier codes repeat from run to run."""
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as workdir:
        config = config_for(Path(workdir))
        schema = {"GATEWAY_DATABASE_SCHEMA_NAME": f"bench_{secrets.token_hex(4)}"} \
            if database_url.startswith("postgresql") else {}
        process, url, _ = start_gateway(Path(workdir), database_url.replace("{workdir}", workdir), "--config",
                                        str(config), env=env | schema)
        port = free_port()
        bare = start_bare(port)
        try:
            yield url, f"http://127.0.0.1:{port}/confirmations"
        finally:
            bare.terminate()
            process.send_signal(signal.SIGTERM)
            process.wait(60)
            if schema:
                await drop_schema(database_url, schema["GATEWAY_DATABASE_SCHEMA_NAME"])


async def main(count: int, concurrency: int, database_url: str) -> None:
    secret = secrets.token_hex(32)
    pairs = [assessment(number) for number in range(count)]
    async with gateway_and_bare(database_url, gateway_config, {"PAYMENT_BANK_SECRET": secret}) as (url, bare_url):
        await open_payments(url, [body for _, body in pairs])
        requests = [confirmation(reference, secret) for reference, _ in pairs]
        bare_s, bare_latencies, bare_statuses = await post_all(bare_url, requests, concurrency)
        ours_s, ours_latencies, statuses = await post_all(f"{url}/api/v1/payments/{PROVIDER}/confirmations",
                                                          requests, concurrency)
        async with httpx.AsyncClient(base_url=url) as client:
            flows = (await client.get("/api/v1/flows")).json().get(f"payments.{PROVIDER}", {})
    if statuses != {200: count} or flows.get("accepted") != count:
        raise SystemExit(f"not every confirmation was accepted: answers {statuses}, flow {flows}")
    print(f"{count} signed confirmations (HMAC-SHA256), {concurrency} in flight; gateway in its own process "
          f"(embedded broker, database {database_url.split(':')[0]}); each accepted: signature checked, payment "
          f"settled in one transaction, paid event published, answered; all {count} accepted, "
          f"bare answers {bare_statuses}")
    print(f"{'figure':32}{'gateway':>10}{'bare 200':>10}{'ratio':>8}")
    for name, ours, bare_figure in (
            ("confirmations/s", count / ours_s, count / bare_s),
            ("latency p50 (ms)", p(ours_latencies, .5), p(bare_latencies, .5)),
            ("latency p99 (ms)", p(ours_latencies, .99), p(bare_latencies, .99))):
        print(f"{name:32}{ours:10.1f}{bare_figure:10.1f}{ours / bare_figure:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--confirmations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", default="sqlite+aiosqlite:///{workdir}/bench.db",
                        help="database URL of the gateway (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_bare:
        serve_bare(arguments.serve_bare)
    else:
        asyncio.run(main(arguments.confirmations, arguments.concurrency, arguments.database))
