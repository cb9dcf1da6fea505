"""The national portal connector end to end: the one-stop intake over real HTTP, the real
embedded broker, the mapping specs, and the portal adapter simulator over real HTTP."""

import asyncio
import json
import secrets
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.connectors.national_portal.handlers import PortalMappings
from gateway.connectors.national_portal.simulator import NationalPortalSimulator
from gateway.reliability.partner_calls import CallState, PartnerCalls
from gateway.domain import DossierStatusChanged, DossierSubmitted, StatusChange, SupplementRequest
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import DatabaseSettings
from gateway.runtime.roles import select_roles
from gateway.topics import DEAD_LETTERS, ONEGATE_UPDATES

from .conftest import StartGateway, read_topic, sample_dossier, wait_for
from .test_delivery import FAST_RETRIES

AGENCY = "000.00.15.H12"
RECEIVED = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

# Paths through the DVCQG statuses: together they take every status 1-10.
PATHS = {
    "full": [2, 4, 5, 4, 6, 4, 9, 10],  # accepted, processing, supplement, payment, processed, returned
    "refused": [3],
    "stopped": [2, 4, 8],
    "withdrawn": [7],
    "supplement-then-refused": [2, 5, 3],
}


@pytest.fixture
async def portal():
    simulator = NationalPortalSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def portal_password(monkeypatch: pytest.MonkeyPatch, portal: NationalPortalSimulator) -> str:
    password = secrets.token_urlsafe(12)  # generated: no secret in the repository
    monkeypatch.setenv("TEST_PORTAL_PASSWORD", password)
    portal.controls.accounts = {"gateway": password}
    return password


async def start_portal_gateway(start_gateway: StartGateway, portal: NationalPortalSimulator, patient: bool = False,
                               database: DatabaseSettings | None = None, **options) -> Gateway:
    retries = FAST_RETRIES
    if patient:  # enough rounds to outlast a flaky portal
        retries = {**FAST_RETRIES, "retry": {**FAST_RETRIES["retry"], "parked_attempts": 50, "parked_max_delay_s": 0.5}}
    partner = {"endpoint": portal.url, "credentials": {"password": "TEST_PORTAL_PASSWORD"},
               "options": {"agency_code": AGENCY, "progress_chunk_size": 2, **options}, **retries}
    extra = {"database": database} if database is not None else {}
    return await start_gateway(Plan(roles=select_roles(["national_portal"]), run_simulators=False),
                               partners={"national_portal": partner}, **extra)


def events_for(code: str, path: list[int], **dossier_changes) -> list[dict]:
    events = [DossierSubmitted(dossier=sample_dossier(code, received_at=RECEIVED, **dossier_changes))]
    for sequence, status in enumerate(path, start=1):
        supplement = SupplementRequest(requested_documents=("Giấy chứng sinh bản chính",), reason="Bản chụp bị mờ") \
            if status == 5 else None
        events.append(DossierStatusChanged(status_change=StatusChange(
            dossier_code=code, sequence=sequence, status=status, changed_at=RECEIVED + timedelta(hours=sequence),
            handler_name="Trần Văn Bình", note="Từ chối: không đúng thẩm quyền" if status == 3 else None,
            supplement=supplement)))
    return [event.model_dump(mode="json") for event in events]


async def post_events(gateway: Gateway, events: list[dict]) -> None:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        for event in events:
            response = await client.post("/api/v1/dossiers/events", json=event)
            assert response.status_code == 202, response.text


async def flows(gateway: Gateway) -> dict:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        return (await client.get("/api/v1/flows")).json()


async def outcomes(gateway: Gateway, outcome: str) -> int:
    return (await flows(gateway)).get("national_portal", {}).get(outcome, 0)


async def at_least(value, minimum: int) -> bool:
    return await value >= minimum


