"""A payment provider to rehearse against, in one of three dialects (docs/payments.md, "The
providers' wire protocols"):

- `dvcqg`: the national portal's payment platform. JSON, HTTP 200 with an `error_code` (like the
  real platform), a SHA-256 `MaXacThuc` checksum in the body over fields it knows itself.
- `bank`: a bank's payment gateway. JSON, every request and callback signed with `X-Timestamp`
  and `X-Signature` (HMAC-SHA256 over `TIMESTAMP.RAW_BODY`), HTTP status codes for errors.
- `post_office`: counter collection (thu hộ). Like the bank, with `X-VNPost-*` headers, and a
  10-digit payment code the citizen pays with at any post office instead of a URL.

It checks what the gateway sends (signature, partner code, required fields, formats), keeps
every payment, lets a citizen pay (`GET /pay/REF`, or `GET /counter` for the post office), and
then posts signed confirmations to `{gateway_url}/api/v1/payments/{name}/confirmations` after a
delay, misbehaving as its controls say. It answers queries, receipts and daily statements.

Error codes it answers, per dialect (dvcqg always with HTTP 200):
  dvcqg error_code: 0 ok, 1 malformed / missing fields, 2 bad checksum, 3 same reference with
    another amount, 4 unknown reference, 5 wrong MaDoiTac, 6 not paid (no receipt yet)
  bank code: 00 ok, 01 malformed (400), 02 bad or stale signature (401), 03 conflict (409),
    04 unknown (404), 05 not paid, no receipt (409)
  post office Status: 100 ok, 101 malformed (400), 102 bad or stale signature (401),
    103 conflict (409), 104 unknown (404)
Routes besides the partner's API:
  GET  /pay/REF, POST /pay/REF      the payment page and its "Thanh toán / Pay" button (online)
  GET  /counter, POST /counter      the post office counter: pay a code (form field `code`)
  GET  /receipts/NUMBER             the electronic receipt (dvcqg, bank)
  GET  /_sim/controls, PUT /_sim/controls   how it misbehaves (PaymentControls)
  GET  /_sim/payments, GET /_sim/payments/REF, POST /_sim/payments/REF/pay ({"amount": N} optional)
  GET  /_sim/pending                confirmation tasks still running
"""

import asyncio
import csv
import hashlib
import io
import itertools
import json
import logging
import random
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.webhooks.signing import checksum, hmac_problem, hmac_signature, same
from gateway.simulators.faults import FaultProfile
from gateway.simulators.framework import CALLBACK_ATTEMPTS, Simulator

log = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
DIALECTS = ("dvcqg", "bank", "post_office")
DESCRIPTIONS = {
    "dvcqg": "The national portal's payment platform (Nền tảng thanh toán): INIT, QUERY, GET_BILL.",
    "bank": "A bank's payment gateway: payments, query, receipt, statements (HMAC-signed).",
    "post_office": "The post office's counter collection (thu hộ): codes paid at a counter.",
}

# The platform's checksums: these fields joined by "|", the secret appended (signing.checksum).
# The real platform knows them itself, so the simulator does not take them from configuration.
INIT_FIELDS = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
               "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang",
               "ThongTinGiaoDich", "ThoiGianGD", "Ip")
CONFIRMATION_FIELDS = ("LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe",
                       "MaGiaoDich", "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich")
QUERY_FIELDS = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
ANSWER_FIELDS = ("MaLoi", "MaDoiTac", "ThoiGianGD")
DVCQG_REQUIRED = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD", "MaXacThuc")

HMAC_HEADERS = {"bank": ("X-Timestamp", "X-Signature"),
                "post_office": ("X-VNPost-Timestamp", "X-VNPost-Signature")}
TOLERANCE_S = 300  # how far a request's timestamp may be from now
MAX_REFERENCE = 40  # as PaymentEvent.reference
WRONG_AMOUNT_EXTRA = 1000  # what a citizen "paid too much" pays on top, in đồng
TRANSACTION_PREFIX = {"dvcqg": "PG", "bank": "FT", "post_office": "VNP"}
BUU_CUC = "700000"  # the post office (bưu cục) where counter payments are taken

