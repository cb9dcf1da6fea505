"""Fee payments end to end: fee assessments through the one-stop intake over real HTTP, the real
embedded broker, the three shipped providers (deploy/payments.yaml) played by their simulators
over real HTTP, signed confirmations posted back to the gateway with delays, duplicates,
out-of-order notices, bad signatures and lost confirmations."""

import asyncio
import csv
import io
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
from sqlalchemy import select

from gateway.webhooks import signing
from gateway.connectors.payment.simulator import PaymentControls, PaymentProviderSimulator
from gateway.domain import PaymentEvent
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.config import DatabaseSettings
from gateway.runtime.roles import select_roles
from gateway.store.tables import MessageLogRecord
from gateway.topics import PAYMENTS

from .conftest import REPO, StartGateway, read_topic, topic_size, wait_for

PROVIDERS = ("payment_dvcqg", "payment_bank", "payment_post_office")
FAST = {"retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 5,
                  "parked_attempts": 3, "parked_delay_s": 0.2, "parked_max_delay_s": 0.5}}


@pytest.fixture
def payment_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    generated = {f"{name.upper()}_SECRET": secrets.token_hex(32) for name in PROVIDERS}
    for name, value in generated.items():
        monkeypatch.setenv(name, value)
    return generated


def payment_partners() -> dict:
    partners = yaml.safe_load((REPO / "deploy/payments.yaml").read_text())["partners"]
    for partner in partners.values():
        partner |= FAST
        partner["options"]["reconcile"] = {"enabled": False}  # rounds are asked for in the tests
    return partners


async def start_payments(start_gateway: StartGateway, database: DatabaseSettings | None = None) -> Gateway:
    settings = {"partners": payment_partners(), "kafka": {"consumers_per_subscription": 1}}
    if database is not None:
        settings["database"] = database.model_dump()
    return await start_gateway(Plan(roles=select_roles(["payments"])), **settings)


def simulator(gateway: Gateway, name: str) -> PaymentProviderSimulator:
    return gateway.simulator_host.simulators[name]


def assessment(code: str, sequence: int, provider: str | None, amounts=(50_000, 20_000)) -> dict:
    fees = [{"code": f"LP{index}", "name": f"Lệ phí {index}", "amount_vnd": amount, "kind": "charge" if index else "fee"}
            for index, amount in enumerate(amounts)]
    return {"kind": "status_changed", "status_change": {
        "dossier_code": code, "sequence": sequence, "status": 6, "changed_at": datetime.now(UTC).isoformat(),
        "fee_assessment": {"provider": provider, "fees": fees, "payer_name": "Nguyễn Văn An",
                           "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
                           "agency_code": "000.00.15.H12"}}}


async def post_events(gateway: Gateway, events: list[dict]) -> None:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        for event in events:
            response = await client.post("/api/v1/dossiers/events", json=event)
            assert response.status_code == 202, response.text


