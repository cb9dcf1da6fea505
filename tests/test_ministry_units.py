"""The ministry connector's parts: safe XML, fault classification, configuration errors, the
WSDL contract's XSD checks, WS-Security against the simulator, and `gateway soap check`."""

import asyncio
import json
import subprocess
import sys

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from zeep import exceptions as zeep_errors

from gateway.connectors.ministry.safe_xml import MalformedXml, UnsafeXml, parse
from gateway.connectors.ministry.service import MinistryService
from gateway.connectors.ministry.simulator import BILLION_LAUGHS, XXE, SoapMinistrySimulator
from gateway.connectors.ministry.wsdl import MessageInvalid, ServiceContract
from gateway.mappings.spec import load_spec
from gateway.reliability.errors import FailureKind, classify
from gateway.runtime.app import Plan
from gateway.runtime.config import DatabaseSettings, ErrorRules, InvalidSettings, PartnerSettings
from gateway.runtime.roles import select_roles
from gateway.store import Database, partner_dossiers

from .conftest import REPO, sample_dossier

CIVIL_WSDL = str(REPO / "contracts/wsdl/civil_status_birth/HoTichKhaiSinh.wsdl")


def example(name: str) -> dict:
    return yaml.safe_load((REPO / "deploy/ministries.yaml").read_text())["partners"][name]


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtds_and_entities_are_refused_before_parsing(payload: bytes) -> None:
    with pytest.raises(UnsafeXml, match="DTD or entities") as caught:
        parse(payload, what="callback")
    assert classify(caught.value) is FailureKind.PERMANENT


def test_broken_xml_is_a_transient_failure_and_good_xml_parses() -> None:
    with pytest.raises(MalformedXml, match="not well-formed") as caught:
        parse(b"<a><b></a>", what="answer")
    assert classify(caught.value) is FailureKind.TRANSIENT
    assert parse(b"<a><b>x</b></a>", what="answer").findtext("b") == "x"


def test_soap_faults_are_classified_by_code_or_message() -> None:
    rules = ErrorRules(transient_codes=["Server"], transient_messages=["thử lại"], permanent_codes=["Server.Auth"])
    assert classify(zeep_errors.Fault("busy", code="soap:Server"), rules) is FailureKind.TRANSIENT  # prefix ignored
    assert classify(zeep_errors.Fault("Vui lòng thử lại sau", code="soap:Client"), rules) is FailureKind.TRANSIENT
    assert classify(zeep_errors.Fault("bad data", code="soap:Client"), rules) is FailureKind.PERMANENT
    assert classify(zeep_errors.Fault("wrong password", code="Server.Auth"), rules) is FailureKind.PERMANENT
    assert classify(zeep_errors.Fault("busy", code="soap:Server")) is FailureKind.PERMANENT  # default: permanent


def test_the_xsd_names_what_a_request_breaks() -> None:
    contract = ServiceContract(CIVIL_WSDL)
    with pytest.raises(MessageInvalid) as caught:
        contract.check_request("TiepNhanHoSo", {
            "MaHoSo": "H1", "MaTTHC": "1.001193", "MaDonVi": "X", "NgayTiepNhan": "2026-11-20T08:00:00+07:00",
            "NguoiYeuCau": {"HoTen": "A"}, "KenhNop": "EMAIL"})
    assert any("MaHoSo" in problem and "minLength" in problem for problem in caught.value.problems)
    assert any("EMAIL" in problem for problem in caught.value.problems)


def _set(path: str, value):
    def change(partner: dict) -> None:
        *parents, last = path.split(".")
        node = partner
        for key in parents:
            node = node[key]
        node[last] = value
    return change