async def test_every_status_reaches_the_portal_in_order(start_gateway: StartGateway, portal: NationalPortalSimulator,
                                                        portal_password: str, database_settings: DatabaseSettings) -> None:
    portal.controls.session_ttl_s = 3  # sessions run out during the test: refreshed before expiry
    gateway = await start_portal_gateway(start_gateway, portal, database=database_settings, session_refresh_margin_s=1)
    sent: dict[str, list[int]] = {}
    batches = []
    for round_ in range(4):
        for name, path in PATHS.items():
            code = f"{AGENCY}-{name}-{round_}"
            sent[code] = [1, *path]
            batches.append(events_for(code, path))
    # Interleaved like a busy one-stop system: each dossier's events in order, dossiers mixed.
    interleaved = [batch[step] for step in range(max(map(len, batches))) for batch in batches if step < len(batch)]
    half = len(interleaved) // 2
    await post_events(gateway, interleaved[:half])
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), half // 2), what="first deliveries")
    await httpx.AsyncClient().post(f"{portal.url}/_sim/sessions/expire")  # the portal drops every session
    await post_events(gateway, interleaved[half:])
    total = len(interleaved)
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), total), timeout_s=90, what=f"{total} pushes")

    assert portal.statuses == sent  # what the portal holds is what the one-stop system sent, in order
    assert portal.refusals == []
    assert {status for path in sent.values() for status in path} == set(range(1, 11))
    full = f"{AGENCY}-full-0"
    supplement_step = portal.steps[full][2]
    assert supplement_step["TrangThai"] == "5" and "Giấy chứng sinh bản chính" in supplement_step["NoiDungXuLy"]
    assert portal.dossiers[full]["NgayTiepNhan"] == "20261123080000"  # Vietnam time
    assert portal.logins >= 2  # a new session after the expiry (and the short lifetime)
    assert await outcomes(gateway, "dead_lettered") == 0

    updates = await read_topic(gateway.running.kafka_bootstrap, ONEGATE_UPDATES.name, total, timeout_s=20)
    bodies = [json.loads(record.value) for record in updates]
    assert len(bodies) == total and {body["kind"] for body in bodies} == {"synced"}
    assert sum(1 for body in bodies if body["dossier_code"] == full) == len(sent[full])
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        trail = (await client.get("/api/v1/audit/dossiers/" + full)).json()
    partners = [(record["direction"], record["partner"]) for record in trail]
    assert partners.count(("out", "national_portal")) == len(sent[full])  # each push
    assert partners.count(("out", "onegate")) == len(sent[full])  # each outcome


async def test_bad_input_gets_its_documented_behaviour(start_gateway: StartGateway, portal: NationalPortalSimulator,
                                                       portal_password: str) -> None:
    gateway = await start_portal_gateway(start_gateway, portal)
    no_id = f"{AGENCY}-no-id"
    kiosk = f"{AGENCY}-kiosk"
    long_summary = f"{AGENCY}-long"
    unknown_status = DossierStatusChanged(status_change=StatusChange(
        dossier_code=long_summary, sequence=1, status=2, changed_at=RECEIVED)).model_dump(mode="json")
    unknown_status["status_change"]["status"] = 11
    events = [
        *events_for(no_id, [2]),  # the portal requires the owner's ID number (SoGiayToChuHoSo)
        *events_for(kiosk, [], channel="kiosk"),  # a channel the code table does not know
        *events_for(long_summary, [2], summary="Trích yếu hồ sơ " * 250),  # 4000 characters
    ]
    events[0]["dossier"]["applicant"]["id_number"] = None
    await post_events(gateway, events)
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        refused = await client.post("/api/v1/dossiers/events", json=unknown_status)
    assert refused.status_code == 422 and "status" in refused.text  # refused at the door, nothing published

    # The no-id dossier's status change waits for its dossier, then is dead-lettered too: nothing lost.
    await wait_for(lambda: at_least(outcomes(gateway, "dead_lettered"), 3), timeout_s=60, what="three dead letters")
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), 2), what="the long summary's pushes")
    letters = [dict(record.headers) for record in await read_topic(gateway.running.kafka_bootstrap, DEAD_LETTERS.name, 3)]
    errors: dict[str, list[str]] = {}
    for headers in letters:
        errors.setdefault(headers["correlation_id"].decode(), []).append(headers["dlq_exception_message"].decode())
    submission_error, step_error = errors[no_id]
    assert "SoGiayToChuHoSo" in submission_error and "required" in submission_error
    assert "has not reached the portal yet" in step_error
    assert errors[kiosk] == ["field KenhThucHien: 'kiosk' is not in table 'channel' (channel.csv)"]
    summary = portal.dossiers[long_summary]["TrichYeuHoSo"]
    assert len(summary) == 1000 and summary.endswith("…")
    assert no_id not in portal.dossiers and kiosk not in portal.dossiers
    assert portal.statuses[long_summary] == [1, 2]
    bodies = [json.loads(record.value) for record in await read_topic(gateway.running.kafka_bootstrap,
                                                                         ONEGATE_UPDATES.name, 5)]
    refusals = [(body["dossier_code"], body["message"]) for body in bodies if body["kind"] == "refused"]
    assert sorted(code for code, _ in refusals) == [kiosk, no_id, no_id]
    assert any("SoGiayToChuHoSo" in message for code, message in refusals if code == no_id)


