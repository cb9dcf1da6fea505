"""The payment provider simulators over real HTTP, per dialect: signed creates (and refusals),
paying, signed confirmations to a stand-in gateway, queries, receipts, statements, and each way
the provider misbehaves. Signatures are checked with signing.py over field orders written out
here from docs/payments.md, not taken from the simulator."""

import asyncio
import csv
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.simulators import framework
from gateway.webhooks.signing import checksum, hmac_signature, same
from gateway.connectors.payment.simulator import PaymentControls, PaymentProviderSimulator
from gateway.runtime.serving import LoopbackServer

SECRET = "bi-mat-dung-chung"
PARTNER = "000.00.00.H12"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
DIALECTS = ["dvcqg", "bank", "post_office"]
INIT = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
        "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
        "ThoiGianGD", "Ip"]
CONFIRMATION = ["LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe",
                "MaGiaoDich", "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich"]
QUERY = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"]
ANSWER = ["MaLoi", "MaDoiTac", "ThoiGianGD"]
HEADERS = {"bank": ("X-Timestamp", "X-Signature"),
           "post_office": ("X-VNPost-Timestamp", "X-VNPost-Signature")}
DVCQG_TIME = "%Y%m%d%H%M%S"
# Each dialect's words: the field holding the reply code, its codes, its states, its fields.
CODE_FIELD = {"dvcqg": "error_code", "bank": "code", "post_office": "Status"}
CODES = {
    "dvcqg": {"ok": "0", "malformed": "1", "bad_signature": "2", "conflict": "3", "unknown": "4"},
    "bank": {"ok": "00", "malformed": "01", "bad_signature": "02", "conflict": "03",
             "unknown": "04"},
    "post_office": {"ok": "100", "malformed": "101", "bad_signature": "102", "conflict": "103",
                    "unknown": "104"},
}
STATE_FIELD = {"dvcqg": "MaLoi", "bank": "status", "post_office": "TrangThai"}
QUERY_STATE_FIELD = {"dvcqg": "TrangThaiGD", "bank": "status", "post_office": "TrangThai"}
STATES = {
    "dvcqg": {"00": "paid", "03": "open", "04": "failed", "1": "paid", "3": "open", "4": "failed"},
    "bank": {"SUCCESS": "paid", "PENDING": "open", "FAILED": "failed"},
    "post_office": {"1": "paid", "0": "open", "2": "failed"},
}
AMOUNT_FIELD = {"dvcqg": "SoTien", "bank": "amount", "post_office": "SoTienThu"}
TIME_FIELD = {"dvcqg": ("ThoiGianGD", DVCQG_TIME), "bank": ("paidAt", "%Y-%m-%dT%H:%M:%S%z"),
              "post_office": ("ThoiGianThu", "%d/%m/%Y %H:%M:%S")}
TRANSACTION_FIELD = {"dvcqg": "MaGiaoDich", "bank": "transactionId", "post_office": "MaGiaoDich"}
WHERE_TO_PAY = {"dvcqg": "UrlThanhToan", "bank": "paymentUrl", "post_office": "MaThanhToan"}
# How the stand-in gateway answers, per HTTP status: (dvcqg MaLoi, bank code, post office Status)
ANSWER_CODES = {200: ("00", "00", "100"), 401: ("02", "02", "102"), 409: ("06", "06", "106"),
                503: ("99", "99", "199")}


def _vn_now(pattern: str) -> str:
    return datetime.now(VIETNAM).strftime(pattern)


@dataclass
class Post:
    name: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]


