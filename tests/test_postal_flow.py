"""The public postal service end to end: dossiers through the one-stop intake over real HTTP,
the real embedded broker, VNPost (deploy/postal.yaml) played by its simulator over real HTTP,
parcels that advance over time with signed tracking callbacks posted back to the gateway —
duplicated, reordered, badly signed and lost (only polling finds those) — and the national
portal simulator that must hear each result returned exactly once."""

import asyncio
import csv
import json
import secrets
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
import yaml

from gateway.connectors.postal.simulator import PostalControls, PostalSimulator
from gateway.domain import DossierEvent, OneGateUpdate, ShipmentState
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import DatabaseSettings
from gateway.runtime.roles import select_roles
from gateway.topics import DOSSIER_EVENTS, ONEGATE_UPDATES
from gateway.webhooks import signing

from .conftest import REPO, StartGateway, read_topic, sample_dossier, topic_size, wait_for

FAST = {"retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 5,
                  "parked_attempts": 3, "parked_delay_s": 0.2, "parked_max_delay_s": 0.5}}
HUE = {"name": "Trần Thị Bình", "address": "12 Lê Lợi, phường Phú Hội, thành phố Huế", "phone": "0912 345 678",
       "province_code": "46", "district_code": "474"}
AGENCIES = ("000.00.15.H12", "000.00.21.H12")


@pytest.fixture
def postal_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    secret = secrets.token_hex(32)
    monkeypatch.setenv("POSTAL_VNPOST_SECRET", secret)
    return secret


def postal_partner(**tracking) -> dict:
    partner = yaml.safe_load((REPO / "deploy/postal.yaml").read_text())["partners"]["vnpost"] | FAST
    partner["options"]["tracking"] |= {"interval_s": 3600.0, "quiet_s": 0.0} | tracking
    partner["options"]["simulator"] = {"controls": {"step_s": 0.05}}
    return partner


async def start_postal(start_gateway: StartGateway, database: DatabaseSettings | None = None,
                       roles: tuple[str, ...] = ("ledger", "national_portal", "postal"), **tracking) -> Gateway:
    settings = {"partners": {"vnpost": postal_partner(**tracking)}, "kafka": {"consumers_per_subscription": 1}}
    if database is not None:
        settings["database"] = database.model_dump()
    return await start_gateway(Plan(roles=select_roles(list(roles))), **settings)


def simulator(gateway: Gateway) -> PostalSimulator:
    return gateway.simulator_host.simulators["vnpost"]


def submitted(code: str, *, pick_up: bool, agency: str = AGENCIES[0], province: str = "46") -> dict:
    postal = {"return_to": HUE | {"province_code": province}, "collect_on_delivery_vnd": 0}
    if pick_up:
        postal["pick_up_from"] = HUE
    dossier = sample_dossier(code, agency_code=agency, postal=postal)
    return {"kind": "submitted", "dossier": dossier.model_dump(mode="json")}


def status(code: str, sequence: int, value: int) -> dict:
    return {"kind": "status_changed", "status_change": {
        "dossier_code": code, "sequence": sequence, "status": value, "changed_at": datetime.now(UTC).isoformat()}}


async def post_events(gateway: Gateway, events: list[dict]) -> None:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        for event in events:
            response = await client.post("/api/v1/dossiers/events", json=event)
            assert response.status_code == 202, response.text


async def api(gateway: Gateway, path: str, **params) -> list | dict:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def shipments(gateway: Gateway, **params) -> list[dict]:
    return await api(gateway, "/api/v1/postal/shipments", limit=1000, **params)


async def updates(gateway: Gateway) -> list[OneGateUpdate]:
    """Every record on onegate.updates, duplicates included (nothing deduplicated here)."""
    bootstrap = gateway.running.kafka_bootstrap
    records = await read_topic(bootstrap, ONEGATE_UPDATES.name, await topic_size(bootstrap, ONEGATE_UPDATES.name))
    return [OneGateUpdate.model_validate_json(record.value) for record in records]


async def reported_steps(gateway: Gateway) -> list:
    bootstrap = gateway.running.kafka_bootstrap
    records = await read_topic(bootstrap, DOSSIER_EVENTS.name, await topic_size(bootstrap, DOSSIER_EVENTS.name))
    changes = [DossierEvent.model_validate_json(record.value).root for record in records]
    return [change.status_change for change in changes
            if getattr(change, "status_change", None) is not None and change.status_change.reported_by == "vnpost"]


