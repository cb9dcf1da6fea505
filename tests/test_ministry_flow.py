"""Ministry services over SOAP, end to end: the one-stop intake over real HTTP, the real embedded
broker, zeep against the SOAP simulators over real HTTP, the national portal simulator. Two
shipped example services (polled) and a third connected by configuration files only
(tests/contracts/driving_licence: WSDL, specs, partner.yaml; it calls the gateway back)."""

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml

from gateway.connectors.ministry.service import MinistryService
from gateway.connectors.ministry.simulator import BILLION_LAUGHS, XXE, SoapMinistrySimulator
from gateway.domain import DossierSubmitted, OneGateUpdate
from gateway.reliability.partner_calls import CallState, PartnerCalls
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.roles import select_roles
from gateway.topics import DEAD_LETTERS, DOSSIER_EVENTS, ONEGATE_UPDATES

from .conftest import REPO, StartGateway, read_topic, sample_dossier, topic_size, wait_for

SERVICES = {  # partner -> (procedure code, canonical statuses its simulator walks through)
    "civil_status_birth": ("1.001193", [2, 4, 9]),
    "criminal_record": ("2.000908", [2, 4, 9]),
    "driving_licence": ("1.002809", [2, 4, 9]),
}
FAST = {"retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 5,
                  "parked_attempts": 3, "parked_delay_s": 0.2, "parked_max_delay_s": 0.5},
        "breaker": {"failure_threshold": 50, "cool_down_s": 0.5}}


def ministry_partners(step_s: float = 1.5, poll_s: float = 0.25) -> dict:
    """The shipped example config plus the third service's file, as a province would write them."""
    partners = yaml.safe_load((REPO / "deploy/ministries.yaml").read_text())["partners"]
    partners |= yaml.safe_load((REPO / "tests/contracts/driving_licence/partner.yaml").read_text())["partners"]
    for partner in partners.values():
        partner["options"]["simulator"]["step_s"] = step_s
        partner["options"]["polling"]["interval_s"] = poll_s
        partner |= FAST
    return partners


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    generated = {"LLTP_WS_PASSWORD": secrets.token_urlsafe(12), "GPLX_CALLBACK_TOKEN": secrets.token_urlsafe(16)}
    for name, value in generated.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)  # the config's relative paths are the project's
    return generated


async def start_ministries(start_gateway: StartGateway, **partner_changes) -> Gateway:
    partners = ministry_partners(**partner_changes)
    return await start_gateway(Plan(roles=select_roles(["ledger", "national_portal", "ministry"])),
                               partners=partners, kafka={"consumers_per_subscription": 1})


def simulator(gateway: Gateway, name: str) -> SoapMinistrySimulator:
    return gateway.simulator_host.simulators[name]


async def submit(gateway: Gateway, service: str, number: int) -> str:
    procedure, _ = SERVICES[service]
    code = f"000.00.15.H12-261123-{service[:2].upper()}{number:03d}"
    dossier = sample_dossier(code, procedure_code=procedure)
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.post("/api/v1/dossiers/events", json=DossierSubmitted(dossier=dossier).model_dump(mode="json"))
    assert response.status_code == 202, response.text
    return code


async def updates_of(gateway: Gateway) -> list[OneGateUpdate]:
    size = await topic_size(gateway.running.kafka_bootstrap, ONEGATE_UPDATES.name)
    records = await read_topic(gateway.running.kafka_bootstrap, ONEGATE_UPDATES.name, size)
    unique = {dict(record.headers)["message_id"]: record for record in records}  # what the one-stop system keeps
    return [OneGateUpdate.model_validate_json(record.value) for record in unique.values()]


