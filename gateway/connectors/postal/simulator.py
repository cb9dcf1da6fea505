"""The public postal service (VNPost BCCI) to rehearse against, as docs/postal-protocol.md says.

It checks what the gateway sends (bearer token when one is set, the HMAC-SHA256 signature over
`TIMESTAMP.RAW_BODY` in `X-VNPost-Timestamp` / `X-VNPost-Signature`, 300 s tolerance, the
customer code, the fields), keeps every parcel, walks each one along its path (1, 2 for a
PICKUP, 3, 4, 5, 6; 11 and 2 again on a failed pick-up; 7 and 5 again on a failed delivery, 8
and 9 after the last one; 10 when cancelled before pick-up) and posts every tracking event,
signed, to `{gateway_url}/api/v1/postal/{name}/tracking`, misbehaving as its controls say.

Routes of the service:
  POST /api/orders                      place an order (idempotent per OrderNumber+ServiceType)
  POST /api/quotes                      the fee of an order before placing it
  POST /api/orders/cancel               cancel a parcel not yet picked up
  GET  /api/orders/{ItemCode}/tracking  every event so far, oldest first
Answers `{"Status", "Message", ...}`: 100 ok (200), 101 malformed / a field missing or invalid,
the Message names it (400), 102 bad or stale signature or wrong bearer token (401), 103 same
OrderNumber and ServiceType with other content (409), 104 unknown ItemCode (404), 105 cannot
cancel, already picked up (409), 106 province not served: ProvinceCode "99" (422).
Routes of the simulator:
  GET  /_sim/controls, PUT /_sim/controls   how it misbehaves (PostalControls; PUT re-seeds)
  GET  /_sim/parcels, GET /_sim/parcels/{item}
  POST /_sim/parcels/{item}/events          {"code": "6", "reason": null}: an event now, by hand
  GET  /_sim/pending                        parcel walks and callback tasks still running
"""

import asyncio
import hmac
import itertools
import json
import logging
import random
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.simulators.faults import FaultProfile
from gateway.simulators.framework import CALLBACK_ATTEMPTS, Simulator
from gateway.webhooks.signing import hmac_problem, hmac_signature

log = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-VNPost-Timestamp", "X-VNPost-Signature"
TOLERANCE_S = 300  # how far a request's timestamp may be from now
PICKUP_TRIES = 4  # the 4th pick-up attempt always succeeds
SERVICE_TYPES = ("PICKUP", "DELIVERY")
NOT_SERVED = {"99"}  # province codes outside the service area
FINAL = {"6", "9", "10"}
CANCELLABLE = {"1", "2", "11"}  # not yet picked up
STATUS_MESSAGES = {
    "1": "Đã tiếp nhận đơn hàng", "2": "Bưu tá đang đi thu gom", "3": "Đã thu gom",
    "4": "Đang vận chuyển", "5": "Đang phát", "6": "Phát thành công",
    "7": "Phát không thành công", "8": "Đang chuyển hoàn", "9": "Đã chuyển hoàn",
    "10": "Đã hủy", "11": "Thu gom không thành công",
}
PICKUP_FAILURES = ("Không liên lạc được người gửi", "Người gửi hẹn thu gom lại",
                   "Hồ sơ chưa sẵn sàng")
DELIVERY_FAILURES = ("Không liên lạc được người nhận", "Người nhận vắng nhà",
                     "Địa chỉ người nhận không chính xác")
PROVINCE_NAMES = {"01": "Hà Nội", "46": "Huế", "48": "Đà Nẵng", "79": "TP. Hồ Chí Minh"}
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)  # UPU S10 check digit of an item code

# Fee (docs/postal-protocol.md): base, per started 500 g above the first 500 g, another province,
# cash on delivery (1 %, at least the minimum).
BASE_FEE, WEIGHT_STEP_G, WEIGHT_FEE, OTHER_PROVINCE_FEE = 18_000, 500, 5_000, 10_000
COD_MIN_FEE = 10_000
MAX_COD, MAX_WEIGHT_G, DEFAULT_WEIGHT_G = 100_000_000, 30_000, 500

# Refusals: (Status, HTTP status)
REFUSALS: dict[str, tuple[str, int]] = {
    "malformed": ("101", 400), "unauthorized": ("102", 401), "conflict": ("103", 409),
    "unknown": ("104", 404), "picked_up": ("105", 409), "not_served": ("106", 422),
}