async def test_results_sent_by_post_reach_the_one_stop_system_and_the_portal_exactly_once(
        start_gateway: StartGateway, postal_secret, database_settings: DatabaseSettings, tmp_path) -> None:
    gateway = await start_postal(start_gateway, database_settings, interval_s=0.5, quiet_s=0.3)
    sim = simulator(gateway)
    # A result goes back to the sender after 2 failed attempts: with fail_rate 0.5 a quarter of the
    # parcels do. The seed does not fix the outcome (the draws interleave with timing), so the rate
    # must make "no parcel returned" unlikely (0.75^30 ≈ 0.02%; with 0.3 it was 0.91^30 ≈ 6%).
    sim.controls = PostalControls(step_s=0.05, jitter_s=0.1, fail_rate=0.5, attempts=2, pickup_fail_rate=0.2,
                                  duplicate_rate=0.3, reorder_rate=0.3, lost_rate=0.2, bad_signature_rate=0.1, seed=7)
    count, with_pick_up = 30, 10
    codes = [f"{AGENCIES[index % 2]}-261123-M{index:03d}" for index in range(count)]
    events = [submitted(code, pick_up=index < with_pick_up, agency=AGENCIES[index % 2])
              for index, code in enumerate(codes)]
    await post_events(gateway, events + events[:3])  # the one-stop system sends some twice
    # Processing: received (2), processing (4), processed (9): the result goes out by post.
    await post_events(gateway, [status(code, sequence, value) for code in codes
                                for sequence, value in ((1, 2), (2, 4), (3, 9))])
    portal = gateway.simulator_host.simulators["national_portal"]

    async def all_final() -> bool:
        return all(ShipmentState(row["state"]).final for row in await shipments(gateway)) \
            and len(await shipments(gateway)) == count + with_pick_up

    await wait_for(all_final, timeout_s=90, what="every parcel delivered or returned")
    await sim.settled()
    rows = await shipments(gateway)
    returns = {row["dossier_code"]: row for row in rows if row["kind"] == "return"}
    pick_ups = {row["dossier_code"]: row for row in rows if row["kind"] == "pick_up"}
    assert set(returns) == set(codes) and set(pick_ups) == set(codes[:with_pick_up])
    assert {row["state"] for row in rows} <= {"delivered", "returned"}
    assert all(row["fee_vnd"] and row["fee_vnd"] >= 18_000 for row in rows)  # the postage VNPost priced
    delivered = {code for code, row in returns.items() if row["state"] == "delivered"}
    returned = set(codes) - delivered
    assert delivered and returned, "the seed gives both outcomes"
    for code in returned:  # raised with VNPost's reason
        assert returns[code]["detail"], returns[code]
    # The simulator's own record agrees with the gateway's, parcel by parcel.
    assert {parcel.item_code: parcel.state for parcel in sim.parcels.values()} == {
        row["tracking_number"]: {"delivered": "6", "returned": "9"}[row["state"]] for row in rows}

    # Status 10 reaches the national portal once per delivered result (pushed once, kept once) ...
    async def portal_has_them() -> bool:
        return all(portal.statuses.get(code, [])[-1:] == [10] for code in delivered)

    await wait_for(portal_has_them, timeout_s=30, what="status 10 at the national portal")
    for code in delivered:
        pushes = [key for key in portal.stats.keys_seen if key.startswith(f"{code}:") and key.endswith(":10")]
        assert len(pushes) == 1 and portal.stats.keys_seen[pushes[0]] == 1, (code, pushes)
    assert all(10 not in portal.statuses.get(code, []) for code in returned)
    # ... and on the Kafka topics exactly once, counting raw records.
    steps = Counter(change.dossier_code for change in await reported_steps(gateway))
    assert steps == Counter(delivered)
    told = await updates(gateway)
    results = Counter(update.dossier_code for update in told if update.source == "vnpost" and update.status == 10)
    assert results == Counter(delivered)
    received = Counter(update.dossier_code for update in told
                       if update.source == "vnpost" and update.kind.value == "received")
    assert received == Counter(codes[:with_pick_up])
    assert all(update.shipment is not None and update.shipment.tracking_number
               for update in told if update.source == "vnpost")

    # Tracking never moved a parcel backwards, whatever order the events came in.
    callbacks = Counter(kind for parcel in sim.parcels.values() for kind in (c["kind"] for c in parcel.callbacks))
    assert callbacks["duplicate"] and callbacks["bad_signature"] and callbacks["held"], callbacks
    via = Counter()
    for row in rows:
        history = await api(gateway, f"/api/v1/postal/shipments/{row['tracking_number']}")
        # As the gateway heard them (by id), the events it applied only ever went forwards in time.
        applied = [(event["occurred_at"], ShipmentState(event["state"]).rank)
                   for event in sorted(history["events"], key=lambda event: event["id"]) if event["applied"]]
        assert applied == sorted(applied) and len(set(applied)) == len(applied), history
        via.update(event["via"] for event in history["events"])
    assert via["poll"] > 0, "lost callbacks are found by polling"
    # Every bad signature was refused, every good callback taken.
    answers = Counter(answer["status_code"] for parcel in sim.parcels.values() for answer in parcel.answers)
    assert set(answers) <= {200, 401, 503}, answers

    # The monthly report: received and returned by post, per agency.
    month = datetime.now(UTC).astimezone().strftime("%Y-%m")
    figures = {row["agency_code"]: row for row in await api(gateway, "/api/v1/postal/figures")}
    for agency in AGENCIES:
        assert figures[agency]["received_by_post"] == len([c for c in codes[:with_pick_up] if c.startswith(agency)])
        assert figures[agency]["returned_by_post"] == len([c for c in delivered if c.startswith(agency)])
        assert figures[agency]["month"] == month or time.localtime().tm_mday in (1, 28, 29, 30, 31)
    # The same figures from the command line, read from the database alone.
    config, output = tmp_path / "gateway.yaml", tmp_path / "figures.csv"
    config.write_text(yaml.safe_dump({"database": gateway.settings.database.model_dump(mode="json")}))
    command = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "gateway", "postal", "figures", "--output", str(output), "--config", str(config)],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert command.returncode == 0, command.stderr
    written = {row["agency_code"]: row for row in csv.DictReader(output.open(encoding="utf-8"))}
    assert {agency: (int(row["received_by_post"]), int(row["returned_by_post"])) for agency, row in written.items()} \
        == {agency: (row["received_by_post"], row["returned_by_post"]) for agency, row in figures.items()}