class StandInGateway:
    """Takes confirmations as the gateway would: checks the signature and answers the dialect's
    success body (dvcqg: with its own MaXacThuc), a 401, or the statuses a test scripts."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.posts: list[Post] = []
        self.scripted: list[int] = []  # HTTP statuses for the next posts
        self.server = LoopbackServer(host="127.0.0.1", port=0, name="stand-in gateway",
                                     graceful_s=0.5)

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self) -> None:
        app = FastAPI()

        @app.post("/api/v1/payments/{name}/confirmations")
        async def confirm(name: str, request: Request) -> JSONResponse:
            raw = await request.body()
            post = Post(name, dict(request.headers), raw, json.loads(raw))
            self.posts.append(post)
            if self.scripted:
                status = self.scripted.pop(0)
            else:
                status = 200 if self.verifies(post) else 401
            return JSONResponse(self.answer(status), status_code=status)

        await self.server.start(app)

    def verifies(self, post: Post) -> bool:
        if self.dialect == "dvcqg":
            return same(post.body.get("MaXacThuc"), checksum(post.body, CONFIRMATION, SECRET))
        timestamp_header, signature_header = HEADERS[self.dialect]
        timestamp = post.headers[timestamp_header.lower()]
        expected = hmac_signature(SECRET, timestamp, post.raw)
        fresh = abs(time.time() - int(timestamp)) <= 300
        return fresh and same(post.headers[signature_header.lower()], expected)

    def answer(self, status: int) -> dict[str, Any]:
        code = ANSWER_CODES[status][DIALECTS.index(self.dialect)]
        if self.dialect == "dvcqg":
            body = {"MaLoi": code, "MoTaLoi": "ok", "MaDoiTac": PARTNER,
                    "ThoiGianGD": _vn_now(DVCQG_TIME)}
            return body | {"MaXacThuc": checksum(body, ANSWER, SECRET)}
        if self.dialect == "bank":
            return {"code": code, "message": "ok"}
        return {"Status": code, "Message": "ok"}

    def state_of(self, post: Post) -> str:
        return STATES[self.dialect][post.body[STATE_FIELD[self.dialect]]]

    def amount_of(self, post: Post) -> int:
        return post.body[AMOUNT_FIELD[self.dialect]]


@dataclass
class Rig:
    """A simulator, the stand-in gateway it confirms to, and a client speaking its protocol."""

    dialect: str
    sim: PaymentProviderSimulator
    gateway: StandInGateway
    client: httpx.AsyncClient

    @property
    def codes(self) -> dict[str, str]:
        return CODES[self.dialect]

    async def signed(self, method: str, path: str, body: dict | None = None, *,
                     secret: str = SECRET, timestamp: int | None = None) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        timestamp_header, signature_header = HEADERS[self.dialect]
        headers = {timestamp_header: stamp, signature_header: hmac_signature(secret, stamp, raw),
                   "Content-Type": "application/json"}
        return await self.client.request(method, path, content=raw, headers=headers)

    async def create(self, reference: str, amount: int = 150_000, *, secret: str = SECRET,
                     timestamp: int | None = None, **changes: Any) -> httpx.Response:
        description, payer = "Lệ phí đăng ký khai sinh", "Nguyễn Thị Lan"
        if self.dialect == "dvcqg":
            fees = [{"LoaiPhiLePhi": "2", "MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí",
                     "SoTien": amount}]
            body = {"LoaiBanTin": "INIT", "PhienBan": "2.0.0", "MaDoiTac": PARTNER,
                    "MaThamChieu": reference, "SoTien": amount, "LoaiHinhThanhToan": "PAY",
                    "MaKenhThanhToan": "1", "MaThietBi": "1", "NgonNgu": "vi-VN",
                    "MaTienTe": "VND", "MaNganHang": "970436", "ThongTinGiaoDich": description,
                    "ThoiGianGD": _vn_now(DVCQG_TIME), "Ip": "10.0.0.1",
                    "ThongTinBienLai": {"MaHoSo": "H12-0001", "HoTenNguoiNop": payer,
                                        "PhiLePhi": fees}} | changes
            body["MaXacThuc"] = checksum(body, INIT, secret)
            return await self.client.post("/init", json=body)
        if self.dialect == "bank":
            body = {"orderRef": reference, "amount": amount, "currency": "VND",
                    "description": description, "customerName": payer,
                    "expiresAt": "2026-11-25T08:30:00+07:00"} | changes
            return await self.signed("POST", "/payments", body, secret=secret, timestamp=timestamp)
        body = {"MaDonHang": reference, "SoTien": amount, "NoiDung": description,
                "TenKhachHang": payer, "HanThanhToan": "25/11/2026 08:30:00"} | changes
        return await self.signed("POST", "/thu-ho/dang-ky", body, secret=secret,
                                 timestamp=timestamp)

    async def dvcqg(self, path: str, message: str, reference: str,
                    secret: str = SECRET) -> httpx.Response:
        body = {"LoaiBanTin": message, "PhienBan": "2.0.0", "MaDoiTac": PARTNER,
                "MaThamChieu": reference, "ThoiGianGD": _vn_now(DVCQG_TIME)}
        body["MaXacThuc"] = checksum(body, QUERY, secret)
        return await self.client.post(path, json=body)

    async def query(self, reference: str) -> httpx.Response:
        if self.dialect == "dvcqg":
            return await self.dvcqg("/query", "QUERY", reference)
        if self.dialect == "bank":
            return await self.signed("POST", "/payments/query", {"orderRef": reference})
        return await self.signed("POST", "/thu-ho/tra-cuu", {"MaDonHang": reference})

    async def queried_state(self, reference: str) -> str:
        body = (await self.query(reference)).json()
        return STATES[self.dialect][body[QUERY_STATE_FIELD[self.dialect]]]

    async def receipt(self, reference: str) -> httpx.Response:
        if self.dialect == "dvcqg":
            return await self.dvcqg("/bill", "GET_BILL", reference)
        return await self.signed("GET", f"/payments/{reference}/receipt")

    async def pay(self, reference: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/_sim/payments/{reference}/pay", json=body or None)
        assert response.status_code == 200, response.text
        return response.json()

    async def controls(self, **values: Any) -> None:
        response = await self.client.put("/_sim/controls", json={"confirm_delay_s": 0} | values)
        assert response.status_code == 200, response.text

    def code_of(self, response: httpx.Response) -> str:
        return response.json()[CODE_FIELD[self.dialect]]


def signatures(rig: Rig, posts: list[Post]) -> int:
    """How many different signatures these posts carry."""
    return len({post.headers[HEADERS[rig.dialect][1].lower()] for post in posts})


@pytest.fixture(params=DIALECTS)
async def rig(request: pytest.FixtureRequest):
    dialect = request.param
    gateway = StandInGateway(dialect)
    await gateway.start()
    sim = PaymentProviderSimulator(f"payment_{dialect}", dialect, SECRET, PARTNER)
    sim.set_controls(PaymentControls(confirm_delay_s=0))
    await sim.start()
    sim.gateway_url = gateway.url
    try:
        async with httpx.AsyncClient(base_url=sim.url, timeout=5) as client:
            yield Rig(dialect, sim, gateway, client)
    finally:
        await asyncio.gather(sim.stop(), gateway.server.stop())


def dialects(*names: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("rig", names, indirect=True)


async def test_create_pay_and_get_a_signed_confirmation(rig: Rig) -> None:
    created = await rig.create("TT-0001")
    assert created.status_code == 200 and rig.code_of(created) == rig.codes["ok"], created.text
    where = created.json()[WHERE_TO_PAY[rig.dialect]]
    if rig.dialect == "post_office":
        assert len(where) == 10 and where.isdigit()
        assert 'name="code"' in (await rig.client.get("/counter")).text
        page = await rig.client.post("/counter", data={"code": where})
    else:
        assert where == f"{rig.sim.url}/pay/TT-0001"
        form = (await rig.client.get(where)).text
        assert "150.000" in form and "Thanh toán / Pay" in form and 'method="post"' in form
        page = await rig.client.post(where)
    assert page.status_code == 200 and "Đã thanh toán / Paid" in page.text
    await rig.sim.settled()

    [post] = rig.gateway.posts
    assert post.name == rig.sim.name
    assert rig.gateway.verifies(post), "the confirmation is signed as the protocol says"
    assert rig.gateway.state_of(post) == "paid" and rig.gateway.amount_of(post) == 150_000
    payment = rig.sim.payments["TT-0001"]
    assert payment.state == "paid" and payment.posts == ["confirmation"]
    assert [answer["status_code"] for answer in payment.answers] == [200]
    assert payment.answer_problems == []
    assert post.body[TRANSACTION_FIELD[rig.dialect]] == payment.transaction_id
    time_field, pattern = TIME_FIELD[rig.dialect]
    paid_at = datetime.strptime(post.body[time_field], pattern)
    if rig.dialect == "dvcqg":
        assert post.body["LoaiBanTin"] == "PAYMENT_RESULT" and post.body["MaDoiTac"] == PARTNER
        assert paid_at == payment.paid_at.astimezone(VIETNAM).replace(tzinfo=None)
    elif rig.dialect == "bank":
        assert post.body["event"] == "payment.succeeded"
        assert paid_at.utcoffset().total_seconds() == 7 * 3600
    else:
        assert post.body["MaThanhToan"] == where and post.body["BuuCuc"]
    assert (await rig.client.get("/_sim/stats")).json()["callbacks_sent"] == 1

    again = await rig.pay("TT-0001", amount=1)  # paid already: nothing changes, nothing is sent
    await rig.sim.settled()
    assert again["paid_amount"] == 150_000 and again["transaction_id"] == payment.transaction_id
    assert len(rig.gateway.posts) == 1


async def test_badly_signed_and_malformed_requests_are_refused(rig: Rig) -> None:
    wrong = await rig.create("TT-0002", secret="not-the-secret")
    if rig.dialect == "dvcqg":
        assert wrong.status_code == 200 and rig.code_of(wrong) == "2"
        assert rig.code_of(await rig.create("TT-0002", MaDoiTac="000.00.00.H99")) == "5"
        body = {"LoaiBanTin": "INIT", "MaDoiTac": PARTNER}
        missing = await rig.client.post("/init", json=body | {"MaXacThuc": checksum(body, INIT,
                                                                                     SECRET)})
        assert rig.code_of(missing) == "1" and "MaThamChieu" in missing.json()["message"]
        assert rig.code_of(await rig.dvcqg("/query", "QUERY", "TT-0002", secret="nope")) == "2"
    else:
        assert wrong.status_code == 401 and rig.code_of(wrong) == rig.codes["bad_signature"]
        stale = await rig.create("TT-0002", timestamp=int(time.time()) - 301)
        path = "/payments" if rig.dialect == "bank" else "/thu-ho/dang-ky"
        unsigned = await rig.client.post(path, json={"orderRef": "TT-0002", "amount": 1})
        assert [stale.status_code, unsigned.status_code] == [401, 401]
        assert rig.code_of(stale) == rig.code_of(unsigned) == rig.codes["bad_signature"]
        malformed = await rig.create("TT-0002", amount=-5)
        assert malformed.status_code == 400 and rig.code_of(malformed) == rig.codes["malformed"]
    assert rig.sim.payments == {}


async def test_create_is_idempotent_per_reference(rig: Rig) -> None:
    first, again = await rig.create("TT-0003"), await rig.create("TT-0003")
    where = WHERE_TO_PAY[rig.dialect]
    assert first.json()[where] == again.json()[where]
    assert (await rig.create("TT-0004")).json()[where] != first.json()[where]
    conflict = await rig.create("TT-0003", amount=200_000)
    assert rig.code_of(conflict) == rig.codes["conflict"]
    assert conflict.status_code == (200 if rig.dialect == "dvcqg" else 409)
    payment = rig.sim.payments["TT-0003"]
    assert payment.creates == 2 and payment.amount == 150_000
    assert (await rig.client.get("/_sim/stats")).json()["duplicates_seen"] == 1


async def test_query_answers_the_current_state(rig: Rig) -> None:
    unknown = await rig.query("TT-NOPE")
    assert rig.code_of(unknown) == rig.codes["unknown"]
    assert unknown.status_code == (200 if rig.dialect == "dvcqg" else 404)
    await rig.create("TT-0005")
    assert await rig.queried_state("TT-0005") == "open"
    paid = await rig.pay("TT-0005")
    assert await rig.queried_state("TT-0005") == "paid"
    answer = (await rig.query("TT-0005")).json()
    assert answer[TRANSACTION_FIELD[rig.dialect]] == paid["transaction_id"]
    assert answer[AMOUNT_FIELD[rig.dialect]] == 150_000


@dialects("dvcqg", "bank")
async def test_a_receipt_once_paid(rig: Rig) -> None:
    await rig.create("TT-0006")
    assert rig.code_of(await rig.receipt("TT-0006")) not in ("0", "00"), "not paid: no receipt"
    await rig.pay("TT-0006")
    receipt = (await rig.receipt("TT-0006")).json()
    number, url = ((receipt["SoBienLai"], receipt["UrlBienLai"]) if rig.dialect == "dvcqg"
                   else (receipt["receiptNo"], receipt["receiptUrl"]))
    assert number == f"BL-{datetime.now(VIETNAM).year}-000001"
    assert url == f"{rig.sim.url}/receipts/{number}"
    page = await rig.client.get(url)
    assert page.status_code == 200 and number in page.text and "150.000" in page.text
    if rig.dialect == "bank":
        refused = await rig.signed("GET", "/payments/TT-0006/receipt", secret="x")
        assert refused.status_code == 401


@dialects("post_office")
async def test_the_post_office_has_no_receipt_and_no_payment_page(rig: Rig) -> None:
    await rig.create("TT-0007")
    await rig.pay("TT-0007")
    assert rig.sim.payments["TT-0007"].receipt_number is None
    assert (await rig.client.get("/pay/TT-0007")).status_code == 404
    assert (await rig.signed("GET", "/payments/TT-0007/receipt")).status_code == 404
    assert (await rig.client.post("/counter", data={"code": "0000000000"})).status_code == 404


@dialects("bank", "post_office")
async def test_the_statement_lists_what_was_paid_that_day(rig: Rig) -> None:
    for reference in ("TT-0010", "TT-0011", "TT-0012"):
        await rig.create(reference)
    await rig.pay("TT-0010")
    await rig.pay("TT-0011", amount=151_000)  # another amount: the statement says what was paid
    today = datetime.now(VIETNAM).date().isoformat()
    path = "/statements/{}.csv" if rig.dialect == "bank" else "/doi-soat/{}.csv"
    response = await rig.client.get(path.format(today))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    if rig.dialect == "bank":
        assert list(rows[0]) == ["transaction_id", "order_ref", "amount", "currency", "paid_at"]
        transaction, reference, amount = "transaction_id", "order_ref", "amount"
    else:
        assert list(rows[0]) == ["MaGiaoDich", "MaDonHang", "SoTienThu", "ThoiGianThu", "BuuCuc"]
        transaction, reference, amount = "MaGiaoDich", "MaDonHang", "SoTienThu"
    assert [(row[reference], row[amount]) for row in rows] == [("TT-0010", "150000"),
                                                               ("TT-0011", "151000")]
    assert rows[0][transaction] == rig.sim.payments["TT-0010"].transaction_id
    empty = await rig.client.get(path.format("2020-01-01"))
    assert empty.status_code == 200 and len(empty.text.strip().splitlines()) == 1
    assert (await rig.client.get(path.format("2020-13-01"))).status_code == 404


@dialects("dvcqg")
async def test_the_platform_has_no_statement(rig: Rig) -> None:
    today = datetime.now(VIETNAM).date().isoformat()
    for path in (f"/statements/{today}.csv", f"/doi-soat/{today}.csv"):
        assert (await rig.client.get(path)).status_code == 404


async def test_bad_signature_then_good_then_duplicate_then_stale(rig: Rig) -> None:
    await rig.controls(bad_signature_rate=1, duplicate_rate=1, reorder_rate=1, wrong_amount_rate=1)
    await rig.create("TT-0020")
    await rig.pay("TT-0020")
    await rig.sim.settled()

    posts, gateway = rig.gateway.posts, rig.gateway
    assert [gateway.verifies(post) for post in posts] == [False, True, True, True]
    assert [gateway.state_of(post) for post in posts] == ["paid", "paid", "paid", "open"]
    assert [gateway.amount_of(post) for post in posts[:3]] == [151_000] * 3, "1000 đồng too much"
    payment = rig.sim.payments["TT-0020"]
    assert payment.posts == ["bad_signature", "confirmation", "duplicate", "stale"]
    assert [answer["status_code"] for answer in payment.answers] == [401, 200, 200, 200], (
        "a 401 is not retried")
    assert payment.paid_amount == 151_000
    time_field, pattern = TIME_FIELD[rig.dialect]
    stale, paid = (datetime.strptime(posts[n].body[time_field], pattern) for n in (3, 1))
    assert stale < paid, "the stale pending carries an older time"
    stats = (await rig.client.get("/_sim/stats")).json()
    assert stats["callbacks_sent"] == 4 and stats["callbacks_duplicated"] == 1
    if rig.dialect == "dvcqg":  # no timestamp in the checksum: the duplicate is the same body
        assert posts[2].raw == posts[1].raw
    else:  # freshly signed: never taken for a replay of the first
        assert posts[2].raw == posts[1].raw and signatures(rig, posts[1:3]) == 2


async def test_lost_confirmations_and_failed_payments(rig: Rig) -> None:
    await rig.controls(lost_rate=1)
    await rig.create("TT-0021")
    await rig.pay("TT-0021")
    await rig.sim.settled()
    assert rig.gateway.posts == [], "lost: no confirmation at all"
    assert await rig.queried_state("TT-0021") == "paid", "only the query finds it paid"

    await rig.controls(fail_rate=1)
    await rig.create("TT-0022")
    record = await rig.pay("TT-0022")
    await rig.sim.settled()
    assert record["state"] == "failed" and record["paid_amount"] is None
    [post] = rig.gateway.posts
    assert rig.gateway.verifies(post) and rig.gateway.state_of(post) == "failed"
    assert await rig.queried_state("TT-0022") == "failed"


async def test_5xx_answers_are_retried_4xx_answers_are_not(rig: Rig) -> None:
    rig.gateway.scripted = [503]
    await rig.create("TT-0023")
    await rig.pay("TT-0023")
    await rig.sim.settled()
    posts = rig.gateway.posts
    assert len(posts) == 2 and all(rig.gateway.verifies(post) for post in posts)
    if rig.dialect != "dvcqg":
        assert signatures(rig, posts) == 2, "a resend is signed anew"
    assert [answer["status_code"] for answer in rig.sim.payments["TT-0023"].answers] == [503, 200]

    rig.gateway.scripted = [409]
    await rig.create("TT-0024")
    await rig.pay("TT-0024")
    await rig.sim.settled()
    assert len(posts) == 3
    assert [answer["status_code"] for answer in rig.sim.payments["TT-0024"].answers] == [409]


@dialects("bank")
async def test_connection_errors_are_retried(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework, "CALLBACK_FIRST_BACKOFF_S", 0.01)  # 0.2 s doubling is 3 s in all
    await rig.gateway.server.stop()  # nobody listens: every attempt fails, then it gives up
    await rig.create("TT-0025")
    await rig.pay("TT-0025")
    await rig.sim.settled()
    payment = rig.sim.payments["TT-0025"]
    assert payment.delivery_errors == 5 and payment.answers == []
    assert payment.posts == ["confirmation"]


@dialects("post_office")
async def test_auto_pay_and_pending_confirmations(rig: Rig) -> None:
    await rig.controls(auto_pay_s=0.05, confirm_delay_s=0.5)
    await rig.create("TT-0027")
    for _ in range(50):
        if (await rig.client.get("/_sim/payments/TT-0027")).json()["state"] == "paid":
            break
        await asyncio.sleep(0.02)
    assert (await rig.client.get("/_sim/pending")).json() == {"pending": 1}
    await rig.sim.settled()
    assert (await rig.client.get("/_sim/pending")).json() == {"pending": 0}
    assert len(rig.gateway.posts) == 1
    listed = (await rig.client.get("/_sim/payments")).json()
    assert [payment["reference"] for payment in listed] == ["TT-0027"]
    assert listed[0]["answers"] == [{"status_code": 200,
                                     "body": {"Status": "100", "Message": "ok"}}]


@dialects("bank")
async def test_controls_are_checked_and_a_seed_repeats_the_story(rig: Rig) -> None:
    current = (await rig.client.get("/_sim/controls")).json()
    assert current["confirm_delay_s"] == 0 and current["auto_pay_s"] is None
    assert (await rig.client.put("/_sim/controls", json={"fail_rate": 2})).status_code == 422
    assert (await rig.client.put("/_sim/controls", json={"failrate": 1})).status_code == 422
    references = [f"TT-01{n:02d}" for n in range(16)]
    for reference in references:
        await rig.create(reference)
    stories = []
    for half in (references[:8], references[8:]):
        await rig.controls(seed=7, fail_rate=0.5, lost_rate=1)
        stories.append([(await rig.pay(reference))["state"] for reference in half])
    assert stories[0] == stories[1] and set(stories[0]) == {"paid", "failed"}
    assert (await rig.client.post("/_sim/payments/TT-NOPE/pay")).status_code == 404
    bad_amount = await rig.client.post("/_sim/payments/TT-0100/pay", json={"amount": "x"})
    assert bad_amount.status_code == 422


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        PaymentProviderSimulator("payment_x", "paypal", SECRET, PARTNER)