class PostalControls(BaseModel):
    """How the postal service behaves. Rates are probabilities (0 never, 1 always)."""

    model_config = ConfigDict(extra="forbid")

    step_s: float = Field(default=1.0, ge=0, le=3600, description="Time between two states of a parcel")
    jitter_s: float = Field(default=0.0, ge=0, le=3600, description="Random extra time per step, 0..N")
    pickup_fail_rate: float = Field(default=0.0, ge=0, le=1,
                                    description="Per pick-up attempt: 11 with a Reason, then 2 again")
    fail_rate: float = Field(default=0.0, ge=0, le=1,
                             description="Per delivery attempt: 7 with a Reason, then 5 again")
    attempts: int = Field(default=2, ge=1, le=5,
                          description="Delivery attempts; after the last failed one 8, then 9 (returned)")
    duplicate_rate: float = Field(default=0.0, ge=0, le=1,
                                  description="A callback sent twice, the second copy freshly signed")
    reorder_rate: float = Field(default=0.0, ge=0, le=1,
                                description="An event's callback held back and sent after the next one's")
    lost_rate: float = Field(default=0.0, ge=0, le=1,
                             description="An event's callback never sent: only /tracking shows it")
    bad_signature_rate: float = Field(default=0.0, ge=0, le=1,
                                      description="A badly signed copy of a callback first, then the good one")
    callbacks: bool = Field(default=True, description="False: never call back (polling only)")
    auto_advance: bool = Field(default=True,
                               description="False: parcels stay where they are until advanced by hand")
    seed: int | None = Field(default=None, description="Seed for a repeatable story")


class _EventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The StatusCode of the new event (1..11)")
    reason: str | None = Field(default=None, description="Its Reason, if any")


@dataclass
class SimulatedParcel:
    item_code: str
    order_number: str
    service_type: str
    order: dict[str, Any]  # the request body as received
    fee: int
    created_at: datetime  # UTC, whole seconds
    events: list[dict[str, Any]] = field(default_factory=list)  # EVENTs, oldest first
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # {kind, StatusCode, Time, sent}, in order
    answers: list[dict[str, Any]] = field(default_factory=list)  # {StatusCode, status_code, body}
    answer_problems: list[str] = field(default_factory=list)  # answers that did not verify
    delivery_errors: int = 0  # callback attempts that got no answer (connection errors)
    orders: int = 1  # order requests seen for it (resends included)
    cancels: int = 0  # cancel requests seen for it

    @property
    def state(self) -> str:
        return self.events[-1]["StatusCode"] if self.events else ""

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["created_at"] = self.created_at.isoformat()
        record["state"] = self.state
        return record


@dataclass
class _Callback:
    event: dict[str, Any]
    kind: str  # good, duplicate, bad_signature, held; lost: only recorded, never posted
    broken: bool = False


@dataclass
class _Run:
    """What the simulator keeps per parcel besides its record: dice, clock, callback queue."""

    dice: random.Random
    last_at: datetime | None = None  # the Time of the last event
    last_stamp: int = 0  # the last X-VNPost-Timestamp its callbacks carried
    outbox: list[_Callback] = field(default_factory=list)
    held: list[_Callback] = field(default_factory=list)  # a reordered event, for after the next
    walk: asyncio.Task | None = None
    sender: asyncio.Task | None = None