async def test_withdrawal_before_pick_up_cancels_the_order_and_after_is_raised(
        start_gateway: StartGateway, postal_secret) -> None:
    gateway = await start_postal(start_gateway, poll=False)
    sim = simulator(gateway)
    sim.controls = PostalControls(auto_advance=False)
    early, late = "000.00.15.H12-261123-W001", "000.00.15.H12-261123-W002"
    await post_events(gateway, [submitted(early, pick_up=True), submitted(late, pick_up=True)])

    async def ordered() -> bool:
        return len([row for row in await shipments(gateway, kind="pick_up") if row["state"] == "registered"]) == 2

    await wait_for(ordered, what="two pick-up orders")
    late_parcel = next(row for row in await shipments(gateway, dossier=late, kind="pick_up"))["tracking_number"]
    sim.advance(late_parcel, "3")  # the postman took this one already

    async def picked_up() -> bool:
        return (await shipments(gateway, dossier=late, kind="pick_up"))[0]["state"] == "picked_up"

    await wait_for(picked_up, what="the late dossier picked up")
    await post_events(gateway, [status(early, 1, 7), status(late, 1, 7)])

    async def withdrawn() -> bool:
        early_rows = {row["kind"]: row["state"] for row in await shipments(gateway, dossier=early)}
        late_rows = await shipments(gateway, dossier=late, kind="pick_up")
        return early_rows == {"pick_up": "cancelled", "return": "cancelled"} and bool(late_rows[0]["detail"])

    await wait_for(withdrawn, what="the withdrawals handled")
    early_parcel = (await shipments(gateway, dossier=early, kind="pick_up"))[0]["tracking_number"]
    assert sim.parcels[early_parcel].state == "10"  # cancelled at VNPost
    assert sim.parcels[late_parcel].state == "3"
    late_row = (await shipments(gateway, dossier=late, kind="pick_up"))[0]
    assert late_row["state"] == "picked_up" and "not cancelled" in late_row["detail"]
    flows = await api(gateway, "/api/v1/flows")
    assert flows["postal.vnpost"]["raised_to_operators"] >= 1
    told = [update for update in await updates(gateway) if update.dossier_code == early and update.source == "vnpost"]
    assert [update.shipment.state.value for update in told] == ["registered", "cancelled", "cancelled"] or \
        sorted(update.shipment.state.value for update in told) == ["cancelled", "cancelled", "registered"]


