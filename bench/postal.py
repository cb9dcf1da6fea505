"""Postal orders/s placed by the gateway against the VNPost simulator, and tracking events/s
ingested from signed callbacks, each beside a baseline measured in the same run.

    .venv/bin/python -m bench.postal [--orders N] [--concurrency 16] [--database URL]

The gateway runs as `gateway up` in its own process with VNPost (deploy/postal.yaml) played by
its simulator inside that process, parcels standing still and no callbacks of its own, so only
the measured path runs.

- Orders: N submitted dossiers, each choosing postal submission, go through the intake. Timed
  from the first submission until all N shipments are registered: the postal role read each
  event from Kafka, asked a price quote and placed the order (two signed HTTP calls) and recorded
  the tracking number, telling the one-stop system. Baseline: this process posts N signed orders
  straight to the same simulator, CONCURRENCY in flight (what the carrier's side takes).
- Tracking: one signed callback per parcel (an "in transit" event), CONCURRENCY in flight, at
  the gateway's tracking endpoint: signature checked, event recorded, shipment moved, update
  published, answered. Baseline: FastAPI on uvicorn (the gateway's web stack) in its own
  process answering 200 after reading the body (bench.confirmations' bare endpoint).
"""

import argparse
import asyncio
import json
import secrets
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

from bench.confirmations import gateway_and_bare, post_all
from bench.pipeline import p
from gateway.connectors.ministry.config import PROJECT_ROOT
from gateway.domain import DossierSubmitted, PostalAddress, PostalChoice
from gateway.simulators.onegate import OneGateSimulator
from gateway.webhooks import signing

CARRIER = "vnpost"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
HOME = PostalAddress(name="Nguyễn Văn An", address="12 Lê Lợi, phường Phú Hội, thành phố Huế", phone="0912345678",
                     province_code="46", district_code="474")


def gateway_config(workdir: Path) -> Path:
    partner = yaml.safe_load((PROJECT_ROOT / "deploy/postal.yaml").read_text())["partners"][CARRIER]
    partner["options"]["tracking"] |= {"poll": False}
    partner["options"]["simulator"] = {"controls": {"auto_advance": False, "callbacks": False}}
    config = workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump({"partners": {CARRIER: partner}}))
    return config


def submissions(count: int) -> list[bytes]:
    simulator = OneGateSimulator(seed=8)
    return [json.dumps(DossierSubmitted(dossier=simulator.dossier(number).model_copy(
        update={"postal": PostalChoice(pick_up_from=HOME)})).model_dump(mode="json")).encode()
        for number in range(1, count + 1)]


def signed(body: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    return raw, {"X-VNPost-Timestamp": stamp, "X-VNPost-Signature": signing.hmac_signature(secret, stamp, raw),
                 "content-type": "application/json"}


def direct_order(number: int, secret: str) -> tuple[bytes, dict[str, str]]:
    party = {"Name": HOME.name, "Address": HOME.address, "Tel": HOME.phone, "ProvinceCode": "46",
             "DistrictCode": "474"}
    return signed({"CustomerCode": "HUE0001", "OrderNumber": f"BASELINE-{number:06d}", "ServiceType": "PICKUP",
                   "CODAmount": 0, "Weight": 500, "Description": "Hồ sơ", "Sender": party, "Receiver": party}, secret)


def tracking_callback(parcel: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    return signed({"ItemCode": parcel["tracking_number"], "OrderNumber": parcel["dossier_code"],
                   "ServiceType": "PICKUP", "StatusCode": "4", "StatusMessage": "Đang vận chuyển",
                   "Time": datetime.now(VIETNAM).strftime("%d/%m/%Y %H:%M:%S"), "Location": "Bưu cục Huế"}, secret)


async def place_orders(url: str, bodies: list[bytes], concurrency: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        limit = asyncio.Semaphore(concurrency)

        async def send(body: bytes) -> None:
            async with limit:
                (await client.post("/api/v1/dossiers/events", content=body,
                                   headers={"content-type": "application/json"})).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(send(body) for body in bodies))
        deadline = time.monotonic() + 600
        while (await client.get("/api/v1/postal/summary")).json().get(CARRIER, {}).get("pick_up", {}) \
                .get("registered", 0) < len(bodies):
            if time.monotonic() > deadline:
                raise SystemExit("the orders were not all placed in 600 s")
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


async def main(count: int, concurrency: int, database_url: str) -> None:
    secret = secrets.token_hex(32)
    bodies = submissions(count)
    async with gateway_and_bare(database_url, gateway_config, {"POSTAL_VNPOST_SECRET": secret}) as (url, bare_url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            simulator_url = (await client.get("/api/v1/simulators")).json()[CARRIER]["url"]
        direct_s, _, direct_statuses = await post_all(f"{simulator_url}/api/orders",
                                                      [direct_order(n, secret) for n in range(count)], concurrency)
        orders_s = await place_orders(url, bodies, concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            parcels = (await client.get("/api/v1/postal/shipments", params={"limit": 1000})).json()
        callbacks = [tracking_callback(parcel, secret) for parcel in parcels]
        bare_s, bare_latencies, bare_statuses = await post_all(bare_url, callbacks, concurrency)
        ours_s, ours_latencies, statuses = await post_all(f"{url}/api/v1/postal/{CARRIER}/tracking", callbacks,
                                                          concurrency)
        async with httpx.AsyncClient(base_url=url) as client:
            flows = (await client.get("/api/v1/flows")).json().get(f"postal.{CARRIER}", {})
    if direct_statuses != {200: count}:
        raise SystemExit(f"the simulator did not take every direct order: {direct_statuses}")
    if statuses != {200: len(callbacks)} or flows.get("accepted") != len(callbacks):
        raise SystemExit(f"not every callback was accepted: answers {statuses}, flow {flows}")
    print(f"{count} dossiers choosing postal submission, {concurrency} in flight; gateway in its own process "
          f"(embedded broker, database {database_url.split(':')[0]}), VNPost simulator in it")
    print(f"{'figure':36}{'gateway':>10}{'baseline':>10}{'ratio':>8}  baseline")
    for name, ours, baseline, what in (
            ("orders/s placed (quote + order)", count / orders_s, count / direct_s, "signed orders straight to "
                                                                                     "the simulator"),
            ("tracking events/s ingested", len(callbacks) / ours_s, len(callbacks) / bare_s, "bare endpoint "
                                                                                             "answering 200"),
            ("tracking latency p50 (ms)", p(ours_latencies, .5), p(bare_latencies, .5), ""),
            ("tracking latency p99 (ms)", p(ours_latencies, .99), p(bare_latencies, .99), "")):
        print(f"{name:36}{ours:10.1f}{baseline:10.1f}{ours / baseline:8.2f}  {what}")
    print(f"bare answers {bare_statuses}; every callback accepted ({flows.get('accepted')})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000, help="dossiers, hence orders and callbacks (at most 1000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", default="sqlite+aiosqlite:///{workdir}/bench.db",
                        help="database URL of the gateway (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    arguments = parser.parse_args()
    if not 1 <= arguments.orders <= 1000:
        parser.error("--orders is 1 to 1000 (one page of the shipments API)")
    asyncio.run(main(arguments.orders, arguments.concurrency, arguments.database))