# Refusals: (code, HTTP status) per dialect. The platform answers HTTP 200 and an error_code.
REFUSALS: dict[str, dict[str, tuple[str, int]]] = {
    "malformed": {"dvcqg": ("1", 200), "bank": ("01", 400), "post_office": ("101", 400)},
    "bad_signature": {"dvcqg": ("2", 200), "bank": ("02", 401), "post_office": ("102", 401)},
    "conflict": {"dvcqg": ("3", 200), "bank": ("03", 409), "post_office": ("103", 409)},
    "unknown": {"dvcqg": ("4", 200), "bank": ("04", 404), "post_office": ("104", 404)},
    "partner": {"dvcqg": ("5", 200)},  # only the platform names the partner in the body
    "unpaid": {"dvcqg": ("6", 200), "bank": ("05", 409)},  # the post office has no receipts
}
OK_CODE = {"dvcqg": "0", "bank": "00", "post_office": "100"}
# A payment's state in each dialect's words.
DVCQG_QUERY_STATE = {"paid": "1", "open": "3", "failed": "4"}
DVCQG_RESULT = {"paid": "00", "open": "03", "failed": "04"}
BANK_STATUS = {"paid": "SUCCESS", "open": "PENDING", "failed": "FAILED"}
BANK_EVENT = {"paid": "payment.succeeded", "open": "payment.pending", "failed": "payment.failed"}
POST_STATE = {"paid": "1", "open": "0", "failed": "2"}


class PaymentControls(BaseModel):
    """How the provider misbehaves. Rates are probabilities per payment (0 never, 1 always)."""

    model_config = ConfigDict(extra="forbid")

    confirm_delay_s: float = Field(default=0.2, ge=0, le=3600,
                                   description="From payment to the first confirmation")
    confirm_jitter_s: float = Field(default=0.0, ge=0, le=3600,
                                    description="Random extra delay, 0..N")
    duplicate_rate: float = Field(default=0.0, ge=0, le=1,
                                  description="A second confirmation, freshly signed")
    reorder_rate: float = Field(default=0.0, ge=0, le=1,
                                description="A stale `pending` confirmation after the final one")
    wrong_amount_rate: float = Field(default=0.0, ge=0, le=1,
                                     description="The citizen pays 1000 đồng more than requested")
    bad_signature_rate: float = Field(default=0.0, ge=0, le=1,
                                      description="A badly signed confirmation, then the good one")
    lost_rate: float = Field(default=0.0, ge=0, le=1,
                             description="No confirmation at all: only a query finds the payment")
    fail_rate: float = Field(default=0.0, ge=0, le=1,
                             description="The payment fails: state failed, a failed confirmation")
    auto_pay_s: float | None = Field(default=None, ge=0, le=86_400,
                                     description="Pay each new payment this long after creation")
    seed: int | None = Field(default=None, description="Seed for repeatable misbehaviour")


@dataclass
class SimulatedPayment:
    reference: str
    amount: int  # requested, in đồng
    currency: str
    description: str
    customer: str
    created_at: datetime  # UTC, whole seconds
    pay_url: str | None = None  # online dialects
    pay_code: str | None = None  # the post office
    bank_code: str = ""  # MaNganHang (dvcqg)
    fees: list[dict[str, Any]] = field(default_factory=list)  # ThongTinBienLai.PhiLePhi (dvcqg)
    expires: str | None = None  # as the gateway sent it (not enforced)
    creates: int = 1  # create requests seen for this reference
    state: str = "open"  # open, paid, failed
    paid_amount: int | None = None
    transaction_id: str | None = None
    paid_at: datetime | None = None
    failed_at: datetime | None = None
    receipt_number: str | None = None
    receipt_url: str | None = None
    posts: list[str] = field(default_factory=list)  # confirmations posted, by kind, in order
    answers: list[dict[str, Any]] = field(default_factory=list)  # {status_code, body} per answer
    answer_problems: list[str] = field(default_factory=list)  # answers that did not verify
    delivery_errors: int = 0  # attempts that got no answer (connection errors)

    @property
    def settled_at(self) -> datetime:
        return self.paid_at or self.failed_at or self.created_at

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        for name in ("created_at", "paid_at", "failed_at"):
            if record[name] is not None:
                record[name] = record[name].isoformat()
        return record


@dataclass(frozen=True)
class _Confirmation:
    kind: str  # bad_signature, confirmation, duplicate, stale
    state: str  # the state it reports: paid, failed, open (pending)
    at: datetime  # the time it carries
    broken: bool = False


