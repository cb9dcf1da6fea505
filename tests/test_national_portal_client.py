"""The portal client's session handling and reply classification, against a scripted adapter
(httpx.MockTransport: a fast unit test; the flow tests use the simulator over real HTTP)."""


import httpx
import pytest

from gateway.connectors.national_portal.client import NationalPortalClient
from gateway.connectors.national_portal.config import NationalPortalOptions
from gateway.reliability.errors import FailureKind, classify


def scripted(login_reply: dict, service_reply: dict) -> tuple[NationalPortalClient, list[str]]:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=login_reply if request.url.path == "/login" else service_reply)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return NationalPortalClient(http, "http://portal.test", NationalPortalOptions(), "pw"), calls


async def test_a_busy_login_is_transient_and_a_refused_one_permanent() -> None:
    client, _ = scripted({"error_code": "-9", "message": "busy"}, {"error_code": "0"})
    with pytest.raises(Exception) as busy:
        await client.push_progress([{"MaHoSo": "X"}])
    assert classify(busy.value) is FailureKind.TRANSIENT
    client, _ = scripted({"error_code": "-2", "message": "wrong password"}, {"error_code": "0"})
    with pytest.raises(Exception) as refused:
        await client.push_progress([{"MaHoSo": "X"}])
    assert classify(refused.value) is FailureKind.PERMANENT and "wrong password" in str(refused.value)


@pytest.mark.parametrize("expires_in", [10, "10", 0, None, "soon"])
async def test_a_short_or_odd_session_lifetime_does_not_mean_a_login_per_call(expires_in) -> None:
    client, calls = scripted({"error_code": "0", "session": "s1", "expires_in": expires_in}, {"error_code": "0"})
    for _ in range(5):
        await client.push_progress([{"MaHoSo": "X"}])
    assert calls.count("/login") == 1 and client.logins == 1


async def test_progress_goes_in_chunks_and_other_codes_are_permanent_with_the_message() -> None:
    client, calls = scripted({"error_code": "0", "session": "s", "expires_in": 600}, {"error_code": "0"})
    assert await client.push_progress([{"MaHoSo": str(n)} for n in range(120)]) == 3  # chunks of 50
    client, _ = scripted({"error_code": "0", "session": "s", "expires_in": 600},
                         {"error_code": "-2", "message": "Dữ liệu không hợp lệ"})
    with pytest.raises(Exception) as refused:
        await client.push_dossier({"MaHoSo": "X"})
    assert classify(refused.value) is FailureKind.PERMANENT and "Dữ liệu không hợp lệ" in str(refused.value)