async def test_every_status_of_three_services_reaches_the_one_stop_system_and_the_portal(
        start_gateway: StartGateway, secrets_in_env) -> None:
    gateway = await start_ministries(start_gateway)
    codes = {service: [await submit(gateway, service, n) for n in range(2)] for service in SERVICES}
    portal = gateway.simulator_host.simulators["national_portal"]

    async def all_final() -> bool:
        return all(portal.statuses.get(code, [])[-1:] == [9] for service in codes for code in codes[service])

    await wait_for(all_final, timeout_s=40, what="every dossier processed at the portal")
    updates = await updates_of(gateway)
    for service, service_codes in codes.items():
        sim = simulator(gateway, service)
        for code in service_codes:
            # The portal took the dossier, then each of the ministry's statuses in order.
            assert portal.statuses[code] == [1, *SERVICES[service][1]], (service, code, portal.statuses[code])
            mine = [update for update in updates if update.dossier_code == code and update.source == service]
            assert [update.kind.value for update in mine][:1] == ["synced"], mine
            assert "receipt" in mine[0].message
            assert [int(update.status) for update in mine[1:]] == SERVICES[service][1], mine
            assert sim.dossiers[code].submissions == 1  # nothing submitted twice
        assert sim.stats.duplicates_seen == 0
        assert not sim.rejected, sim.rejected  # every request satisfied the XSD
    # The civil status service returns its birth certificate (LayKetQua) with the last status.
    last = [update for update in updates if update.dossier_code == codes["civil_status_birth"][0]
            and update.source == "civil_status_birth"][-1]
    assert last.kind.value == "result" and "Kết quả số KS-" in last.message
    # The callback service was never polled; the polled ones were.
    assert {operation for operation, _ in simulator(gateway, "driving_licence").received} == {"SubmitRenewal"}
    assert ("TraCuuTrangThai", codes["civil_status_birth"][0]) in simulator(gateway, "civil_status_birth").received
    # WS-Security: the criminal records centre only answers with the right UsernameToken.
    assert simulator(gateway, "criminal_record").service.options.ws_security.username == "hue-province"


async def test_faults_are_retried_refusals_reported_and_malicious_answers_rejected(
        start_gateway: StartGateway, secrets_in_env) -> None:
    gateway = await start_ministries(start_gateway, step_s=30)
    sim = simulator(gateway, "civil_status_birth")
    scripts = {
        0: ["transient_fault", "ok"],
        1: ["malformed", "http_500", "ok"],
        2: ["permanent_fault"],
        3: ["refuse"],
        4: ["xxe"],
        5: ["billion_laughs"],
    }
    codes = {}
    for number, actions in scripts.items():
        code = f"000.00.15.H12-261123-CI{number:03d}"
        sim.scripts.queues[code].extend(actions)
        codes[number] = await submit(gateway, "civil_status_birth", number)
        assert codes[number] == code

    async def settled() -> bool:
        told = {(update.dossier_code, update.kind.value) for update in await updates_of(gateway)
                if update.source == "civil_status_birth"}
        return all((codes[n], "synced") in told for n in (0, 1)) and all((codes[n], "refused") in told
                                                                        for n in (2, 3, 4, 5))

    await wait_for(settled, timeout_s=30, what="every scripted dossier settled")
    updates = {update.dossier_code: update for update in await updates_of(gateway)
               if update.source == "civil_status_birth"}
    assert "Dữ liệu hồ sơ không hợp lệ" in updates[codes[2]].message  # the ministry's own reason
    assert "không thuộc thẩm quyền" in updates[codes[3]].message
    assert "DTD or entities" in updates[codes[4]].message and "DTD or entities" in updates[codes[5]].message
    # Transient faults were retried until taken, once each; refused ones never reached the store.
    assert sim.dossiers[codes[0]].submissions == 1 and sim.dossiers[codes[1]].submissions == 1
    assert sim.received.count(("TiepNhanHoSo", codes[1])) == 3  # malformed, HTTP 500, taken
    assert set(sim.dossiers) == {codes[0], codes[1]}
    dead = await read_topic(gateway.running.kafka_bootstrap, DEAD_LETTERS.name, 4)
    assert sorted(record.key.decode() for record in dead) == sorted(codes[n] for n in (2, 3, 4, 5))
    async def both_counted() -> bool:  # the simulator has a submission before the gateway counts it delivered
        return (await gateway.counters.read())["civil_status_birth"]["delivered"] >= 2

    await wait_for(both_counted, what="both deliveries counted")
    flows = (await gateway.counters.read())["civil_status_birth"]
    assert flows["retried"] >= 1 and flows["dead_lettered"] == 4 and flows["delivered"] == 2