@pytest.mark.parametrize(("change", "expected"), [
    (_set("mapping", None), "partners.civil_status_birth.mapping must name the folder"),
    (_set("options.wsdl", "contracts/wsdl/none.wsdl"), "partners.civil_status_birth.options.wsdl: cannot"),
    (_set("options.operations.submit.name", "NopHoSo"), "has no operation NopHoSo"),
    (_set("options.procedures", []), "partners.civil_status_birth.options.procedures"),
    (_set("options.ws_security", {"username": "u"}), "credentials.password must name"),
], ids=["no-mapping", "no-wsdl", "unknown-operation", "no-procedures", "wsse-without-password"])
def test_configuration_mistakes_stop_start_up_with_the_setting_named(change, expected: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    partner = example("civil_status_birth")
    change(partner)
    with pytest.raises(InvalidSettings) as caught:
        MinistryService("civil_status_birth", PartnerSettings(**partner))
    assert expected in str(caught.value)


def test_a_broken_spec_is_named_with_file_and_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    specs = tmp_path / "specs"
    specs.mkdir()
    for path in (REPO / "tests/contracts/driving_licence/specs").rglob("*"):
        if path.is_file():
            target = specs / path.relative_to(REPO / "tests/contracts/driving_licence/specs")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    (specs / "status-report.mapping.yaml").write_text(
        (specs / "status-report.mapping.yaml").read_text().replace("note: reply.Remark", "remark: reply.Remark"))
    partner = yaml.safe_load((REPO / "tests/contracts/driving_licence/partner.yaml").read_text())["partners"]
    settings = partner["driving_licence"] | {"mapping": str(specs)}
    with pytest.raises(InvalidSettings, match=r"status-report.mapping.yaml:\d+: field remark: is not in the target"):
        MinistryService("driving_licence", PartnerSettings(**settings))


def test_a_nested_object_is_left_out_when_all_its_fields_are_empty() -> None:
    spec = load_spec(REPO / "gateway/mappings/specs/civil_status_birth/status-report.mapping.yaml")
    report = spec.map({"reply": {"KetQua": 0, "TrangThai": "DANG_XU_LY"}, "dossier_code": "X-1"})
    assert "result" not in report
    report = spec.map({"reply": {"KetQua": 0, "TrangThai": "DA_CO_KET_QUA", "KetQuaGiaiQuyet": {"SoGiayKhaiSinh": "9"}},
                       "dossier_code": "X-1"})
    assert report["result"] == {"number": "9"}


async def test_ws_security_is_sent_and_checked_by_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LLTP_WS_PASSWORD", "right-password-generated-here")
    partner = PartnerSettings(**example("criminal_record"))
    simulator = SoapMinistrySimulator("criminal_record", partner)
    await simulator.start()
    try:
        dossier = sample_dossier("000.00.21.H12-261123-WS01", procedure_code="2.000908")
        service = MinistryService("criminal_record", partner, calls=True)
        service.connect(simulator.url)
        _, reply = await service.submit(dossier)
        assert reply["accepted"] and reply["receipt_number"].startswith("CR-")
        monkeypatch.setenv("LLTP_WS_PASSWORD", "wrong")
        impostor = MinistryService("criminal_record", partner, calls=True)
        impostor.connect(simulator.url)
        with pytest.raises(zeep_errors.Fault, match="sai mật khẩu") as caught:
            await impostor.status(dossier.code, None)
        assert classify(caught.value, partner.errors) is FailureKind.PERMANENT
        assert simulator.rejected and "wrong password" in simulator.rejected[-1]
        async with httpx.AsyncClient(base_url=simulator.url) as client:
            unknown = await client.post("/_sim/script", json={"actions": ["explode"]})
            queued = await client.post("/_sim/script", json={"dossier_code": "X-1", "actions": ["refuse", "ok"]})
        assert unknown.status_code == 422 and "explode" in unknown.text
        assert queued.json() == {"queued": 2} and list(simulator.scripts.queues["X-1"]) == ["refuse", "ok"]
        # The simulator serves its WSDL and the XSD it imports, as a ministry's server would.
        served = await asyncio.to_thread(ServiceContract, f"{simulator.url}/?wsdl")  # loading blocks: not on the loop
        assert [operation.name for operation in served.operations()] == ["GuiHoSoLLTP", "TraCuuTienDo"]
    finally:
        await simulator.stop()


def _soap_check(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "soap", "check", *arguments], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_soap_check_lists_operations_and_validates_a_sample_offline(tmp_path) -> None:
    result = _soap_check("driving_licence", "--config", "tests/contracts/driving_licence/partner.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SubmitRenewal" in result.stdout and "GetRenewalStatus" in result.stdout
    assert "maps to a request the XSD accepts" in result.stdout
    assert '"status": 9' in result.stdout  # the simulator's sample answer read back through the reply spec

    too_long = sample_dossier("000.00.15.H12-261123-0001", procedure_code="1." + "9" * 60)
    sample = tmp_path / "dossier.json"
    sample.write_text(json.dumps(too_long.model_dump(mode="json")))
    result = _soap_check("driving_licence", "--config", "tests/contracts/driving_licence/partner.yaml",
                         "--sample", str(sample))
    assert result.returncode == 1
    assert "ProcedureCode" in result.stderr and "maximum length of '50'" in result.stderr

    result = _soap_check("--wsdl", CIVIL_WSDL)
    assert result.returncode == 0 and "TiepNhanHoSo" in result.stdout and "LayKetQua" in result.stdout
    result = _soap_check("land_registry", "--config", "tests/contracts/driving_licence/partner.yaml")
    assert result.returncode == 2 and "not a ministry service over SOAP" in result.stderr


def test_a_utf16_entity_bomb_is_refused_too() -> None:
    with pytest.raises(UnsafeXml):
        parse(b"\xff\xfe" + BILLION_LAUGHS.decode().encode("utf-16-le"), what="callback")


@pytest.mark.parametrize(("name", "expected"), [("land-registry", "lower-case letters"),
                                                ("national_portal", "built-in connector")])
def test_a_service_name_must_fit_topics_and_not_shadow_a_connector(name: str, expected: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(InvalidSettings, match=expected):
        MinistryService(name, PartnerSettings(**example("civil_status_birth")))


async def test_polling_rounds_share_out_and_walk_through_the_open_dossiers(database_settings: DatabaseSettings) -> None:
    database = Database(database_settings)
    await database.start()
    try:
        async with database.transaction() as session:
            for number, status in enumerate([1, 2, 4, 4, 9, 3]):
                await partner_dossiers.record_sent(session, "civil_status_birth", f"HS-{number}", status=status,
                                                   sequence=0)
        now = datetime.now(UTC)

        async def claim(at: datetime) -> list[str]:
            async with database.transaction() as session:
                rows = await partner_dossiers.claim_for_polling(session, "civil_status_birth", [3, 9], 2,
                                                                not_asked_since=at - timedelta(seconds=60), now=at)
                return sorted(row.dossier_code for row in rows)

        first, second = await asyncio.gather(claim(now), claim(now))  # two workers at once
        assert len(first) == len(second) == 2 and not set(first) & set(second)
        assert await claim(now) == []  # every open dossier was asked this minute; processed and refused never
        later = now + timedelta(minutes=2)
        assert len(await claim(later)) == 2 and len(await claim(later)) == 2 and await claim(later) == []
    finally:
        await database.close()


async def test_callbacks_without_a_token_stop_start_up(start_gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GPLX_CALLBACK_TOKEN", "")  # set but empty: nobody could call back safely
    partner = yaml.safe_load((REPO / "tests/contracts/driving_licence/partner.yaml").read_text())["partners"]
    with pytest.raises(InvalidSettings, match="callback token"):
        await start_gateway(Plan(roles=select_roles(["ministry"])), partners=partner)