def callback(tracking_number: str, order_number: str, code: str, when: str, **extra) -> dict:
    return {"ItemCode": tracking_number, "OrderNumber": order_number, "ServiceType": "DELIVERY", "StatusCode": code,
            "StatusMessage": "Đang vận chuyển", "Time": when, "Location": "Bưu cục Huế", "Reason": None} | extra


def signed_headers(secret: str, raw: bytes, stamp: int | None = None) -> dict[str, str]:
    timestamp = str(stamp if stamp is not None else int(time.time()))
    return {"X-VNPost-Timestamp": timestamp, "X-VNPost-Signature": signing.hmac_signature(secret, timestamp, raw),
            "content-type": "application/json"}


async def ordered_return(gateway: Gateway, code: str) -> str:
    await post_events(gateway, [submitted(code, pick_up=False), status(code, 1, 2), status(code, 2, 4),
                                status(code, 3, 9)])

    async def registered() -> bool:
        rows = await shipments(gateway, dossier=code)
        return bool(rows) and rows[0]["state"] == "registered"

    await wait_for(registered, what=f"the return of {code} ordered")
    return (await shipments(gateway, dossier=code))[0]["tracking_number"]


async def test_bad_callbacks_are_refused_with_the_documented_answer_and_publish_nothing(
        start_gateway: StartGateway, postal_secret) -> None:
    # Only the postal role: no other role's updates land while the topics are watched.
    gateway = await start_postal(start_gateway, roles=("postal",), poll=False)
    simulator(gateway).controls = PostalControls(auto_advance=False, callbacks=False)
    code = "000.00.15.H12-261123-S001"
    item = await ordered_return(gateway, code)
    url = f"{gateway.running.http_url}/api/v1/postal/vnpost/tracking"
    bootstrap = gateway.running.kafka_bootstrap
    before = {topic: await topic_size(bootstrap, topic) for topic in (ONEGATE_UPDATES.name, DOSSIER_EVENTS.name)}
    good = json.dumps(callback(item, code, "4", "23/11/2026 10:00:00")).encode()
    async with httpx.AsyncClient() as client:
        async def post(raw: bytes, headers: dict) -> httpx.Response:
            return await client.post(url, content=raw, headers=headers)

        headers = signed_headers(postal_secret, good)
        refused = {
            "wrong signature": await post(good, headers | {"X-VNPost-Signature": headers["X-VNPost-Signature"][:-1]
                                                           + ("0" if headers["X-VNPost-Signature"][-1] != "0" else "1")}),
            "altered under the old signature": await post(good.replace(b'"4"', b'"6"'), headers),
            "no signature": await post(good, {"content-type": "application/json"}),
            "stale": await post(good, signed_headers(postal_secret, good, int(time.time()) - 3600)),
            "too large": await post(b" " * 70_000 + good, signed_headers(postal_secret, b" " * 70_000 + good)),
            "unknown parcel": await post(raw := good.replace(item.encode(), b"EB000000000VN"),
                                         signed_headers(postal_secret, raw)),
            "not json": await post(b"<xml/>", signed_headers(postal_secret, b"<xml/>")),
            "no time": await post(raw := json.dumps(callback(item, code, "4", None)).encode(),
                                  signed_headers(postal_secret, raw)),
            "bad time": await post(raw := json.dumps(callback(item, code, "4", "2026-11-23 10:00")).encode(),
                                   signed_headers(postal_secret, raw)),
        }
        expected = {"wrong signature": (401, "102"), "altered under the old signature": (401, "102"),
                    "no signature": (401, "102"), "stale": (401, "102"), "too large": (413, "101"),
                    "unknown parcel": (404, "104"), "not json": (400, "101"), "no time": (400, "101"),
                    "bad time": (400, "101")}
        assert {what: (answer.status_code, answer.json()["Status"]) for what, answer in refused.items()} == expected
        assert {topic: await topic_size(bootstrap, topic) for topic in before} == before  # nothing published

        first = await post(good, headers)
        replayed = await post(good, headers)  # the same bytes and signature
        # The carrier sends it again, signed anew (a second later).
        resent = await post(good, signed_headers(postal_secret, good, int(headers["X-VNPost-Timestamp"]) + 1))
        older = await post(raw := json.dumps(callback(item, code, "1", "23/11/2026 09:00:00")).encode(),
                           signed_headers(postal_secret, raw))
        unmapped = await post(raw := json.dumps(callback(item, code, "42", "23/11/2026 10:05:00")).encode(),
                              signed_headers(postal_secret, raw))
    assert [(answer.status_code, answer.json()["Status"]) for answer in (first, replayed, resent, older, unmapped)] \
        == [(200, "100"), (409, "103"), (200, "100"), (200, "100"), (200, "100")]
    # The gateway's answers are signed too.
    assert signing.same(first.headers["X-VNPost-Signature"],
                        signing.hmac_signature(postal_secret, first.headers["X-VNPost-Timestamp"], first.content))
    row = (await shipments(gateway, dossier=code))[0]
    assert row["state"] == "in_transit" and row["status_code"] == "4"  # the older event moved nothing
    assert "42" in row["detail"]  # an unknown code is kept and raised: the status table needs it
    told = [update for update in await updates(gateway) if update.dossier_code == code and update.source == "vnpost"]
    assert [update.shipment.state.value for update in told] == ["registered", "in_transit"]
    flows = await api(gateway, "/api/v1/flows")
    counts = flows["postal.vnpost"]
    assert (counts["bad_signature"], counts["stale"], counts["too_large"], counts["unknown_shipment"],
            counts["malformed"], counts["replayed"], counts["accepted"], counts["duplicate"]) == (3, 1, 1, 1, 3, 1, 3, 1)
    assert counts["raised_to_operators"] == 1
    history = await api(gateway, f"/api/v1/postal/shipments/{item}")
    assert [(event["status_code"], event["applied"]) for event in history["events"]] == [
        ("1", False), ("4", True), ("42", False)]