async def payments(gateway: Gateway, **params) -> list[dict]:
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.get("/api/v1/payments", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def payment_events(gateway: Gateway) -> list[PaymentEvent]:
    """Every record on onegate.payments, duplicates included (nothing deduplicated here)."""
    bootstrap = gateway.running.kafka_bootstrap
    records = await read_topic(bootstrap, PAYMENTS.name, await topic_size(bootstrap, PAYMENTS.name))
    return [PaymentEvent.model_validate_json(record.value) for record in records]


async def open_payments_for(gateway: Gateway, dossiers: int) -> list[dict]:
    async def all_open() -> bool:
        return len([p for p in await payments(gateway) if p["state"] == "open"]) == dossiers

    await wait_for(all_open, timeout_s=30, what=f"{dossiers} open payments")
    return await payments(gateway)


async def test_fees_paid_at_every_provider_reach_the_one_stop_system_exactly_once(
        start_gateway: StartGateway, payment_secrets, database_settings: DatabaseSettings) -> None:
    gateway = await start_payments(start_gateway, database_settings)
    for seed, name in enumerate(PROVIDERS):
        simulator(gateway, name).set_controls(PaymentControls(
            confirm_delay_s=0.05, confirm_jitter_s=0.4, duplicate_rate=0.5, reorder_rate=0.5,
            bad_signature_rate=0.2, lost_rate=0.1, seed=seed))
    per_provider = 12
    events, chosen = [], {}
    for index in range(per_provider * len(PROVIDERS)):
        provider = PROVIDERS[index % len(PROVIDERS)]
        code = f"000.00.15.H12-261123-P{index:03d}"
        # Some name no provider: the default one (the national portal's platform) takes them.
        named = None if provider == "payment_dvcqg" and index % 2 else provider
        events.append(assessment(code, 3, named, amounts=(50_000 + index * 1000, 20_000)))
        chosen[code] = provider
    await post_events(gateway, events + events[:5])  # the one-stop system sends some twice
    created = await open_payments_for(gateway, len(events))
    assert {p["dossier_code"]: p["provider"] for p in created} == chosen
    assert all(p["pay_url"] if p["provider"] != "payment_post_office" else p["pay_code"] for p in created)

    # The applicants pay: some on the payment page or at the counter (HTML forms), the rest at once.
    async with httpx.AsyncClient() as client:
        for number, payment in enumerate(created):
            sim = simulator(gateway, payment["provider"])
            if number % 4 == 0 and payment["pay_url"]:
                page = await client.get(payment["pay_url"])
                assert page.status_code == 200 and str(payment["amount"]) in page.text.replace(".", "")
                assert (await client.post(payment["pay_url"])).status_code == 200
            elif number % 4 == 0:
                response = await client.post(f"{sim.url}/counter", data={"code": payment["pay_code"]})
                assert response.status_code == 200, response.text
            else:
                sim.pay(payment["reference"])
    for name in PROVIDERS:
        await simulator(gateway, name).settled()

    # Lost confirmations are found by the status query; receipts are fetched.
    async def all_settled() -> bool:
        async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
            for name in PROVIDERS:
                response = await client.post(f"/api/v1/payments/{name}/queries", params={"min_age_s": 0})
                assert response.status_code == 200, response.text
        rows = await payments(gateway)
        return all(row["state"] == "paid" and (row["receipt_number"] or row["provider"] == "payment_post_office")
                   for row in rows)

    await wait_for(all_settled, timeout_s=30, what="every payment paid, with its receipt")

    events_seen = await payment_events(gateway)
    kinds = Counter((event.reference, event.kind.value) for event in events_seen)
    references = {row["reference"]: row for row in await payments(gateway)}
    for reference, row in references.items():
        assert kinds[(reference, "requested")] == 1, reference
        assert kinds[(reference, "paid")] == 1, f"{reference} paid {kinds[(reference, 'paid')]} times"
        assert kinds[(reference, "receipt")] == (0 if row["provider"] == "payment_post_office" else 1), reference
    paid = [event for event in events_seen if event.kind.value == "paid"]
    assert all(event.amount_vnd == references[event.reference]["amount"] and event.transaction_id for event in paid)

    # What the providers saw: every good confirmation answered success, every broken one refused.
    sims = [simulator(gateway, name) for name in PROVIDERS]
    posted = Counter(kind for sim in sims for payment in sim.payments.values() for kind in payment.posts)
    assert posted["duplicate"] and posted["stale"] and posted["bad_signature"], posted  # the faults did happen
    statuses = Counter(answer["status_code"] for sim in sims for payment in sim.payments.values()
                       for answer in payment.answers)
    assert statuses[401] == posted["bad_signature"] and set(statuses) == {200, 401}, statuses
    assert not [problem for sim in sims for payment in sim.payments.values() for problem in payment.answer_problems]


async def test_bad_confirmations_are_refused_with_the_documented_answer_and_publish_nothing(
        start_gateway: StartGateway, payment_secrets, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = await start_payments(start_gateway)
    bank, portal = simulator(gateway, "payment_bank"), simulator(gateway, "payment_dvcqg")
    for sim in (bank, portal):
        sim.set_controls(PaymentControls(lost_rate=1.0))  # the test posts the confirmations itself
    await post_events(gateway, [assessment("H12-SEC-BANK", 3, "payment_bank"),
                                assessment("H12-SEC-DVC", 3, "payment_dvcqg")])
    created = {row["provider"]: row for row in await open_payments_for(gateway, 2)}
    bank_ref, portal_ref = created["payment_bank"]["reference"], created["payment_dvcqg"]["reference"]
    bank.pay(bank_ref)
    url = f"{gateway.running.http_url}/api/v1/payments"
    secret = payment_secrets["PAYMENT_BANK_SECRET"]

    def bank_body(reference: str = bank_ref, amount: int = 70_000, **extra) -> bytes:
        return json.dumps({"event": "payment.succeeded", "orderRef": reference, "status": "SUCCESS",
                           "amount": amount, "currency": "VND", "transactionId": "FT-TEST-1",
                           "paidAt": "2026-11-23T10:00:00+07:00", **extra}).encode()

    def signed(raw: bytes, timestamp: int | None = None, signature: str | None = None) -> dict:
        stamp = str(timestamp or int(time.time()))
        return {"X-Timestamp": stamp, "X-Signature": signature or signing.hmac_signature(secret, stamp, raw),
                "content-type": "application/json"}

    compared = []
    real_compare = signing.hmac.compare_digest
    monkeypatch.setattr(signing.hmac, "compare_digest",
                        lambda a, b: compared.append((a, b)) or real_compare(a, b))
    before = await topic_size(gateway.running.kafka_bootstrap, PAYMENTS.name)
    async with httpx.AsyncClient() as client:
        async def post(name: str, raw: bytes, headers: dict) -> httpx.Response:
            return await client.post(f"{url}/{name}/confirmations", content=raw, headers=headers)

        good = bank_body()
        good_headers = signed(good)
        wrong = signing.hmac_signature(secret, good_headers["X-Timestamp"], good)
        wrong = wrong[:-1] + ("0" if wrong[-1] != "0" else "1")  # right but for the last character
        refusals = {
            "bad signature": (await post("payment_bank", good, good_headers | {"X-Signature": wrong}), 401, "02"),
            "altered amount": (await post("payment_bank", bank_body(amount=1_000), good_headers), 401, "02"),
            "stale timestamp": (await post("payment_bank", good, signed(good, int(time.time()) - 3600)), 401, "05"),
            "oversized body": (await post("payment_bank", b"{" + b" " * 70_000 + b"}", signed(b"{}")), 413, "07"),
            "unknown reference": (await post("payment_bank", bank_body("GW0000000000UNKNOWN"),
                                             signed(bank_body("GW0000000000UNKNOWN"))), 404, "03"),
            "malformed": (await post("payment_bank", b"not json", signed(b"not json")), 400, "01"),
            "no reference": (await post("payment_bank", b'{"status": "SUCCESS"}',
                                        signed(b'{"status": "SUCCESS"}')), 400, "01"),
            "a timestamp that is no number": (await post("payment_bank", good, good_headers | {
                "X-Timestamp": "\u00e9".encode()}), 401, "02"),
        }
        for what, (response, status, code) in refusals.items():
            assert (response.status_code, response.json()["code"]) == (status, code), f"{what}: {response.text}"
        # The bad signature was compared whole, in constant time, against the expected one.
        assert (wrong.encode(), signing.hmac_signature(secret, good_headers["X-Timestamp"], good).encode()) in compared
        assert await topic_size(gateway.running.kafka_bootstrap, PAYMENTS.name) == before  # nothing published

        accepted = await post("payment_bank", good, good_headers)
        assert (accepted.status_code, accepted.json()["code"]) == (200, "00")
        answer_stamp = accepted.headers["X-Timestamp"]  # the answer is signed too
        assert accepted.headers["X-Signature"] == signing.hmac_signature(secret, answer_stamp, accepted.content)
        replayed = await post("payment_bank", good, good_headers)
        assert (replayed.status_code, replayed.json()["code"]) == (409, "06")
        resent = bank_body()  # the provider sends the same confirmation again later, freshly signed
        duplicate = await post("payment_bank", resent, signed(resent, int(time.time()) + 1))
        assert (duplicate.status_code, duplicate.json()["code"]) == (200, "00")
        await wait_for(lambda: _receipt_recorded(gateway, bank_ref), what="the bank receipt")
        assert Counter(event.kind.value for event in await payment_events(gateway) if event.reference == bank_ref) \
            == {"requested": 1, "paid": 1, "receipt": 1}

        # The national portal's platform: MaXacThuc in the body, answered with its own MaLoi.
        portal.pay(portal_ref)
        paid = portal.payments[portal_ref]
        confirmation = {"LoaiBanTin": "PAYMENT_RESULT", "MaLoi": "00", "MaDoiTac": portal.partner_code,
                        "MaThamChieu": portal_ref, "SoTien": paid.amount + 5000, "MaTienTe": "VND",
                        "MaGiaoDich": "DVC-TX-1", "MaNganHang": "", "ThoiGianGD": "20261123100000",
                        "ThongTinGiaoDich": "test"}
        fields = payment_partners()["payment_dvcqg"]["options"]["signature"]["fields"]["confirmation"]
        portal_secret = payment_secrets["PAYMENT_DVCQG_SECRET"]
        nested = await post("payment_dvcqg", b"[" * 30_000, {"content-type": "application/json"})
        assert (nested.status_code, nested.json()["MaLoi"]) == (400, "01")
        failed = confirmation | {"MaLoi": "04", "SoTien": 1}  # a failed notice for another amount
        failed["MaXacThuc"] = signing.checksum(failed, fields, portal_secret)
        response = await post("payment_dvcqg", json.dumps(failed).encode(), {"content-type": "application/json"})
        assert (response.status_code, response.json()["MaLoi"]) == (422, "04")  # raised, the payment stays open
        tampered = confirmation | {"MaXacThuc": signing.checksum(confirmation, fields, "not-the-secret")}
        response = await post("payment_dvcqg", json.dumps(tampered).encode(), {"content-type": "application/json"})
        assert (response.status_code, response.json()["MaLoi"]) == (401, "02")
        mismatch = confirmation | {"MaXacThuc": signing.checksum(confirmation, fields, portal_secret)}
        response = await post("payment_dvcqg", json.dumps(mismatch).encode(), {"content-type": "application/json"})
        assert (response.status_code, response.json()["MaLoi"]) == (422, "04")
        answer = response.json()  # the answer carries its own checksum
        assert answer["MaXacThuc"] == signing.checksum(answer, ["MaLoi", "MaDoiTac", "ThoiGianGD"], portal_secret)

    # The mismatch is recorded and raised to operators, never taken as paid; nothing was published.
    assert [event.kind.value for event in await payment_events(gateway) if event.reference == portal_ref] \
        == ["requested"]
    raised = await payments(gateway, state="mismatch")
    assert [row["reference"] for row in raised] == [portal_ref]
    assert "paid 75000 VND for a request of 70000 VND" in raised[0]["detail"]  # the failed notice moved nothing
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        flows = (await client.get("/api/v1/flows")).json()
    assert flows["payments.payment_bank"]["bad_signature"] == 3 and flows["payments.payment_bank"]["replayed"] == 1
    assert flows["payments.payment_dvcqg"]["raised_to_operators"] == 2
    async with gateway.database.transaction() as session:
        logged = Counter(row.outcome.split(":")[0] for row in (await session.execute(
            select(MessageLogRecord).where(MessageLogRecord.channel == "webhook"))).scalars())
    assert logged["bad_signature"] == 4 and logged["stale"] == 1 and logged["too_large"] == 1, logged
    assert logged["unknown_reference"] == 1 and logged["malformed"] == 3 and logged["amount_mismatch"] == 2, logged


async def test_statements_with_planted_discrepancies_are_reconciled_into_the_right_buckets(
        start_gateway: StartGateway, payment_secrets, tmp_path) -> None:
    gateway = await start_payments(start_gateway)
    bank, post_office = simulator(gateway, "payment_bank"), simulator(gateway, "payment_post_office")
    events = [assessment(f"H12-REC-{index}", 3, "payment_bank", amounts=(10_000 * (index + 1),)) for index in range(5)]
    events.append(assessment("H12-REC-PO", 3, "payment_post_office"))
    await post_events(gateway, events)
    created = {row["dossier_code"]: row for row in await open_payments_for(gateway, len(events))}
    refs = {code: row["reference"] for code, row in created.items()}
    for code in ("H12-REC-0", "H12-REC-1", "H12-REC-2", "H12-REC-3"):
        bank.pay(refs[code])
    post_office.pay(refs["H12-REC-PO"])
    await bank.settled()
    await post_office.settled()
    await wait_for(lambda: _paid_count(gateway, 5), what="five paid payments")
    today = datetime.now(UTC).astimezone(signing_zone()).date().isoformat()
    async with httpx.AsyncClient() as client:
        statement = (await client.get(f"{bank.url}/statements/{today}.csv")).text
        counter_statement = (await client.get(f"{post_office.url}/doi-soat/{today}.csv")).text
    rows = list(csv.DictReader(io.StringIO(statement)))
    assert len(rows) == 4
    planted = []
    for row in rows:
        if row["order_ref"] == refs["H12-REC-1"]:
            continue  # the bank's statement lacks a payment the gateway recorded: missing_theirs
        if row["order_ref"] == refs["H12-REC-2"]:
            row["amount"] = str(int(row["amount"]) - 1000)  # amount_mismatch
        planted.append(row)
    planted.append({"transaction_id": "FT-UNKNOWN", "order_ref": "GW00000000000UNKNOWN", "amount": "5000",
                    "currency": "VND", "paid_at": rows[0]["paid_at"]})  # missing_ours: unknown reference
    planted.append({"transaction_id": "FT-OPEN", "order_ref": refs["H12-REC-4"], "amount": "50000",
                    "currency": "VND", "paid_at": rows[0]["paid_at"]})  # missing_ours: no confirmation reached us
    twice = next(row for row in rows if row["order_ref"] == refs["H12-REC-0"])
    planted.append(twice | {"transaction_id": "FT-SECOND"})  # missing_ours: the citizen was charged twice
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(planted)
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.post("/api/v1/payments/payment_bank/reconciliations", content=out.getvalue())
        assert response.status_code == 200, response.text
        report = response.json()
        unreadable = await client.post("/api/v1/payments/payment_bank/reconciliations",
                                       content="transaction_id,order_ref,amount,currency,paid_at\n"
                                               "T1,R1,abc,VND,2026-11-23T10:00:00+07:00\n")
        counter = await client.post("/api/v1/payments/payment_post_office/reconciliations", content=counter_statement)
    buckets = sorted((row["reference"], row["bucket"], row["transaction_id"]) for row in report["rows"])
    assert [(reference, bucket) for reference, bucket, _ in buckets] == sorted([
        (refs["H12-REC-0"], "matched"), (refs["H12-REC-0"], "missing_ours"), (refs["H12-REC-3"], "matched"),
        (refs["H12-REC-1"], "missing_theirs"), (refs["H12-REC-2"], "amount_mismatch"),
        ("GW00000000000UNKNOWN", "missing_ours"), (refs["H12-REC-4"], "missing_ours")])
    assert (refs["H12-REC-0"], "missing_ours", "FT-SECOND") in buckets
    assert report["counts"] == {"matched": 2, "missing_ours": 3, "missing_theirs": 1, "amount_mismatch": 1}
    assert unreadable.status_code == 422 and "line 2" in unreadable.text and "abc" in unreadable.text
    assert counter.json()["counts"] == {"matched": 1, "missing_ours": 0, "missing_theirs": 0, "amount_mismatch": 0}

    # The command prints the report, writes it as CSV and exits 1 when anything differs.
    statement_file, report_file = tmp_path / "statement.csv", tmp_path / "report.csv"
    statement_file.write_text(out.getvalue(), encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"partners": payment_partners(),
                                      "database": {"url": gateway.settings.database.url}}))
    command = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "gateway", "payments", "reconcile", "--provider", "payment_bank",
        "--statement", str(statement_file), "--output", str(report_file), "--config", str(config)],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert command.returncode == 1, command.stderr
    assert "missing_theirs 1" in command.stdout and "amount_mismatch 1" in command.stdout
    written = list(csv.DictReader(report_file.open(encoding="utf-8")))
    assert Counter(row["bucket"] for row in written) == Counter(report["counts"]) - Counter()