class PostalSimulator(Simulator):
    """The postal service. `name` is the partner (vnpost): callbacks go to the gateway's route for
    it. Tests move parcels with `advance()` and wait with `settled()`."""

    description = "The public postal service (VNPost BCCI): orders, quotes, cancel, tracking callbacks."

    def __init__(self, name: str, secret: str, customer_code: str, faults: FaultProfile | None = None,
                 token: str | None = None) -> None:
        super().__init__(faults)
        self.name = name
        self.secret = secret
        self.customer_code = customer_code
        self.token = token
        self.controls = PostalControls()
        self._random = random.Random(None)
        self.parcels: dict[str, SimulatedParcel] = {}  # ItemCode -> parcel, in creation order
        self._orders: dict[tuple[str, str], str] = {}  # (OrderNumber, ServiceType) -> ItemCode
        self._runs: dict[str, _Run] = {}
        # Serials start from the clock: a restarted simulator must not hand out the codes of parcels
        # a gateway (and its database) already knows, as the real carrier never does.
        self._serials = itertools.count(int(time.time() * 1000) % 90_000_000 + 10_000_000)
        self._tasks: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None

    # Controls and programmatic use (tests, the demo)

    def set_controls(self, controls: PostalControls) -> PostalControls:
        self.controls = controls
        self._random = random.Random(controls.seed)  # a seed replays the same story
        return controls

    @property
    def pending(self) -> int:
        """Parcel walks and callback tasks still running."""
        return sum(1 for task in self._tasks if not task.done())

    async def settled(self) -> None:
        """Wait until every parcel that auto-advances is final and every callback task ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def advance(self, item_code: str, code: str, reason: str | None = None) -> SimulatedParcel:
        """Append an event now and call back. A running walk goes on from the new state."""
        parcel = self.parcels[item_code]
        if code not in STATUS_MESSAGES:
            raise ValueError(f"unknown postal status code {code!r}")
        self._emit(parcel, code, reason)
        return parcel

    # Serving

    def partner_routes(self, router: APIRouter) -> None:
        self._service_routes(router)
        self._control_routes(router)

    def _service_routes(self, router: APIRouter) -> None:
        @router.post("/api/orders")
        async def order(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            if refusal := self._check_order(body):
                return refusal
            return self._place(body)

        @router.post("/api/quotes")
        async def quote(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            if refusal := self._check_quote(body):
                return refusal
            sender, receiver = body["Sender"], body["Receiver"]
            return self._ok("Thành công", Fee=_fee(body),
                            EstimatedDays=2 if sender["ProvinceCode"] == receiver["ProvinceCode"] else 3)

        @router.post("/api/orders/cancel")
        async def cancel(request: Request) -> Response:
            body, refusal = await self._signed_json(request)
            if refusal is not None:
                return refusal
            return self._cancel(body)

        @router.get("/api/orders/{item_code}/tracking")
        async def tracking(item_code: str, request: Request) -> Response:
            _, refusal = await self._signed(request)
            if refusal is not None:
                return refusal
            parcel = self.parcels.get(item_code)
            if parcel is None:
                return self._refuse("unknown", f"Không tìm thấy bưu gửi {item_code} (unknown ItemCode)")
            return self._ok("Thành công", ItemCode=parcel.item_code, OrderNumber=parcel.order_number,
                            ServiceType=parcel.service_type, Events=parcel.events)

    async def _signed(self, request: Request) -> tuple[bytes, JSONResponse | None]:
        """Bearer token (when one is set), then the HMAC headers over the raw body: 102."""
        raw = await request.body()
        if self.token is not None:
            offered = request.headers.get("Authorization", "")
            scheme, _, credentials = offered.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(),
                                                                     self.token.encode()):
                return raw, self._refuse("unauthorized", "Sai hoặc thiếu token (wrong or missing bearer token)")
        problem = hmac_problem(self.secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                               raw, TOLERANCE_S)
        if problem is not None:
            return raw, self._refuse("unauthorized", f"Sai chữ ký hoặc quá hạn ({problem.words})")
        return raw, None

    async def _signed_json(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        raw, refusal = await self._signed(request)
        if refusal is not None:
            return {}, refusal
        body = _json_object(raw)
        if body is None:
            return {}, self._refuse("malformed", "Dữ liệu không phải JSON object (not JSON)")
        return body, None

    def _check_order(self, body: dict[str, Any]) -> JSONResponse | None:
        """The protocol's rules, field by field; the first failure is named."""
        if refusal := self._check_customer(body):
            return refusal
        number = body.get("OrderNumber")
        if not (isinstance(number, str) and number.strip() and len(number) <= 64):
            return self._invalid("OrderNumber", "1–64 ký tự")
        if body.get("ServiceType") not in SERVICE_TYPES:
            return self._invalid("ServiceType", " hoặc ".join(SERVICE_TYPES))
        for party in ("Sender", "Receiver"):
            if problem := _party_problem(body.get(party), party, full=True):
                return self._invalid(*problem)
        if problem := _shipment_problem(body):
            return self._invalid(*problem)
        description = body.get("Description")
        if description is not None and not (isinstance(description, str) and len(description) <= 500):
            return self._invalid("Description", "tối đa 500 ký tự")
        return self._check_served(body)

    def _check_quote(self, body: dict[str, Any]) -> JSONResponse | None:
        if refusal := self._check_customer(body):
            return refusal
        if body.get("ServiceType") not in SERVICE_TYPES:
            return self._invalid("ServiceType", " hoặc ".join(SERVICE_TYPES))
        for party in ("Sender", "Receiver"):
            if problem := _party_problem(body.get(party), party, full=False):
                return self._invalid(*problem)
        if problem := _shipment_problem(body):
            return self._invalid(*problem)
        return self._check_served(body)

    def _check_customer(self, body: dict[str, Any]) -> JSONResponse | None:
        code = body.get("CustomerCode")
        if code in (None, ""):
            return self._invalid("CustomerCode", "bắt buộc (required)")
        if code != self.customer_code:
            return self._invalid("CustomerCode", f"không đúng mã khách hàng ({code!r} is not ours)")
        return None

    def _check_served(self, body: dict[str, Any]) -> JSONResponse | None:
        for party in ("Sender", "Receiver"):
            province = body[party]["ProvinceCode"]
            if province in NOT_SERVED:
                return self._refuse("not_served", f"{party}.ProvinceCode {province}: ngoài vùng phục vụ "
                                                  "(outside the service area)")
        return None

    def _place(self, body: dict[str, Any]) -> JSONResponse:
        """A new parcel, or the one this OrderNumber and ServiceType already name."""
        key = (body["OrderNumber"], body["ServiceType"])
        self.stats.record_key(f"{key[0]}/{key[1]}")
        if (item_code := self._orders.get(key)) is not None:
            parcel = self.parcels[item_code]
            if parcel.order != body:
                return self._refuse("conflict", f"Đơn hàng {key[0]} ({key[1]}) đã tồn tại với nội dung khác "
                                                "(exists with other content)")
            parcel.orders += 1
            return self._placed(parcel)
        parcel = SimulatedParcel(item_code=self._new_item_code(), order_number=key[0], service_type=key[1],
                                 order=body, fee=_fee(body), created_at=datetime.now(UTC).replace(microsecond=0))
        self.parcels[parcel.item_code] = parcel
        self._orders[key] = parcel.item_code
        # Each parcel its own dice, drawn in creation order: concurrent walks do not mix their stories.
        self._runs[parcel.item_code] = _Run(dice=random.Random(self._random.getrandbits(64)))
        log.info("%s simulator: %s %s -> %s", self.name, key[1], key[0], parcel.item_code)
        self._emit(parcel, "1")
        if self.controls.auto_advance:
            run = self._runs[parcel.item_code]
            run.walk = self._track(self._walk(parcel), f"{self.name} walk {parcel.item_code}")
        return self._placed(parcel)

    def _placed(self, parcel: SimulatedParcel) -> JSONResponse:
        return self._ok("Tạo đơn hàng thành công", ItemCode=parcel.item_code, OrderNumber=parcel.order_number,
                        Fee=parcel.fee)

    def _cancel(self, body: dict[str, Any]) -> JSONResponse:
        if refusal := self._check_customer(body):
            return refusal
        item_code = body.get("ItemCode")
        if not (isinstance(item_code, str) and item_code):
            return self._invalid("ItemCode", "bắt buộc (required)")
        reason = body.get("Reason")
        if reason is not None and not isinstance(reason, str):
            return self._invalid("Reason", "phải là chuỗi (a string)")
        parcel = self.parcels.get(item_code)
        if parcel is None:
            return self._refuse("unknown", f"Không tìm thấy bưu gửi {item_code} (unknown ItemCode)")
        number = body.get("OrderNumber")
        if number is not None and number != parcel.order_number:
            return self._invalid("OrderNumber", f"không khớp với {item_code} (not this parcel's)")
        parcel.cancels += 1
        if parcel.state == "10":
            return self._ok("Đơn hàng đã hủy", ItemCode=item_code)
        if parcel.state not in CANCELLABLE:
            return self._refuse("picked_up", f"Bưu gửi {item_code} đã được thu gom, không thể hủy "
                                             "(already picked up)")
        run = self._runs[item_code]
        if run.walk is not None:
            run.walk.cancel()  # the walk stops where it is: no event after 10
        self._emit(parcel, "10")
        return self._ok("Hủy đơn hàng thành công", ItemCode=item_code)

    def _refuse(self, kind: str, message: str) -> JSONResponse:
        code, status = REFUSALS[kind]
        return JSONResponse({"Status": code, "Message": message}, status_code=status)

    def _invalid(self, name: str, rule: str) -> JSONResponse:
        return self._refuse("malformed", f"Thiếu hoặc sai trường {name}: {rule} (missing or invalid {name})")

    def _ok(self, message: str, **fields: Any) -> JSONResponse:
        return JSONResponse({"Status": "100", "Message": message} | fields)

    # Control

    def _control_routes(self, router: APIRouter) -> None:
        @router.get("/_sim/controls", tags=["simulator control"])
        async def controls() -> PostalControls:
            return self.controls

        @router.put("/_sim/controls", tags=["simulator control"])
        async def set_controls(controls: PostalControls) -> PostalControls:
            log.info("%s simulator: controls now %s", self.name, controls.model_dump(exclude_defaults=True))
            return self.set_controls(controls)

        @router.get("/_sim/parcels", tags=["simulator control"])
        async def parcels() -> list[dict[str, Any]]:
            return [parcel.as_dict() for parcel in self.parcels.values()]

        @router.get("/_sim/parcels/{item_code}", tags=["simulator control"])
        async def parcel(item_code: str) -> dict[str, Any]:
            if item_code not in self.parcels:
                raise HTTPException(404, detail=f"no parcel {item_code}")
            return self.parcels[item_code].as_dict()

        @router.post("/_sim/parcels/{item_code}/events", tags=["simulator control"])
        async def event(item_code: str, request: _EventRequest) -> dict[str, Any]:
            if item_code not in self.parcels:
                raise HTTPException(404, detail=f"no parcel {item_code}")
            if request.code not in STATUS_MESSAGES:
                raise HTTPException(422, detail=f"code must be one of {', '.join(STATUS_MESSAGES)}")
            return self.advance(item_code, request.code, request.reason).as_dict()

        @router.get("/_sim/pending", tags=["simulator control"])
        async def pending() -> dict[str, int]:
            return {"pending": self.pending}

    # The parcel's path

    async def _walk(self, parcel: SimulatedParcel) -> None:
        dice = self._runs[parcel.item_code].dice
        try:
            while not parcel.final and self.controls.auto_advance:
                controls = self.controls
                # Dice in a fixed order per step (jitter, then the step's own), so a seed repeats the story.
                jitter = dice.uniform(0, controls.jitter_s) if controls.jitter_s else 0.0
                await asyncio.sleep(controls.step_s + jitter)  # sleep(0) still yields to the loop
                if parcel.final:  # cancelled or advanced by hand meanwhile
                    return
                code, reason = self._next(parcel, dice)
                self._emit(parcel, code, reason)
        except Exception:  # a background task: say so rather than die silently
            log.exception("%s simulator: the walk of %s failed", self.name, parcel.item_code)

    def _next(self, parcel: SimulatedParcel, dice: random.Random) -> tuple[str, str | None]:
        """The state after the current one, and its Reason."""
        controls, state = self.controls, parcel.state
        failures = {code: sum(1 for event in parcel.events if event["StatusCode"] == code) for code in ("7", "11")}
        if state == "1":
            return ("2" if parcel.service_type == "PICKUP" else "3"), None
        if state == "2":
            fails = _roll(dice, controls.pickup_fail_rate)
            if fails and failures["11"] < PICKUP_TRIES - 1:
                return "11", dice.choice(PICKUP_FAILURES)
            return "3", None
        if state == "11":
            return "2", None
        if state in ("3", "4"):
            return str(int(state) + 1), None
        if state == "5":
            if _roll(dice, controls.fail_rate):
                return "7", dice.choice(DELIVERY_FAILURES)
            return "6", None
        if state == "7":
            return ("8", None) if failures["7"] >= controls.attempts else ("5", None)
        if state == "8":
            return "9", f"Chuyển hoàn sau {failures['7']} lần phát không thành công"
        raise ValueError(f"no state after {state!r}")

    def _emit(self, parcel: SimulatedParcel, code: str, reason: str | None = None) -> dict[str, Any]:
        """Append an event now and queue its callbacks, as the dice say."""
        run = self._runs[parcel.item_code]
        now = datetime.now(VIETNAM).replace(microsecond=0)
        # Strictly later than the last event by a second of the reported clock: totally ordered by Time.
        at = now if run.last_at is None or now > run.last_at else run.last_at + timedelta(seconds=1)
        run.last_at = at
        event = {"StatusCode": code, "StatusMessage": STATUS_MESSAGES[code], "Time": at.strftime(TIME_FORMAT),
                 "Location": _location(parcel, code), "Reason": reason}
        parcel.events.append(event)
        controls, dice = self.controls, run.dice
        # Every die is cast, in a fixed order, whatever the others say.
        lost = _roll(dice, controls.lost_rate)
        broken_first = _roll(dice, controls.bad_signature_rate)
        duplicate = _roll(dice, controls.duplicate_rate)
        reorder = _roll(dice, controls.reorder_rate)
        plan: list[_Callback] = []
        if not controls.callbacks:
            pass  # polling only
        elif lost:  # queued all the same, so the record keeps the order of events
            plan = [_Callback(event, "lost")]
        else:
            plan = [_Callback(event, "good")]
            if broken_first:
                plan.insert(0, _Callback(event, "bad_signature", broken=True))
            if duplicate:
                plan.append(_Callback(event, "duplicate"))
        released, run.held = run.held, []
        # Held back until the next event's callbacks went out; never the overtaking one, never a final one.
        if reorder and not released and code not in FINAL and any(c.kind == "good" for c in plan):
            run.held = [_Callback(event, "held", c.broken) if c.kind == "good" else c for c in plan]
            plan = []
        run.outbox.extend(plan + released)
        if run.outbox and (run.sender is None or run.sender.done()):
            run.sender = self._track(self._send_all(parcel, run), f"{self.name} callbacks {parcel.item_code}")
        return event

    # Callbacks

    async def _send_all(self, parcel: SimulatedParcel, run: _Run) -> None:
        """One callback at a time per parcel, in queue order."""
        try:
            while run.outbox:
                await self._post(parcel, run, run.outbox.pop(0))
        except Exception:
            log.exception("%s simulator: callbacks of %s failed", self.name, parcel.item_code)

    async def _post(self, parcel: SimulatedParcel, run: _Run, callback: _Callback) -> None:
        """POST one callback; connection errors and 5xx answers are retried, each attempt signed anew."""
        sent = callback.kind != "lost" and self.gateway_url is not None
        parcel.callbacks.append({"kind": callback.kind, "StatusCode": callback.event["StatusCode"],
                                 "Time": callback.event["Time"], "sent": sent})
        if callback.kind == "lost":
            return
        if self.gateway_url is None:
            log.warning("%s simulator: no gateway to call back about %s", self.name, parcel.item_code)
            return
        url = f"{self.gateway_url}/api/v1/postal/{self.name}/tracking"
        self.stats.callbacks_sent += 1
        if callback.kind == "duplicate":
            self.stats.callbacks_duplicated += 1
        body = {"ItemCode": parcel.item_code, "OrderNumber": parcel.order_number,
                "ServiceType": parcel.service_type} | callback.event
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        def answered(response: httpx.Response) -> None:
            parcel.answers.append({"StatusCode": callback.event["StatusCode"], "status_code": response.status_code,
                                   "body": _body_of(response)})
            self._check_answer(parcel, response)

        def failed(attempt: int, error: Exception) -> None:
            parcel.delivery_errors += 1
            log.warning("%s simulator: callback %s of %s, attempt %d: %r", self.name, callback.event["StatusCode"],
                        parcel.item_code, attempt, error)

        if not await self.post_until_answered(self._http(), url,
                                              lambda: (raw, self._sign(run, raw, callback.broken)),
                                              on_answer=answered, on_error=failed):
            log.warning("%s simulator: gave up calling back %s of %s after %d attempts", self.name,
                        callback.event["StatusCode"], parcel.item_code, CALLBACK_ATTEMPTS)

    def _sign(self, run: _Run, raw: bytes, broken: bool) -> dict[str, str]:
        # A parcel's posts never share a timestamp: the same body within one second would get the same
        # signature, which the gateway rightly takes for a replay. A broken one is signed with another secret.
        stamp = max(int(time.time()), run.last_stamp + 1)
        run.last_stamp = stamp
        secret = self.secret + "-wrong" if broken else self.secret
        return {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: hmac_signature(secret, str(stamp), raw)}

    def _check_answer(self, parcel: SimulatedParcel, response: httpx.Response) -> None:
        """The gateway signs its answers; one that does not verify is noted, not resent. A 5xx may come
        from something in front of the gateway, so only answers below 500 are checked."""
        if response.status_code >= 500:
            return
        where = f"HTTP {response.status_code}"
        problem = hmac_problem(self.secret, response.headers.get(TIMESTAMP_HEADER),
                               response.headers.get(SIGNATURE_HEADER), response.content, TOLERANCE_S)
        if problem is not None:
            parcel.answer_problems.append(f"{where}: the answer's signature does not hold: {problem.words}")
        body = _json_object(response.content)
        if body is None or "Status" not in body:
            parcel.answer_problems.append(f"{where}: answer without Status")

    # Plumbing

    def _track(self, work, name: str) -> asyncio.Task:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # one client, its connections reused by every callback
            self._client = httpx.AsyncClient(timeout=10)
        return self._client

    def _new_item_code(self) -> str:
        while True:
            serial = f"{next(self._serials) % 100_000_000:08d}"
            code = f"EB{serial}{_s10_check_digit(serial)}VN"
            if code not in self.parcels:
                return code

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        self._http()

    async def stop(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await super().stop()


def _roll(dice: random.Random, rate: float) -> bool:
    return rate > 0 and dice.random() < rate


def _fee(body: dict[str, Any]) -> int:
    """18 000 đồng, 5 000 per started 500 g above the first 500 g, 10 000 across provinces, and 1 % of
    the COD amount (rounded up to the đồng, at least 10 000) when there is one. Fields checked already."""
    weight = body.get("Weight") or DEFAULT_WEIGHT_G
    cod = body.get("CODAmount") or 0
    fee = BASE_FEE + WEIGHT_FEE * -(-max(0, weight - WEIGHT_STEP_G) // WEIGHT_STEP_G)
    if body["Sender"]["ProvinceCode"] != body["Receiver"]["ProvinceCode"]:
        fee += OTHER_PROVINCE_FEE
    if cod > 0:
        fee += max(COD_MIN_FEE, -(-cod // 100))
    return fee


def _party_problem(party: Any, name: str, *, full: bool) -> tuple[str, str] | None:
    """(field, rule) of the first thing wrong with a Sender or Receiver; a quote needs only its codes."""
    if not isinstance(party, dict):
        return name, "bắt buộc, một object (a required object)"
    if full:
        for part in ("Name", "Address"):
            if not (isinstance(party.get(part), str) and party[part].strip()):
                return f"{name}.{part}", "bắt buộc (required)"
        if not _digits(party.get("Tel"), 9, 11):
            return f"{name}.Tel", "9–11 chữ số (9 to 11 digits)"
    if not _digits(party.get("ProvinceCode"), 2, 2):
        return f"{name}.ProvinceCode", "2 chữ số (2 digits)"
    if not _digits(party.get("DistrictCode"), 3, 3):
        return f"{name}.DistrictCode", "3 chữ số (3 digits)"
    if full and party.get("Email") is not None and not isinstance(party["Email"], str):
        return f"{name}.Email", "phải là chuỗi (a string)"
    return None


def _shipment_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """Weight and CODAmount: optional integers in range (null taken as absent)."""
    if body.get("Weight") is not None and not _integer(body["Weight"], 1, MAX_WEIGHT_G):
        return "Weight", f"số nguyên 1..{MAX_WEIGHT_G} gam (integer grams)"
    if body.get("CODAmount") is not None and not _integer(body["CODAmount"], 0, MAX_COD):
        return "CODAmount", f"số nguyên 0..{MAX_COD} đồng (integer đồng)"
    return None


def _digits(value: Any, shortest: int, longest: int) -> bool:
    return isinstance(value, str) and re.fullmatch(rf"[0-9]{{{shortest},{longest}}}", value) is not None


def _integer(value: Any, lowest: int, highest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= highest


def _location(parcel: SimulatedParcel, code: str) -> str:
    """Where an event happens: the sender's post office before transit and on return, the sorting
    centre in transit, the receiver's post office on delivery."""
    if code == "4":
        return "Trung tâm khai thác vận chuyển"
    party = parcel.order["Receiver"] if code in ("5", "6", "7") else parcel.order["Sender"]
    province = PROVINCE_NAMES.get(party["ProvinceCode"], f"tỉnh {party['ProvinceCode']}")
    return f"Bưu cục {province} ({party['DistrictCode']})"


def _s10_check_digit(serial: str) -> str:
    remainder = 11 - sum(int(digit) * weight for digit, weight in zip(serial, S10_WEIGHTS)) % 11
    return {10: "0", 11: "5"}.get(remainder, str(remainder))


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