class PaymentProviderSimulator(Simulator):
    """One payment provider in one dialect. `name` is the partner (payment_bank): confirmations
    go to the gateway's route for it. Tests pay with `pay()` and wait with `settled()`."""

    def __init__(self, name: str, dialect: str, secret: str, partner_code: str,
                 faults: FaultProfile | None = None) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown payment simulator dialect {dialect!r}; "
                             f"known: {', '.join(DIALECTS)}")
        super().__init__(faults)
        self.name = name
        self.dialect = dialect
        self.description = DESCRIPTIONS[dialect]
        self.secret = secret
        self.partner_code = partner_code
        self.controls = PaymentControls()
        self._random = random.Random(None)
        self.payments: dict[str, SimulatedPayment] = {}  # reference -> payment, in creation order
        self._codes: dict[str, str] = {}  # post office payment code -> reference
        self._receipts: dict[str, str] = {}  # receipt number -> reference
        self._stamps: dict[str, int] = {}  # reference -> the last timestamp its posts carried
        self._transactions = itertools.count(1)
        self._receipt_numbers = itertools.count(1)
        self._confirming: set[asyncio.Task] = set()
        self._auto_paying: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None

    # Controls and programmatic use (tests, the demo)

    def set_controls(self, controls: PaymentControls) -> PaymentControls:
        self.controls = controls
        self._random = random.Random(controls.seed)  # a seed replays the same misbehaviour
        return controls

    @property
    def pending(self) -> int:
        """Confirmation tasks still running."""
        return sum(1 for task in self._confirming if not task.done())

    async def settled(self) -> None:
        """Wait until every scheduled confirmation has been posted (or given up). Payments that
        auto_pay_s has yet to pay are not waited for."""
        while self._confirming:
            await asyncio.gather(*list(self._confirming), return_exceptions=True)

    def pay(self, reference: str, amount: int | None = None) -> SimulatedPayment:
        """The citizen pays (`amount`: another amount than requested). Paying a payment that is
        no longer open changes nothing. Confirmations are scheduled as the controls say."""
        payment = self.payments[reference]
        if payment.state != "open":
            return payment
        controls, roll = self.controls, self._roll
        # Every die is cast now, in a fixed order, so a seed gives the same story every time.
        fails = roll(controls.fail_rate)
        wrong_amount = roll(controls.wrong_amount_rate)
        lost = roll(controls.lost_rate)
        broken_first = roll(controls.bad_signature_rate)
        duplicate = roll(controls.duplicate_rate)
        reorder = roll(controls.reorder_rate)
        jitter = controls.confirm_jitter_s and self._random.uniform(0, controls.confirm_jitter_s)
        now = _now()
        payment.transaction_id = self._transaction_id(now)
        if fails:
            payment.state, payment.failed_at = "failed", now
        else:
            payment.state, payment.paid_at = "paid", now
            payment.paid_amount = amount if amount is not None else (
                payment.amount + (WRONG_AMOUNT_EXTRA if wrong_amount else 0))
            if self.dialect != "post_office":  # the post office gives a paper receipt
                number = f"BL-{now.astimezone(VIETNAM).year}-{next(self._receipt_numbers):06d}"
                payment.receipt_number = number
                payment.receipt_url = f"{self._base_url()}/receipts/{number}"
                self._receipts[number] = reference
        log.info("%s simulator: %s %s (%s đồng)", self.name, reference, payment.state,
                 payment.paid_amount if payment.paid_amount is not None else payment.amount)
        if lost:
            return payment
        plan = [_Confirmation("confirmation", payment.state, now)]
        if broken_first:
            plan.insert(0, _Confirmation("bad_signature", payment.state, now, broken=True))
        if duplicate:
            plan.append(_Confirmation("duplicate", payment.state, now))
        if reorder:  # what the provider said while the citizen was still paying, arriving late
            older = min(payment.created_at, now - timedelta(seconds=1))
            plan.append(_Confirmation("stale", "open", older))
        delay_s = controls.confirm_delay_s + jitter
        self._track(self._confirming, self._confirm(payment, plan, delay_s))
        return payment

    # Serving

    def partner_routes(self, router: APIRouter) -> None:
        if self.dialect == "dvcqg":
            self._dvcqg_routes(router)
            self._page_routes(router)
        elif self.dialect == "bank":
            self._bank_routes(router)
            self._page_routes(router)
        else:  # no payment page: the citizen pays a code at the counter
            self._post_office_routes(router)
            self._counter_routes(router)
        self._control_routes(router)

    def _dvcqg_routes(self, router: APIRouter) -> None:
        @router.post("/init")
        async def init(request: Request) -> Response:
            body, refusal = await self._dvcqg_request(request, "INIT", INIT_FIELDS)
            if refusal is not None:
                return refusal
            amount = _amount(body.get("SoTien"))
            if amount is None:
                return self._refuse("malformed", "SoTien phải là số nguyên dương")
            receipt = body.get("ThongTinBienLai")
            receipt = receipt if isinstance(receipt, dict) else {}
            fees = receipt.get("PhiLePhi") if isinstance(receipt.get("PhiLePhi"), list) else []
            payment = self._create(
                str(body["MaThamChieu"]), amount, currency=str(body.get("MaTienTe") or "VND"),
                description=str(body.get("ThongTinGiaoDich") or ""),
                customer=str(receipt.get("HoTenNguoiNop") or ""),
                bank_code=str(body.get("MaNganHang") or ""),
                fees=[fee for fee in fees if isinstance(fee, dict)])
            if isinstance(payment, JSONResponse):
                return payment
            return self._ok("Khởi tạo giao dịch thành công", UrlThanhToan=payment.pay_url)

        @router.post("/query")
        async def query(request: Request) -> Response:
            return await self._dvcqg_state(request, "QUERY", bill=False)

        @router.post("/bill")
        async def bill(request: Request) -> Response:
            return await self._dvcqg_state(request, "GET_BILL", bill=True)

    async def _dvcqg_state(self, request: Request, message: str, *, bill: bool) -> Response:
        body, refusal = await self._dvcqg_request(request, message, QUERY_FIELDS)
        if refusal is not None:
            return refusal
        payment = self.payments.get(str(body["MaThamChieu"]))
        if payment is None:
            return self._refuse("unknown", f"Không tìm thấy giao dịch {body['MaThamChieu']} "
                                           "(unknown reference)")
        if bill and payment.state != "paid":
            return self._refuse("unpaid", "Giao dịch chưa thanh toán, chưa có biên lai (not paid)")
        answer = {"MaThamChieu": payment.reference, "TrangThaiGD": DVCQG_QUERY_STATE[payment.state],
                  "SoTien": _amount_of(payment), "MaTienTe": payment.currency,
                  "MaGiaoDich": payment.transaction_id,
                  "ThoiGianGD": _dvcqg_time(payment.settled_at)}
        if bill:
            answer |= {"SoBienLai": payment.receipt_number, "UrlBienLai": payment.receipt_url}
        return self._ok("Thành công", **answer)

    async def _dvcqg_request(self, request: Request, message: str,
                             fields: tuple[str, ...]) -> tuple[dict[str, Any], JSONResponse | None]:
        """The platform's checks, in its order: shape, partner, checksum, then formats."""
        body = _json_object(await request.body())
        if body is None:
            return {}, self._refuse("malformed", "Dữ liệu không phải JSON object (not JSON)")
        required = DVCQG_REQUIRED + (("SoTien",) if message == "INIT" else ())
        if missing := [name for name in required if body.get(name) in (None, "")]:
            return body, self._refuse("malformed", "Thiếu trường bắt buộc (missing fields): "
                                                   + ", ".join(missing))
        if str(body["MaDoiTac"]) != self.partner_code:
            # The platform finds the partner's secret by MaDoiTac: an unknown partner comes first.
            return body, self._refuse("partner", f"Mã đối tác không hợp lệ: {body['MaDoiTac']} "
                                                 "(wrong MaDoiTac)")
        if not same(str(body["MaXacThuc"]), checksum(body, fields, self.secret)):
            return body, self._refuse("bad_signature", "Sai mã xác thực MaXacThuc (bad checksum)")
        if body["LoaiBanTin"] != message:
            return body, self._refuse("malformed", f"LoaiBanTin phải là {message} (wrong type)")
        if not _reference_ok(body["MaThamChieu"]):
            return body, self._refuse("malformed", f"MaThamChieu: 1..{MAX_REFERENCE} ký tự")
        if not _parses(str(body["ThoiGianGD"]), "%Y%m%d%H%M%S", length=14):
            return body, self._refuse("malformed", "ThoiGianGD phải có dạng yyyyMMddHHmmss")
        return body, None

    def _bank_routes(self, router: APIRouter) -> None:
        @router.post("/payments")
        async def create(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            reference, amount = body.get("orderRef"), _amount(body.get("amount"))
            if not _reference_ok(reference) or amount is None:
                return self._refuse("malformed", "orderRef (1..40 characters) and a positive "
                                                 "integer amount are required")
            currency = body.get("currency", "VND")
            if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
                return self._refuse("malformed", "currency must be an ISO 4217 code")
            expires = body.get("expiresAt")
            if expires is not None and not _iso_with_offset(expires):
                return self._refuse("malformed", "expiresAt must be ISO 8601 with an offset")
            payment = self._create(reference, amount, currency=currency,
                                   description=str(body.get("description") or ""),
                                   customer=str(body.get("customerName") or ""), expires=expires)
            if isinstance(payment, JSONResponse):
                return payment
            return self._ok("Payment created", orderRef=payment.reference,
                            paymentUrl=payment.pay_url)

        @router.post("/payments/query")
        async def query(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            payment = self._known(body.get("orderRef"))
            if isinstance(payment, JSONResponse):
                return payment
            return self._ok("Success", orderRef=payment.reference,
                            status=BANK_STATUS[payment.state],
                            amount=_amount_of(payment), currency=payment.currency,
                            transactionId=payment.transaction_id,
                            paidAt=_iso(payment.paid_at or payment.failed_at))

        @router.get("/payments/{reference}/receipt")
        async def receipt(reference: str, request: Request) -> Response:
            _, refusal = await self._signed(request)
            if refusal is not None:
                return refusal
            payment = self._known(reference)
            if isinstance(payment, JSONResponse):
                return payment
            if payment.state != "paid":
                return self._refuse("unpaid", f"Payment {reference} is not paid: no receipt")
            return self._ok("Success", orderRef=payment.reference, receiptNo=payment.receipt_number,
                            receiptUrl=payment.receipt_url)

        @router.get("/statements/{day}.csv")
        async def statement(day: str) -> Response:
            return self._statement(
                day, ("transaction_id", "order_ref", "amount", "currency", "paid_at"),
                lambda p: (p.transaction_id, p.reference, p.paid_amount, p.currency,
                           _iso(p.paid_at)))

    def _post_office_routes(self, router: APIRouter) -> None:
        @router.post("/thu-ho/dang-ky")
        async def register(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            reference, amount = body.get("MaDonHang"), _amount(body.get("SoTien"))
            if not _reference_ok(reference) or amount is None:
                return self._refuse("malformed", "Cần MaDonHang (1..40 ký tự) và SoTien nguyên "
                                                 "dương (MaDonHang, a positive SoTien required)")
            expires = body.get("HanThanhToan")
            if expires is not None and not _parses(str(expires), "%d/%m/%Y %H:%M:%S", length=19):
                return self._refuse("malformed", "HanThanhToan phải có dạng dd/MM/yyyy HH:mm:ss")
            payment = self._create(reference, amount, currency="VND",
                                   description=str(body.get("NoiDung") or ""),
                                   customer=str(body.get("TenKhachHang") or ""), expires=expires)
            if isinstance(payment, JSONResponse):
                return payment
            return self._ok("Đăng ký thu hộ thành công", MaDonHang=payment.reference,
                            MaThanhToan=payment.pay_code)

        @router.post("/thu-ho/tra-cuu")
        async def look_up(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            payment = self._known(body.get("MaDonHang"))
            if isinstance(payment, JSONResponse):
                return payment
            return self._ok("Thành công", MaDonHang=payment.reference,
                            TrangThai=POST_STATE[payment.state], SoTienThu=_amount_of(payment),
                            MaGiaoDich=payment.transaction_id,
                            ThoiGianThu=_post_time(payment.paid_at or payment.failed_at))

        @router.get("/doi-soat/{day}.csv")
        async def statement(day: str) -> Response:
            return self._statement(
                day, ("MaGiaoDich", "MaDonHang", "SoTienThu", "ThoiGianThu", "BuuCuc"),
                lambda p: (p.transaction_id, p.reference, p.paid_amount, _post_time(p.paid_at),
                           BUU_CUC))

    async def _signed(self, request: Request) -> tuple[bytes, JSONResponse | None]:
        """Check the HMAC headers over the raw body: missing, malformed, wrong or stale: 401."""
        raw = await request.body()
        timestamp_header, signature_header = HMAC_HEADERS[self.dialect]
        problem = hmac_problem(self.secret, request.headers.get(timestamp_header),
                               request.headers.get(signature_header), raw, TOLERANCE_S)
        if problem is not None:
            return raw, self._refuse("bad_signature", problem.words)
        return raw, None

    async def _signed_json(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        raw, refusal = await self._signed(request)
        if refusal is not None:
            return {}, refusal
        body = _json_object(raw)
        if body is None:
            return {}, self._refuse("malformed", "the body is not a JSON object")
        return body, None

    def _create(self, reference: str, amount: int,
                **details: Any) -> SimulatedPayment | JSONResponse:
        """A new payment, or the one this reference already names (a create sent again)."""
        existing = self.payments.get(reference)
        if existing is not None:
            if existing.amount != amount:
                return self._refuse("conflict", f"{reference} đã tồn tại với số tiền "
                                                f"{existing.amount} (exists, another amount)")
            self.stats.record_key(reference)
            existing.creates += 1
            return existing
        self.stats.record_key(reference)
        payment = SimulatedPayment(reference=reference, amount=amount, created_at=_now(), **details)
        if self.dialect == "post_office":
            payment.pay_code = self._new_code(reference)
            self._codes[payment.pay_code] = reference
        else:
            payment.pay_url = f"{self._base_url()}/pay/{quote(reference, safe='')}"
        self.payments[reference] = payment
        if self.controls.auto_pay_s is not None:
            self._track(self._auto_paying, self._auto_pay(reference, self.controls.auto_pay_s))
        return payment

    def _known(self, reference: Any) -> SimulatedPayment | JSONResponse:
        payment = self.payments.get(reference) if isinstance(reference, str) else None
        if payment is None:
            return self._refuse("unknown", f"Không tìm thấy {reference} (unknown reference)")
        return payment

    def _statement(self, day: str, columns: tuple[str, ...], row) -> Response:
        """The payments paid on that Vietnam-time date, with the amount really paid."""
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day):
            raise HTTPException(404, detail="statements are named YYYY-MM-DD.csv")
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            raise HTTPException(404, detail=f"no such date {day}") from None
        paid = sorted((p for p in self.payments.values()
                       if p.state == "paid" and p.paid_at.astimezone(VIETNAM).date() == wanted),
                      key=lambda p: (p.paid_at, p.transaction_id))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(row(payment) for payment in paid)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")

    def _refuse(self, kind: str, message: str) -> JSONResponse:
        code, status = REFUSALS[kind][self.dialect]
        return JSONResponse(self._reply(code, message), status_code=status)

    def _ok(self, message: str, **fields: Any) -> JSONResponse:
        return JSONResponse(self._reply(OK_CODE[self.dialect], message) | fields)

    def _reply(self, code: str, message: str) -> dict[str, Any]:
        if self.dialect == "dvcqg":
            return {"error_code": code, "message": message}
        if self.dialect == "bank":
            return {"code": code, "message": message}
        return {"Status": code, "Message": message}

    # The citizen's side: payment page, post office counter, receipt

    def _page_routes(self, router: APIRouter) -> None:
        @router.get("/pay/{reference}", response_class=HTMLResponse)
        async def page(reference: str) -> HTMLResponse:
            payment = self.payments.get(reference)
            if payment is None:
                return _page("Không tìm thấy giao dịch / Payment not found", "", status_code=404)
            if payment.state != "open":
                return self._outcome_page(payment)
            action = f"/pay/{quote(reference, safe='')}"
            return _page("Thanh toán phí, lệ phí / Pay fees",
                         _details(payment) + f'<form method="post" action="{escape(action)}">'
                         '<button type="submit">Thanh toán / Pay</button></form>')

        @router.post("/pay/{reference}", response_class=HTMLResponse)
        async def pay(reference: str) -> HTMLResponse:
            if reference not in self.payments:
                return _page("Không tìm thấy giao dịch / Payment not found", "", status_code=404)
            return self._outcome_page(self.pay(reference))

        @router.get("/receipts/{number}", response_class=HTMLResponse)
        async def receipt(number: str) -> HTMLResponse:
            payment = self.payments.get(self._receipts.get(number, ""))
            if payment is None:
                return _page("Không tìm thấy biên lai / Receipt not found", "", status_code=404)
            return _page(f"Biên lai điện tử / Receipt {number}",
                         _details(payment) + _paid_details(payment))

    def _counter_routes(self, router: APIRouter) -> None:
        @router.get("/counter", response_class=HTMLResponse)
        async def counter() -> HTMLResponse:
            return _page("Thu hộ tại quầy / Counter payment",
                         '<form method="post" action="/counter"><label>Mã thanh toán / '
                         'Payment code <input name="code" inputmode="numeric" maxlength="10" '
                         'required></label> <button type="submit">Thu tiền / Take payment</button>'
                         '</form>')

        @router.post("/counter", response_class=HTMLResponse)
        async def take(request: Request) -> HTMLResponse:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            code = "".join((form.get("code") or [""])[0].split())
            reference = self._codes.get(code)
            if reference is None:
                return _page("Mã thanh toán không tồn tại / Unknown payment code",
                             f"<p>{escape(code)}</p>", status_code=404)
            return self._outcome_page(self.pay(reference))

    def _outcome_page(self, payment: SimulatedPayment) -> HTMLResponse:
        if payment.state == "paid":
            return _page("Đã thanh toán / Paid", _details(payment) + _paid_details(payment))
        if payment.state == "failed":
            return _page("Thanh toán không thành công / Payment failed", _details(payment))
        return _page("Chưa thanh toán / Not paid", _details(payment))

    # Control

    def _control_routes(self, router: APIRouter) -> None:
        @router.get("/_sim/controls", tags=["simulator control"])
        async def controls() -> PaymentControls:
            return self.controls

        @router.put("/_sim/controls", tags=["simulator control"])
        async def set_controls(controls: PaymentControls) -> PaymentControls:
            log.info("%s simulator: controls now %s", self.name,
                     controls.model_dump(exclude_defaults=True))
            return self.set_controls(controls)

        @router.get("/_sim/payments", tags=["simulator control"])
        async def payments() -> list[dict[str, Any]]:
            return [payment.as_dict() for payment in self.payments.values()]

        @router.get("/_sim/payments/{reference}", tags=["simulator control"])
        async def payment(reference: str) -> dict[str, Any]:
            if reference not in self.payments:
                raise HTTPException(404, detail=f"no payment {reference}")
            return self.payments[reference].as_dict()

        @router.post("/_sim/payments/{reference}/pay", tags=["simulator control"])
        async def pay(reference: str, request: Request) -> dict[str, Any]:
            if reference not in self.payments:
                raise HTTPException(404, detail=f"no payment {reference}")
            raw = await request.body()
            body = _json_object(raw) if raw.strip() else {}
            if body is None:
                raise HTTPException(422, detail='the body is optional: {"amount": N}')
            amount = None
            if body.get("amount") is not None and (amount := _amount(body["amount"])) is None:
                raise HTTPException(422, detail="amount must be a positive integer (đồng)")
            return self.pay(reference, amount).as_dict()

        @router.get("/_sim/pending", tags=["simulator control"])
        async def pending() -> dict[str, int]:
            return {"pending": self.pending}

    # Confirmations

    async def _confirm(self, payment: SimulatedPayment, plan: list[_Confirmation],
                       delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            for confirmation in plan:
                await self._post(payment, confirmation)
        except Exception:  # a background task: say so rather than die silently
            log.exception("%s simulator: confirmations of %s failed", self.name, payment.reference)

    async def _post(self, payment: SimulatedPayment, confirmation: _Confirmation) -> None:
        """POST one confirmation; connection errors and 5xx answers are retried, each attempt
        signed anew."""
        if self.gateway_url is None:
            log.warning("%s simulator: no gateway to confirm %s to", self.name, payment.reference)
            return
        url = f"{self.gateway_url}/api/v1/payments/{self.name}/confirmations"
        payment.posts.append(confirmation.kind)
        self.stats.callbacks_sent += 1
        if confirmation.kind == "duplicate":
            self.stats.callbacks_duplicated += 1
        def answered(response: httpx.Response) -> None:
            payment.answers.append({"status_code": response.status_code, "body": _body_of(response)})
            self._check_answer(payment, response)

        def failed(attempt: int, error: Exception) -> None:
            payment.delivery_errors += 1
            log.warning("%s simulator: confirmation of %s, attempt %d: %r", self.name, payment.reference, attempt,
                        error)

        if not await self.post_until_answered(self._http(), url,
                                              lambda: self._signed_confirmation(payment, confirmation),
                                              on_answer=answered, on_error=failed):
            log.warning("%s simulator: gave up confirming %s after %d attempts", self.name, payment.reference,
                        CALLBACK_ATTEMPTS)

    def _signed_confirmation(self, payment: SimulatedPayment,
                             confirmation: _Confirmation) -> tuple[bytes, dict[str, str]]:
        state, at = confirmation.state, confirmation.at
        amount = payment.paid_amount if state == "paid" else payment.amount
        # A broken signature is a well-formed one made with another secret.
        secret = self.secret + "-wrong" if confirmation.broken else self.secret
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.dialect == "dvcqg":
            body: dict[str, Any] = {
                "LoaiBanTin": "PAYMENT_RESULT", "MaLoi": DVCQG_RESULT[state],
                "MaDoiTac": self.partner_code, "MaThamChieu": payment.reference, "SoTien": amount,
                "MaTienTe": payment.currency,
                "MaGiaoDich": payment.transaction_id, "MaNganHang": payment.bank_code,
                "ThoiGianGD": _dvcqg_time(at), "ThongTinGiaoDich": payment.description}
            body["MaXacThuc"] = checksum(body, CONFIRMATION_FIELDS, secret)
            return _dumps(body), headers
        if self.dialect == "bank":
            body = {"event": BANK_EVENT[state], "orderRef": payment.reference,
                    "status": BANK_STATUS[state], "amount": amount, "currency": payment.currency,
                    "transactionId": payment.transaction_id, "paidAt": _iso(at)}
        else:
            body = {"MaDonHang": payment.reference, "MaThanhToan": payment.pay_code,
                    "TrangThai": POST_STATE[state], "SoTienThu": amount,
                    "MaGiaoDich": payment.transaction_id, "ThoiGianThu": _post_time(at),
                    "BuuCuc": BUU_CUC}
        raw = _dumps(body)
        # Fresh on every attempt: a resend is signed anew. Within one second the same body would
        # get the same signature, which the gateway rightly takes for a replay; so a payment's
        # posts never share a timestamp (at most CALLBACK_ATTEMPTS * 4 s ahead, well within tolerance).
        stamp = max(int(time.time()), self._stamps.get(payment.reference, 0) + 1)
        self._stamps[payment.reference] = stamp
        timestamp = str(stamp)
        timestamp_header, signature_header = HMAC_HEADERS[self.dialect]
        headers |= {timestamp_header: timestamp,
                    signature_header: hmac_signature(secret, timestamp, raw)}
        return raw, headers

    def _check_answer(self, payment: SimulatedPayment, response: httpx.Response) -> None:
        """The platform checks the gateway's success answer too (MaXacThuc over
        MaLoi|MaDoiTac|ThoiGianGD); one that does not verify is noted, not resent."""
        if self.dialect != "dvcqg" or response.status_code != 200:
            return
        body = _json_object(response.content)
        if body is None or not body.get("MaXacThuc"):
            payment.answer_problems.append(f"HTTP {response.status_code}: answer without MaXacThuc")
        elif not same(str(body["MaXacThuc"]), checksum(body, ANSWER_FIELDS, self.secret)):
            payment.answer_problems.append(
                f"HTTP {response.status_code}: answer MaXacThuc does not verify")

    async def _auto_pay(self, reference: str, after_s: float) -> None:
        await asyncio.sleep(after_s)
        self.pay(reference)

    # Plumbing

    def _track(self, tasks: set[asyncio.Task], work) -> None:
        task = asyncio.create_task(work, name=f"{self.name} payments")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # one client, its connections reused by every confirmation
            self._client = httpx.AsyncClient(timeout=10)
        return self._client

    def _base_url(self) -> str:
        return self.url if self._server is not None else f"http://simulator.invalid/{self.name}"

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def _transaction_id(self, at: datetime) -> str:
        day = at.astimezone(VIETNAM).strftime("%Y%m%d")
        return f"{TRANSACTION_PREFIX[self.dialect]}{day}{next(self._transactions):06d}"

    def _new_code(self, reference: str) -> str:
        """10 digits, no leading zero, derived from the reference (the same after a restart),
        moved on by one where another payment holds it."""
        seed = hashlib.sha256(f"{self.name}:{reference}".encode()).digest()
        digest = int.from_bytes(seed[:8], "big")
        number = 10**9 + digest % (9 * 10**9)
        while str(number) in self._codes:
            number = 10**9 + (number + 1 - 10**9) % (9 * 10**9)
        return str(number)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        self._http()

    async def stop(self) -> None:
        tasks = self._confirming | self._auto_paying
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await super().stop()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _dvcqg_time(at: datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(VIETNAM).isoformat(timespec="seconds")


def _post_time(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")


def _parses(text: str, pattern: str, *, length: int) -> bool:
    if len(text) != length:  # strptime takes "2026112" for %Y%m%d; the wire format is fixed width
        return False
    try:
        datetime.strptime(text, pattern)
    except ValueError:
        return False
    return True


def _iso_with_offset(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _amount(value: Any) -> int | None:
    """A positive integer of đồng; digits as text are taken too (the platform's habit)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,15}", value):
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _amount_of(payment: SimulatedPayment) -> int:
    return payment.paid_amount if payment.paid_amount is not None else payment.amount


def _reference_ok(value: Any) -> bool:
    # It is a path segment of the payment page: no "/".
    return (isinstance(value, str) and 0 < len(value.strip()) and len(value) <= MAX_REFERENCE
            and "/" not in value)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _money(amount: int | None) -> str:
    return "" if amount is None else f"{amount:,}".replace(",", ".") + " đ"


def _page(title: str, content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="vi"><head><meta charset="utf-8">'
                        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
                        f"{content}</body></html>", status_code=status_code)


def _details(payment: SimulatedPayment) -> str:
    rows = [("Mã tham chiếu / Reference", payment.reference),
            ("Số tiền / Amount", _money(payment.amount)),
            ("Nội dung / Description", payment.description),
            ("Người nộp / Payer", payment.customer)]
    if payment.pay_code:
        rows.append(("Mã thanh toán / Payment code", payment.pay_code))
    fees = "".join(f"<li>{escape(str(fee.get('TenPhiLePhi') or fee.get('MaPhiLePhi') or ''))}: "
                   f"{escape(_money(_amount(fee.get('SoTien'))))}</li>" for fee in payment.fees)
    return _table(rows) + (f"<ul>{fees}</ul>" if fees else "")


def _paid_details(payment: SimulatedPayment) -> str:
    rows = [("Số tiền đã nộp / Paid", _money(payment.paid_amount)),
            ("Mã giao dịch / Transaction", payment.transaction_id or ""),
            ("Thời gian / Paid at", _post_time(payment.paid_at) or "")]
    if payment.receipt_number:
        rows.append(("Số biên lai / Receipt", payment.receipt_number))
    link = (f'<p><a href="/receipts/{escape(payment.receipt_number)}">Biên lai / Receipt</a></p>'
            if payment.receipt_number else "")
    return _table(rows) + link


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>"
                    for label, value in rows)
    return f"<table>{cells}</table>"
