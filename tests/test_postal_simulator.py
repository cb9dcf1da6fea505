"""The postal service simulator over real HTTP: signed orders (and refusals), quotes, cancels,
tracking, parcels walking their paths, and signed tracking callbacks to a stand-in gateway, with
each way the service misbehaves. Signatures and fees are worked out here from
docs/postal-protocol.md, not taken from the simulator."""

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.simulators import framework
from gateway.connectors.postal.simulator import PostalControls, PostalSimulator
from gateway.runtime.serving import LoopbackServer
from gateway.webhooks.signing import hmac_signature, same

SECRET = "bi-mat-buu-chinh"
TOKEN = "token-cua-tinh"
CUSTOMER = "HUE0001"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"
ANSWER_STATUS = {200: "100", 401: "102", 409: "103", 503: "199"}


@dataclass
class Post:
    name: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return self.body["StatusCode"]


class StandInGateway:
    """Takes tracking callbacks as the gateway would: checks the signature, answers a signed
    `{Status, Message, Time}`: 200, 401 for a bad signature, or the statuses a test scripts."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.scripted: list[int] = []  # HTTP statuses for the next posts
        self.sign_answers = True
        self.server = LoopbackServer(host="127.0.0.1", port=0, name="stand-in gateway", graceful_s=0.5)

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self) -> None:
        app = FastAPI()

        @app.post("/api/v1/postal/{name}/tracking")
        async def tracking(name: str, request: Request) -> Response:
            raw = await request.body()
            post = Post(name, dict(request.headers), raw, json.loads(raw))
            self.posts.append(post)
            status = self.scripted.pop(0) if self.scripted else (200 if self.verifies(post) else 401)
            now = datetime.now(VIETNAM).strftime(TIME_FORMAT)
            answer = json.dumps({"Status": ANSWER_STATUS[status], "Message": "ok", "Time": now}).encode()
            headers = {}
            if self.sign_answers:
                stamp = str(int(time.time()))
                headers = {"X-VNPost-Timestamp": stamp,
                           "X-VNPost-Signature": hmac_signature(SECRET, stamp, answer)}
            return Response(answer, status_code=status, headers=headers, media_type="application/json")

        await self.server.start(app)

    def verifies(self, post: Post) -> bool:
        timestamp = post.headers["x-vnpost-timestamp"]
        fresh = abs(time.time() - int(timestamp)) <= 300
        return fresh and same(post.headers["x-vnpost-signature"], hmac_signature(SECRET, timestamp, post.raw))

    def good(self) -> list[Post]:
        return [post for post in self.posts if self.verifies(post)]


@dataclass
class Rig:
    sim: PostalSimulator
    gateway: StandInGateway
    client: httpx.AsyncClient

    async def signed(self, method: str, path: str, body: dict | None = None, *, secret: str = SECRET,
                     timestamp: int | None = None, token: str | None = TOKEN,
                     raw: bytes | None = None) -> httpx.Response:
        if raw is None:
            raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"X-VNPost-Timestamp": stamp, "X-VNPost-Signature": hmac_signature(secret, stamp, raw),
                   "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, path, content=raw, headers=headers)

    async def order(self, number: str, service: str = "DELIVERY", **changes: Any) -> httpx.Response:
        return await self.signed("POST", "/api/orders", order_body(number, service, **changes))

    async def placed(self, number: str, service: str = "DELIVERY", **changes: Any) -> str:
        response = await self.order(number, service, **changes)
        assert response.status_code == 200 and response.json()["Status"] == "100", response.text
        return response.json()["ItemCode"]

    async def cancel(self, item_code: str, number: str) -> httpx.Response:
        return await self.signed("POST", "/api/orders/cancel", {"CustomerCode": CUSTOMER, "ItemCode": item_code,
                                                               "OrderNumber": number, "Reason": "Công dân rút hồ sơ"})

    async def tracking(self, item_code: str) -> httpx.Response:
        return await self.signed("GET", f"/api/orders/{item_code}/tracking")

    async def controls(self, **values: Any) -> None:
        response = await self.client.put("/_sim/controls", json={"step_s": 0} | values)
        assert response.status_code == 200, response.text


def party(province: str = "46", district: str = "474", **changes: Any) -> dict[str, Any]:
    return {"Name": "Nguyễn Thị Lan", "Address": "12 Lê Lợi, phường Phú Hội", "Tel": "0912345678",
            "Email": "lan@example.vn", "ProvinceCode": province, "DistrictCode": district} | changes


def order_body(number: str, service: str = "DELIVERY", **changes: Any) -> dict[str, Any]:
    return {"CustomerCode": CUSTOMER, "OrderNumber": number, "ServiceType": service, "CODAmount": 0,
            "Weight": 500, "Description": "Trả kết quả hồ sơ", "Sender": party(),
            "Receiver": party()} | changes


def codes(posts: list[Post]) -> list[str]:
    return [post.code for post in posts]


def times(events: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.strptime(event["Time"], TIME_FORMAT) for event in events]


def s10(item_code: str) -> bool:
    """EB + 8 digits + the UPU S10 check digit + VN."""
    match = re.fullmatch(r"EB([0-9]{8})([0-9])VN", item_code)
    if match is None:
        return False
    remainder = 11 - sum(int(d) * w for d, w in zip(match[1], (8, 6, 4, 2, 3, 5, 9, 7))) % 11
    return match[2] == {10: "0", 11: "5"}.get(remainder, str(remainder))


@pytest.fixture
async def rig():
    gateway = StandInGateway()
    await gateway.start()
    sim = PostalSimulator("vnpost", SECRET, CUSTOMER, token=TOKEN)
    sim.set_controls(PostalControls(step_s=0))
    await sim.start()
    sim.gateway_url = gateway.url
    try:
        async with httpx.AsyncClient(base_url=sim.url, timeout=5) as client:
            yield Rig(sim, gateway, client)
    finally:
        await asyncio.gather(sim.stop(), gateway.server.stop())


async def test_requests_are_checked(rig: Rig) -> None:
    await rig.controls(auto_advance=False)

    async def refused(response: httpx.Response, status: str, http: int, names: str | None = None) -> None:
        assert response.status_code == http and response.json()["Status"] == status, response.text
        if names:
            assert names in response.json()["Message"]

    sender = party()
    del sender["Tel"]
    await refused(await rig.order("H12-0001", Sender=sender), "101", 400, "Sender.Tel")
    await refused(await rig.order("H12-0001", Receiver=party(DistrictCode="47")), "101", 400, "Receiver.DistrictCode")
    await refused(await rig.order("H12-0001", Weight=30_001), "101", 400, "Weight")
    await refused(await rig.order("H12-0001", ServiceType="EXPRESS"), "101", 400, "ServiceType")
    no_number = order_body("x")
    del no_number["OrderNumber"]
    await refused(await rig.signed("POST", "/api/orders", no_number), "101", 400, "OrderNumber")
    await refused(await rig.order("H12-0001", CustomerCode="DNG0001"), "101", 400, "CustomerCode")
    await refused(await rig.signed("POST", "/api/orders", raw=b"not json"), "101", 400)
    await refused(await rig.order("H12-0001", Receiver=party("99", "999")), "106", 422, "Receiver.ProvinceCode")

    body = order_body("H12-0001")
    await refused(await rig.signed("POST", "/api/orders", body, secret="not-the-secret"), "102", 401)
    await refused(await rig.signed("POST", "/api/orders", body, timestamp=int(time.time()) - 301), "102", 401)
    await refused(await rig.signed("POST", "/api/orders", body, token=None), "102", 401)
    await refused(await rig.signed("POST", "/api/orders", body, token="other"), "102", 401)
    unsigned = await rig.client.post("/api/orders", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    await refused(unsigned, "102", 401)
    await refused(await rig.signed("GET", "/api/orders/EB000000000VN/tracking", secret="nope"), "102", 401)
    await refused(await rig.tracking("EB000000000VN"), "104", 404)
    await refused(await rig.cancel("EB000000000VN", "H12-0001"), "104", 404)
    assert rig.sim.parcels == {}


async def test_a_resent_order_is_idempotent_other_content_conflicts(rig: Rig) -> None:
    await rig.controls(auto_advance=False)
    first, again = await rig.order("H12-0002"), await rig.order("H12-0002")
    assert first.json() == again.json()
    item_code = first.json()["ItemCode"]
    assert s10(item_code), item_code
    assert first.json()["OrderNumber"] == "H12-0002" and first.json()["Fee"] == 18_000
    pickup = await rig.placed("H12-0002", "PICKUP")  # another ServiceType: another order
    assert s10(pickup) and pickup != item_code
    conflict = await rig.order("H12-0002", Weight=800)
    assert conflict.status_code == 409 and conflict.json()["Status"] == "103"
    parcel = rig.sim.parcels[item_code]
    assert parcel.orders == 2 and parcel.order["Weight"] == 500 and len(parcel.events) == 1
    assert list(rig.sim.parcels) == [item_code, pickup]
    assert (await rig.client.get("/_sim/stats")).json()["duplicates_seen"] == 2  # the resend and the conflict


async def test_quotes_follow_the_fee_formula(rig: Rig) -> None:
    async def quote(weight: int, cod: int, receiver_province: str) -> dict[str, Any]:
        body = {"CustomerCode": CUSTOMER, "ServiceType": "DELIVERY", "Weight": weight, "CODAmount": cod,
                "Sender": {"ProvinceCode": "46", "DistrictCode": "474"},
                "Receiver": {"ProvinceCode": receiver_province, "DistrictCode": "001"}}
        response = await rig.signed("POST", "/api/quotes", body)
        assert response.status_code == 200 and response.json()["Status"] == "100", response.text
        return response.json()

    # 1 200 g in the province, no COD: 18 000 + 2 started 500 g above the first (700 g) * 5 000
    assert (await quote(1_200, 0, "46"))["Fee"] == 18_000 + 2 * 5_000
    # 500 g to another province with 2 000 000 COD: 18 000 + 10 000 + 1 % (20 000)
    assert (await quote(500, 2_000_000, "01"))["Fee"] == 18_000 + 10_000 + 20_000
    # 1 000 g (one started 500 g above the first), a small COD: its 1 % (5 000) is raised to 10 000
    assert (await quote(1_000, 500_000, "46"))["Fee"] == 18_000 + 5_000 + 10_000
    assert isinstance((await quote(500, 0, "46"))["EstimatedDays"], int)
    refused = await rig.signed("POST", "/api/quotes", {"CustomerCode": CUSTOMER, "ServiceType": "DELIVERY",
                                                       "Sender": {"ProvinceCode": "46"}, "Receiver": {}})
    assert refused.status_code == 400 and "Sender.DistrictCode" in refused.json()["Message"]
    placed = await rig.order("H12-0003", Weight=1_200, Receiver=party("01", "001"))
    assert placed.json()["Fee"] == 18_000 + 2 * 5_000 + 10_000


async def test_a_delivery_walks_to_delivered_with_verified_callbacks_in_order(rig: Rig) -> None:
    item_code = await rig.placed("H12-0004")
    await rig.sim.settled()
    posts = rig.gateway.posts
    assert codes(posts) == ["1", "3", "4", "5", "6"]
    assert all(rig.gateway.verifies(post) for post in posts) and {post.name for post in posts} == {"vnpost"}
    assert {(post.body["ItemCode"], post.body["OrderNumber"], post.body["ServiceType"]) for post in posts} == {
        (item_code, "H12-0004", "DELIVERY")}
    assert all(post.body["StatusMessage"] and post.body["Location"] and post.body["Reason"] is None
               for post in posts)
    assert len({post.headers["x-vnpost-signature"] for post in posts}) == 5
    events = (await rig.tracking(item_code)).json()["Events"]
    assert [event["StatusCode"] for event in events] == codes(posts)
    stamps = times(events)
    assert all(later > earlier for earlier, later in zip(stamps, stamps[1:])), "totally ordered by Time"
    assert [post.body["Time"] for post in posts] == [event["Time"] for event in events]
    parcel = rig.sim.parcels[item_code]
    assert parcel.state == "6" and [c["kind"] for c in parcel.callbacks] == ["good"] * 5
    assert [answer["status_code"] for answer in parcel.answers] == [200] * 5 and parcel.answer_problems == []
    assert (await rig.client.get("/_sim/stats")).json()["callbacks_sent"] == 5
    assert (await rig.client.get("/_sim/pending")).json() == {"pending": 0}
    listed = (await rig.client.get("/_sim/parcels")).json()
    assert [p["item_code"] for p in listed] == [item_code] and listed[0]["state"] == "6"


async def test_failed_deliveries_end_returned_and_failed_pickups_are_tried_again(rig: Rig) -> None:
    await rig.controls(fail_rate=1, attempts=2, pickup_fail_rate=1)
    delivery = await rig.placed("H12-0005")
    pickup = await rig.placed("H12-0006", "PICKUP")
    await rig.sim.settled()
    events = rig.sim.parcels[delivery].events
    assert [event["StatusCode"] for event in events] == ["1", "3", "4", "5", "7", "5", "7", "8", "9"]
    assert all(bool(event["Reason"]) == (event["StatusCode"] in ("7", "9")) for event in events)
    assert [event["StatusCode"] for event in rig.sim.parcels[pickup].events] == [
        "1", "2", "11", "2", "11", "2", "11", "2", "3", "4", "5", "7", "5", "7", "8", "9"]
    for_delivery = [post for post in rig.gateway.posts if post.body["ItemCode"] == delivery]
    assert codes(for_delivery) == [event["StatusCode"] for event in events]
    assert [post.body["Reason"] for post in for_delivery] == [event["Reason"] for event in events]


async def test_cancel_before_pickup_and_not_after(rig: Rig) -> None:
    await rig.controls(auto_advance=False)
    item_code = await rig.placed("H12-0007", "PICKUP")
    cancelled = await rig.cancel(item_code, "H12-0007")
    assert cancelled.status_code == 200 and cancelled.json()["Status"] == "100"
    assert (await rig.cancel(item_code, "H12-0007")).json()["Status"] == "100", "cancelled already: 100 again"
    picked = await rig.placed("H12-0008", "PICKUP")
    moved = await rig.client.post(f"/_sim/parcels/{picked}/events", json={"code": "3", "reason": None})
    assert moved.status_code == 200 and moved.json()["state"] == "3"
    refused = await rig.cancel(picked, "H12-0008")
    assert refused.status_code == 409 and refused.json()["Status"] == "105"
    await rig.sim.settled()
    parcel = rig.sim.parcels[item_code]
    assert [event["StatusCode"] for event in parcel.events] == ["1", "10"] and parcel.cancels == 2
    for item, path in ((item_code, ["1", "10"]), (picked, ["1", "3"])):
        assert codes([post for post in rig.gateway.posts if post.body["ItemCode"] == item]) == path
    assert (await rig.client.post(f"/_sim/parcels/{picked}/events", json={"code": "12"})).status_code == 422
    assert (await rig.client.post("/_sim/parcels/EB1VN/events", json={"code": "6"})).status_code == 404


async def test_a_cancel_stops_a_walk(rig: Rig) -> None:
    await rig.controls(step_s=0.5)
    item_code = await rig.placed("H12-0009", "PICKUP")
    assert (await rig.cancel(item_code, "H12-0009")).json()["Status"] == "100"
    await rig.sim.settled()
    assert [event["StatusCode"] for event in rig.sim.parcels[item_code].events] == ["1", "10"]


async def test_lost_callbacks_leave_only_tracking(rig: Rig) -> None:
    await rig.controls(lost_rate=1)
    item_code = await rig.placed("H12-0010")
    await rig.sim.settled()
    assert rig.gateway.posts == []
    events = (await rig.tracking(item_code)).json()["Events"]
    assert [event["StatusCode"] for event in events] == ["1", "3", "4", "5", "6"]
    assert {c["kind"] for c in rig.sim.parcels[item_code].callbacks} == {"lost"}


async def test_duplicated_callbacks_are_freshly_signed(rig: Rig) -> None:
    await rig.controls(duplicate_rate=1)
    item_code = await rig.placed("H12-0011")
    await rig.sim.settled()
    posts = rig.gateway.posts
    assert codes(posts) == ["1", "1", "3", "3", "4", "4", "5", "5", "6", "6"]
    assert all(rig.gateway.verifies(post) for post in posts)
    for first, copy in zip(posts[::2], posts[1::2]):
        assert first.raw == copy.raw and first.headers["x-vnpost-signature"] != copy.headers["x-vnpost-signature"]
    assert [c["kind"] for c in rig.sim.parcels[item_code].callbacks] == ["good", "duplicate"] * 5
    stats = (await rig.client.get("/_sim/stats")).json()
    assert stats["callbacks_sent"] == 10 and stats["callbacks_duplicated"] == 5


async def test_reordered_callbacks_come_after_the_next_event(rig: Rig) -> None:
    await rig.controls(reorder_rate=1)
    item_code = await rig.placed("H12-0012")
    await rig.sim.settled()
    assert codes(rig.gateway.posts) == ["3", "1", "5", "4", "6"]
    assert all(rig.gateway.verifies(post) for post in rig.gateway.posts)
    assert [c["kind"] for c in rig.sim.parcels[item_code].callbacks] == ["good", "held", "good", "held", "good"]


async def test_badly_signed_copies_come_first_and_are_not_retried(rig: Rig) -> None:
    await rig.controls(bad_signature_rate=1)
    item_code = await rig.placed("H12-0013")
    await rig.sim.settled()
    posts = rig.gateway.posts
    assert codes(posts) == ["1", "1", "3", "3", "4", "4", "5", "5", "6", "6"]
    assert [rig.gateway.verifies(post) for post in posts] == [False, True] * 5
    parcel = rig.sim.parcels[item_code]
    assert [answer["status_code"] for answer in parcel.answers] == [401, 200] * 5, "a 401 is not retried"
    assert [c["kind"] for c in parcel.callbacks] == ["bad_signature", "good"] * 5
    assert parcel.answer_problems == []


async def test_no_callbacks_when_polling_only(rig: Rig) -> None:
    await rig.controls(callbacks=False)
    item_code = await rig.placed("H12-0014")
    await rig.sim.settled()
    assert rig.gateway.posts == [] and rig.sim.parcels[item_code].callbacks == []
    assert rig.sim.parcels[item_code].state == "6"
    assert (await rig.client.get("/_sim/stats")).json()["callbacks_sent"] == 0


async def test_5xx_answers_are_retried_4xx_are_not(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework, "CALLBACK_FIRST_BACKOFF_S", 0.01)
    await rig.controls(auto_advance=False)
    rig.gateway.scripted = [503]
    item_code = await rig.placed("H12-0015")
    await rig.sim.settled()
    posts = rig.gateway.posts
    assert codes(posts) == ["1", "1"] and all(rig.gateway.verifies(post) for post in posts)
    assert posts[0].headers["x-vnpost-signature"] != posts[1].headers["x-vnpost-signature"], "signed anew"
    parcel = rig.sim.parcels[item_code]
    assert [answer["status_code"] for answer in parcel.answers] == [503, 200]
    assert parcel.callbacks == [{"kind": "good", "StatusCode": "1", "Time": parcel.events[0]["Time"],
                                 "sent": True}]
    rig.gateway.scripted = [409]
    rig.sim.advance(item_code, "3")
    await rig.sim.settled()
    assert codes(posts) == ["1", "1", "3"] and parcel.answers[-1]["status_code"] == 409


async def test_connection_errors_are_retried_and_unsigned_answers_noted(rig: Rig,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework, "CALLBACK_FIRST_BACKOFF_S", 0.01)
    await rig.controls(auto_advance=False)
    rig.gateway.sign_answers = False
    signed_not = await rig.placed("H12-0016")
    await rig.sim.settled()
    assert rig.sim.parcels[signed_not].answer_problems == [
        "HTTP 200: the answer's signature does not hold: the timestamp and signature headers are required"]
    await rig.gateway.server.stop()
    item_code = await rig.placed("H12-0017")
    await rig.sim.settled()
    parcel = rig.sim.parcels[item_code]
    assert parcel.delivery_errors == 5 and parcel.answers == []
    rig.sim.gateway_url = None  # nowhere to call back: recorded as not sent, not an error
    rig.sim.advance(item_code, "3")
    await rig.sim.settled()
    assert parcel.callbacks[-1] == {"kind": "good", "StatusCode": "3", "Time": parcel.events[-1]["Time"],
                                    "sent": False}


async def test_controls_are_checked_and_a_seed_repeats_the_story(rig: Rig) -> None:
    current = (await rig.client.get("/_sim/controls")).json()
    assert current["step_s"] == 0 and current["attempts"] == 2 and current["auto_advance"] is True
    assert (await rig.client.put("/_sim/controls", json={"fail_rate": 2})).status_code == 422
    assert (await rig.client.put("/_sim/controls", json={"attempts": 6})).status_code == 422
    assert (await rig.client.put("/_sim/controls", json={"failrate": 1})).status_code == 422
    stories = []
    for run in range(2):
        await rig.controls(seed=11, fail_rate=0.5, pickup_fail_rate=0.5, lost_rate=0.5, jitter_s=0.001)
        placed = [await rig.placed(f"H12-01{run}{n}", "PICKUP") for n in range(6)]
        await rig.sim.settled()
        stories.append([([e["StatusCode"] for e in rig.sim.parcels[item].events],
                         [c["kind"] for c in rig.sim.parcels[item].callbacks]) for item in placed])
    assert stories[0] == stories[1]
    assert len({tuple(events) for events, _ in stories[0]}) > 1, "the dice do vary between parcels"
    item_code = rig.sim.parcels[next(iter(rig.sim.parcels))].item_code
    assert (await rig.client.get(f"/_sim/parcels/{item_code}")).json()["item_code"] == item_code
    assert (await rig.client.get("/_sim/parcels/EB1VN")).status_code == 404