async def _receipt_recorded(gateway: Gateway, reference: str) -> bool:
    return bool([row for row in await payments(gateway) if row["reference"] == reference][0]["receipt_number"])


async def _paid_count(gateway: Gateway, expected: int) -> bool:
    return len(await payments(gateway, state="paid")) == expected


def signing_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Ho_Chi_Minh")


async def test_a_refused_payment_request_tells_the_one_stop_system_why(
        start_gateway: StartGateway, payment_secrets) -> None:
    gateway = await start_payments(start_gateway)
    portal = simulator(gateway, "payment_dvcqg")
    known_code, portal.partner_code = portal.partner_code, "000.00.00.H99"  # the platform knows another code
    await post_events(gateway, [assessment("H12-REFUSED-1", 3, None),  # the default provider
                                assessment("H12-REFUSED-2", 3, "payment_nowhere")])  # not configured

    async def told(dossier: str, kinds: list[str]) -> bool:
        return [event.kind.value for event in await payment_events(gateway) if event.dossier_code == dossier] == kinds

    await wait_for(lambda: told("H12-REFUSED-1", ["refused"]), what="the refused payment")
    await wait_for(lambda: told("H12-REFUSED-2", ["refused"]), what="the refusal of an unknown provider")
    messages = {event.dossier_code: event.message for event in await payment_events(gateway)}
    assert "payment_dvcqg refused the payment" in messages["H12-REFUSED-1"], messages
    assert "no payment provider 'payment_nowhere'" in messages["H12-REFUSED-2"], messages
    assert [row["state"] for row in await payments(gateway)] == ["refused"]  # the unknown one was never recorded
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        letters = (await client.get("/api/v1/dead-letters", params={"connector": "payment_dvcqg"})).json()
        assert sorted(letter["dossier_code"] for letter in letters) == ["H12-REFUSED-1", "H12-REFUSED-2"]
        # The operator fixes the cause and replays the dead letter: the payment is created after all.
        portal.partner_code = known_code
        first = next(letter["id"] for letter in letters if letter["dossier_code"] == "H12-REFUSED-1")
        replay = await client.post("/api/v1/dead-letters/replay", json={"ids": [first], "reason": "test: the partner is back"})
        assert replay.status_code == 200, replay.text
    await wait_for(lambda: told("H12-REFUSED-1", ["refused", "requested"]), what="the payment created on replay")
    assert [row["state"] for row in await payments(gateway)] == ["open"]