async def test_busy_portal_is_retried_and_a_refusal_is_not(start_gateway: StartGateway, portal: NationalPortalSimulator,
                                                           portal_password: str) -> None:
    gateway = await start_portal_gateway(start_gateway, portal, patient=True)
    portal.controls.busy_rate = 0.3
    portal.dice._random.seed(7)
    codes = [f"{AGENCY}-busy-{number}" for number in range(6)]
    await post_events(gateway, [event for code in codes for event in events_for(code, [2, 4, 9])])
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), 24), timeout_s=90, what="every push despite -9")
    assert portal.stats.injected_errors > 0
    assert all(portal.statuses[code] == [1, 2, 4, 9] for code in codes)
    # A transition the portal does not allow (processed -> accepted) is a permanent refusal.
    await post_events(gateway, [DossierStatusChanged(status_change=StatusChange(
        dossier_code=codes[0], sequence=4, status=2, changed_at=RECEIVED)).model_dump(mode="json")])
    await wait_for(lambda: at_least(outcomes(gateway, "dead_lettered"), 1), what="the refused transition")
    assert portal.refusals[-1]["error_code"] == "-5"


async def test_reconcile_reports_and_repairs_drift(start_gateway: StartGateway, portal: NationalPortalSimulator,
                                                   portal_password: str, tmp_path) -> None:
    gateway = await start_portal_gateway(start_gateway, portal)
    codes = [f"{AGENCY}-drift-{number}" for number in range(5)]
    await post_events(gateway, [event for code in codes for event in events_for(code, [2, 4, 9, 10])])
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), 25), timeout_s=60, what="every push")
    async with httpx.AsyncClient(base_url=portal.url) as client:
        await client.put(f"/_sim/dossiers/{codes[1]}/status", json={"status": 9})
        await client.put(f"/_sim/dossiers/{codes[3]}/status", json={"status": 9})
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({
        "database": {"url": gateway.settings.database.url},
        "partners": {"national_portal": {"endpoint": portal.url, "credentials": {"password": "TEST_PORTAL_PASSWORD"},
                                         "options": {"agency_code": AGENCY}}}}))

    async def reconcile(*extra: str):
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "national-portal", "reconcile", "--config", str(config),
            "--since", "2026-01-01", *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    process = await reconcile()
    out, err = await process.communicate()
    assert process.returncode == 1, err.decode()
    report = out.decode()
    assert "2 of 5 dossier(s) differ" in report and codes[1] in report and codes[3] in report
    process = await reconcile("--repair")
    out, err = await process.communicate()
    assert process.returncode == 1, err.decode()  # drift found (and repaired)
    assert "steps pushed 2" in out.decode() and "progress chunks 1" in out.decode(), err.decode()[-3000:]
    assert portal.dossiers[codes[1]]["TrangThaiHoSo"] == "10"
    process = await reconcile()
    out, _ = await process.communicate()
    assert process.returncode == 0 and "no drift: 5 dossier(s) checked" in out.decode()


async def test_a_push_whose_answer_was_lost_is_confirmed_by_look_up(
        start_gateway: StartGateway, portal: NationalPortalSimulator, portal_password: str) -> None:
    """A worker died after the portal took the dossier: the next one looks it up instead of pushing
    again, notes it, and the dossier's steps follow."""
    gateway = await start_portal_gateway(start_gateway, portal)
    code = f"{AGENCY}-lost-answer"
    submitted, step = events_for(code, [2])
    mappings = PortalMappings.configured(gateway.context.partner("national_portal"))
    portal.dossiers[code] = mappings.dossier.map({"dossier": submitted["dossier"]})  # the portal has it
    portal.statuses[code] = [1]
    await PartnerCalls(gateway.database).mark("national_portal", f"{code}:submitted", "lost", CallState.STARTED)
    await post_events(gateway, [submitted, step])
    await wait_for(lambda: at_least(outcomes(gateway, "delivered"), 2), what="both events")
    assert portal.statuses[code] == [1, 2]
    assert portal.stats.keys_seen[f"{code}:dossier"] == 0  # never pushed again
    assert await outcomes(gateway, "dead_lettered") == 0