async def test_callbacks_are_authenticated_checked_and_taken_once(start_gateway: StartGateway,
                                                                   secrets_in_env) -> None:
    gateway = await start_ministries(start_gateway, step_s=3600)  # the simulator stays at its first status
    sim = simulator(gateway, "driving_licence")
    code = await submit(gateway, "driving_licence", 7)
    await wait_for(lambda: _has(sim, code), what="the dossier at the ministry")
    await wait_for(lambda: _called_back(sim, code), what="the first callback")
    url = f"{gateway.running.http_url}/api/v1/ministries/driving_licence/callback"
    token = secrets_in_env["GPLX_CALLBACK_TOKEN"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()  # after the simulator's own first callback
    good = sim.service.contract.response_envelope("GetRenewalStatus", {
        "ApplicationNo": code, "State": "PRINTING", "UpdatedAt": later, "Remark": "in print"})
    events_before = await topic_size(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name)
    async with httpx.AsyncClient() as client:
        async def post(body: bytes, bearer: str | None = token, name: str = "driving_licence") -> httpx.Response:
            headers = {"content-type": "text/xml"} | ({"authorization": f"Bearer {bearer}"} if bearer else {})
            return await client.post(url.replace("driving_licence", name), content=body, headers=headers)

        refused = {
            "no token": await post(good, bearer=None),
            "wrong token": await post(good, bearer="not-the-token"),
            "unknown service": await post(good, name="land_registry"),
            "xxe": await post(XXE),
            "billion laughs": await post(BILLION_LAUGHS),
            "not xml": await post(b"{\"State\": \"READY\"}"),
            "breaks the XSD": await post(good.replace(b"PRINTING", b"FLYING")),
            "unknown dossier": await post(good.replace(code.encode(), b"000.00.15.H12-261123-NOPE")),
        }
        assert {what: response.status_code for what, response in refused.items()} == {
            "no token": 401, "wrong token": 401, "unknown service": 404, "xxe": 400, "billion laughs": 400,
            "not xml": 400, "breaks the XSD": 400, "unknown dossier": 503}  # perhaps not noted yet: send again
        for what, response in refused.items():
            assert b"<faultstring>" in response.content, what
        assert b"DTD" in refused["xxe"].content and b"FLYING" in refused["breaks the XSD"].content
        assert await topic_size(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name) == events_before  # nothing published
        first, again = await post(good), await post(good)
        older = await post(good.replace(later.encode(), b"2026-01-01T00:00:00+07:00").replace(b"PRINTING", b"READY"))
        # Two different reports at the same moment (a poll and a callback, two workers): both are
        # taken, one after the other, each with its own number.
        latest = (datetime.now(UTC) + timedelta(minutes=2)).isoformat().encode()
        ready, rejected = await asyncio.gather(
            post(good.replace(later.encode(), latest).replace(b"PRINTING", b"READY")),
            post(good.replace(later.encode(), latest).replace(b"PRINTING", b"REJECTED")))
    assert (first.status_code, again.status_code, older.status_code) == (200, 200, 200)
    assert b"published" in first.content and b"duplicate" in again.content and b"stale" in older.content
    assert b"published" in ready.content and b"published" in rejected.content
    assert await topic_size(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name) == events_before + 3
    events = await read_topic(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name, events_before + 3)
    reported = [json.loads(record.value)["status_change"] for record in events
                if record.key.decode() == code and b"reported_by" in record.value
                and json.loads(record.value)["status_change"]["sequence"] > 1]
    assert sorted(change["sequence"] for change in reported) == [2, 3, 4]
    portal = gateway.simulator_host.simulators["national_portal"]
    # The portal takes the first callback's status; of READY and REJECTED it refuses whichever comes
    # second (9 -> 3 and 3 -> 9 are not allowed there), as the real portal does.
    await wait_for(lambda: _portal_has(portal, code, [1, 2, 4]), what="the callback's status at the portal")


async def _has(sim: SoapMinistrySimulator, code: str) -> bool:
    return code in sim.dossiers


async def _called_back(sim: SoapMinistrySimulator, code: str) -> bool:
    return sim.dossiers[code].called_back >= 0


async def _portal_has(portal, code: str, prefix: list[int]) -> bool:
    return portal.statuses.get(code, [])[:len(prefix)] == prefix


def test_the_third_service_is_only_configuration() -> None:
    folder = REPO / "tests/contracts/driving_licence"
    assert not list(folder.rglob("*.py")), "the third service must need no Python"
    assert {path.suffix for path in folder.rglob("*") if path.is_file()} <= {".wsdl", ".yaml", ".csv"}



async def test_a_submission_whose_answer_was_lost_is_not_sent_again(start_gateway: StartGateway,
                                                                    secrets_in_env) -> None:
    """The worker died after the ministry took the dossier and before the gateway noted it: the
    redelivered event finds the call 'started', asks the ministry (status), and does not submit again."""
    gateway = await start_ministries(start_gateway, step_s=3600)
    sim = simulator(gateway, "civil_status_birth")
    code = "000.00.15.H12-261123-CI900"
    dossier = sample_dossier(code, procedure_code=SERVICES["civil_status_birth"][0])
    taken = MinistryService("civil_status_birth", gateway.context.partner("civil_status_birth"), calls=True)
    taken.connect(sim.url)
    await taken.submit(dossier)  # what the dead worker managed to do
    await PartnerCalls(gateway.database).mark("civil_status_birth", f"{code}:submitted", "lost", CallState.STARTED)
    await submit(gateway, "civil_status_birth", 900)

    async def told() -> bool:
        return any(update.dossier_code == code and update.source == "civil_status_birth" and update.kind.value == "synced"
                   for update in await updates_of(gateway))

    await wait_for(told, what="the look-up's outcome")
    assert sim.dossiers[code].submissions == 1 and sim.stats.duplicates_seen == 0
    assert sim.received.count(("TiepNhanHoSo", code)) == 1 and ("TraCuuTrangThai", code) in sim.received
    update = [u for u in await updates_of(gateway) if u.dossier_code == code and u.source == "civil_status_birth"][0]
    assert "confirmed by look-up" in update.message


async def test_a_callback_of_a_processed_dossier_brings_its_result(start_gateway: StartGateway,
                                                                   secrets_in_env) -> None:
    partners = ministry_partners(step_s=1.0)
    civil = partners["civil_status_birth"]
    civil["credentials"] = {"callback_token": "GPLX_CALLBACK_TOKEN"}
    civil["options"] |= {"polling": {"enabled": False}, "callback": {"enabled": True}}
    civil["options"]["simulator"]["callback"] = True
    gateway = await start_gateway(Plan(roles=select_roles(["ledger", "national_portal", "ministry"])),
                                  partners={"civil_status_birth": civil}, kafka={"consumers_per_subscription": 1})
    code = await submit(gateway, "civil_status_birth", 950)

    async def result_told() -> bool:
        return any(update.dossier_code == code and update.kind.value == "result" for update in await updates_of(gateway))

    await wait_for(result_told, timeout_s=30, what="the result, fetched after the callback")
    sim = simulator(gateway, "civil_status_birth")
    assert ("LayKetQua", code) in sim.received and ("TraCuuTrangThai", code) not in sim.received  # never polled