async def test_a_confirmation_that_cannot_be_recorded_is_answered_503_and_taken_when_sent_again(
        start_gateway: StartGateway, payment_secrets, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = await start_payments(start_gateway)
    bank = simulator(gateway, "payment_bank")
    bank.set_controls(PaymentControls(lost_rate=1.0))
    await post_events(gateway, [assessment("H12-DOWN-1", 3, "payment_bank")])
    reference = (await open_payments_for(gateway, 1))[0]["reference"]
    bank.pay(reference)
    secret = payment_secrets["PAYMENT_BANK_SECRET"]
    body = json.dumps({"event": "payment.succeeded", "orderRef": reference, "status": "SUCCESS", "amount": 70_000,
                       "currency": "VND", "transactionId": "FT-DOWN-1"}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": signing.hmac_signature(secret, stamp, body)}
    intake = gateway_intake(gateway)

    async def kafka_down(event):
        raise ConnectionError("Kafka is not answering")

    url = f"{gateway.running.http_url}/api/v1/payments/payment_bank/confirmations"
    async with httpx.AsyncClient() as client:
        with monkeypatch.context() as patch:
            patch.setattr(intake.ledger.events, "publish", kafka_down)
            down = await client.post(url, content=body, headers=headers)
        assert (down.status_code, down.json()["code"]) == (503, "99")
        assert [row["state"] for row in await payments(gateway)] == ["open"]  # nothing recorded
        again = await client.post(url, content=body, headers=headers)  # the same bytes: not a replay
    assert (again.status_code, again.json()["code"]) == (200, "00")
    assert [event.kind.value for event in await payment_events(gateway)].count("paid") == 1


def gateway_intake(gateway: Gateway):
    """The confirmation intake the running gateway serves (to break its Kafka on purpose)."""
    return gateway.http_app.state.payment_intake


async def test_a_lost_confirmation_is_found_by_the_status_query_behind_many_paid_payments(
        start_gateway: StartGateway, payment_secrets) -> None:
    partners = payment_partners()
    partners["payment_post_office"]["options"]["reconcile"] = {"enabled": False, "batch": 1}
    gateway = await start_gateway(Plan(roles=select_roles(["payments"])), partners=partners,
                                  kafka={"consumers_per_subscription": 1})
    post_office = simulator(gateway, "payment_post_office")
    await post_events(gateway, [assessment(f"H12-LOST-{index}", 3, "payment_post_office") for index in range(3)])
    created = {row["dossier_code"]: row["reference"] for row in await open_payments_for(gateway, 3)}
    post_office.pay(created["H12-LOST-0"])
    post_office.pay(created["H12-LOST-1"])
    await post_office.settled()
    post_office.set_controls(PaymentControls(lost_rate=1.0))
    post_office.pay(created["H12-LOST-2"])  # its confirmation never comes
    await wait_for(lambda: _paid_count(gateway, 2), what="two confirmed payments")
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.post("/api/v1/payments/payment_post_office/queries", params={"min_age_s": 0})
    assert response.json() == {"paid": 1}, response.text  # one round, batch 1: the open payment, not the paid ones
    assert {row["dossier_code"]: row["state"] for row in await payments(gateway)}["H12-LOST-2"] == "paid"