async def test_an_order_the_post_refuses_tells_the_one_stop_system_why(
        start_gateway: StartGateway, postal_secret) -> None:
    gateway = await start_postal(start_gateway, poll=False)
    code = "000.00.15.H12-261123-R001"
    await post_events(gateway, [submitted(code, pick_up=False, province="99"), status(code, 1, 2),
                                status(code, 2, 4), status(code, 3, 9)])

    async def refused() -> bool:
        rows = await shipments(gateway, dossier=code)
        return bool(rows) and rows[0]["state"] == "refused"

    await wait_for(refused, what="the return refused")
    row = (await shipments(gateway, dossier=code))[0]
    assert "106" in row["detail"] or "service area" in row["detail"], row
    told = [update for update in await updates(gateway) if update.dossier_code == code and update.source == "vnpost"]
    assert [update.kind.value for update in told] == ["refused"]
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        letters = (await client.get("/api/v1/dead-letters", params={"connector": "vnpost"})).json()
    assert [letter["dossier_code"] for letter in letters] == [code]  # replayable once the address is fixed


def test_the_demo_sends_dossiers_by_post_and_waits_for_their_parcels(tmp_path, postal_secret) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--dossiers", "20", "--json", "--url", "http://127.0.0.1:9",
         "--seed", "4", "--config", str(REPO / "deploy/postal.yaml"), "--timeout", "90"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    postal = summary["postal"]
    assert summary["settled"] and postal["chosen"]["dossiers"] > 0
    ended = sum(count for states in postal["parcels"].values() for state, count in states.items()
                if state in ("delivered", "returned"))
    assert ended == postal["chosen"]["parcels"], postal
    assert summary["flows"]["vnpost"]["delivered"] >= postal["chosen"]["dossiers"]  # orders (and steps) handled
    assert summary["flows"]["postal.vnpost"]["accepted"] > 0  # tracking callbacks taken
