"""Access to the operator API and console, against a real gateway: embedded Kafka-protocol broker,
SQLite, real HTTP. Every gateway here is started with `console.anonymous_role: none` (the
production default), except where a test says otherwise.

Dead letters are made as the delivery tests make them: the webhook partner simulator refuses a
dossier (422), the webhook connector gives up on it (a PermanentError) and buries it.
"""

import asyncio
import json
import os
import re
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import update
from typer.testing import CliRunner

from gateway.audit.message_log import export as export_message_log
from gateway.connectors.webhook.simulator import WebhookReceiver
from gateway.ops.console.auth import SESSION_COOKIE, TOKEN_ENV, UserError, Users, required_role
from gateway.runtime.app import Gateway, Plan
from gateway.runtime.cli import app as cli_app
from gateway.runtime.roles import select_roles
from gateway.store.tables import ConsoleCredential

from ..conftest import REPO, StartGateway, submitted_event, wait_for

CLOSED = {"anonymous_role": "none"}
FAST_RETRIES = {
    "retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 2,
              "parked_attempts": 3, "parked_delay_s": 0.3, "parked_max_delay_s": 1},
    "breaker": {"failure_threshold": 3, "cool_down_s": 1},
}
PASSWORD = "correct horse battery"
DOSSIER_A = "000.00.15.H12-261122-0701"
DOSSIER_B = "000.00.15.H12-261122-0702"
GATEWAY_BIN = REPO / ".venv" / "bin" / "gateway"
runner = CliRunner()


# --- helpers -----------------------------------------------------------------------------------


def client(gateway: Gateway) -> httpx.AsyncClient:
    """An HTTP client that keeps no cookies: each request carries exactly the credentials it is given."""
    return httpx.AsyncClient(base_url=gateway.running.http_url, timeout=30,
                             cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


async def add_user(gateway: Gateway, name: str, role: str, password: str = PASSWORD) -> Users:
    users = Users(gateway.database, gateway.settings.console)
    await users.add(name, role, password)
    return users


def session_cookie(response: httpx.Response) -> str:
    """The session secret from the sign-in answer's Set-Cookie header."""
    match = re.search(rf"{SESSION_COOKIE}=([^;]+)", response.headers.get("set-cookie", ""))
    assert match, f"no {SESSION_COOKIE} cookie in {response.headers.get('set-cookie')!r}"
    return match.group(1)


async def sign_in(api: httpx.AsyncClient, name: str, password: str = PASSWORD) -> tuple[dict[str, str], str]:
    """Sign in; returns (the Cookie header to send, the session's CSRF token)."""
    response = await api.post("/api/v1/console/session", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Cookie": f"{SESSION_COOKIE}={session_cookie(response)}"}, response.json()["csrf_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def webhook_gateway(start_gateway: StartGateway, receiver: WebhookReceiver, console: dict | None = None,
                          **settings) -> Gateway:
    return await start_gateway(Plan(roles=select_roles(["webhook"]), run_simulators=False),
                               partners={"webhook": {"endpoint": receiver.url, **FAST_RETRIES}},
                               console=console or CLOSED, **settings)


async def webhook_count(gateway: Gateway, outcome: str) -> int:
    return (await gateway.counters.read()).get("webhook", {}).get(outcome, 0)


async def make_dead_letters(gateway: Gateway, receiver: WebhookReceiver, *codes: str) -> dict[str, int]:
    """Submit each dossier through the public intake while the partner refuses it; wait until the
    webhook connector has dead-lettered every one. Returns dossier code -> dead letter id."""
    receiver.refused_dossiers |= set(codes)
    before = await webhook_count(gateway, "dead_lettered")
    async with client(gateway) as api:
        for code in codes:
            response = await api.post("/api/v1/dossiers/events", json=submitted_event(code))
            assert response.status_code == 202, response.text

    async def buried() -> bool:
        return await webhook_count(gateway, "dead_lettered") >= before + len(codes)

    await wait_for(buried, what=f"{len(codes)} dead letter(s)")
    letters = await gateway.context.dead_letters.recent(limit=1000)
    ids = {letter.dossier_code: letter.id for letter in letters if letter.dossier_code in codes}
    assert sorted(ids) == sorted(codes), ids
    return ids


async def letter_state(gateway: Gateway, dead_letter_id: int) -> tuple[int, object]:
    letter = await gateway.context.dead_letters.get(dead_letter_id)
    return letter.replay_count, letter.discarded_at


def mounted_api_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """(method, path template) of every APIRoute the app serves. FastAPI >= 0.165 keeps an included
    router as one `_IncludedRouter` entry of `app.routes`; `iter_route_contexts` flattens them."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts = [(route, route.path) for route in gateway.http_app.routes]
    else:
        contexts = [(context.original_route, context.path) for context in iter_route_contexts(gateway.http_app.routes)]
    return sorted({(method, path) for route, path in contexts if isinstance(route, APIRoute)
                   for method in route.methods})


def operator_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """(method, path) of every mounted API route that needs a role, path parameters filled in."""
    found = set()
    for method, template in mounted_api_routes(gateway):
        path = re.sub(r"\{[^}]+\}", "1", template)
        if required_role(method, path) is not None:
            found.add((method, path))
    return sorted(found)


# --- 1. anonymous callers ---------------------------------------------------------------------


async def test_anonymous_gets_401_on_every_operator_route(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(console=CLOSED)
    routes = operator_routes(gateway)
    assert len(routes) >= 20, routes
    # Spot checks that the list is the real one, not something that merely has 20 entries.
    for expected in [("GET", "/api/v1/dead-letters"), ("POST", "/api/v1/dead-letters/replay"),
                     ("POST", "/api/v1/dead-letters/discard"), ("GET", "/api/v1/console/settings"),
                     ("GET", "/api/v1/console/actions"), ("DELETE", "/api/v1/console/session"),
                     ("GET", "/api/v1/audit/verify")]:
        assert expected in routes
    assert ("POST", "/api/v1/dossiers/events") not in routes  # public: the one-stop system's intake
    # Nothing in the published API escapes the list (the OpenAPI document is built from the same app).
    documented = {(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
                  for path, operations in gateway.http_app.openapi()["paths"].items() for method in operations}
    assert {(m, p) for m, p in documented if required_role(m, p) is not None} <= set(routes)
    answers = {}
    async with client(gateway) as api:
        for method, path in routes:
            body = {} if method in ("GET", "HEAD", "OPTIONS") else {
                "content": b"{not json", "headers": {"Content-Type": "application/json"}}
            answers[(method, path)] = await api.request(method, path, **body)
        malformed = await api.post("/api/v1/dead-letters/replay", content=b"{not json",
                                   headers={"Content-Type": "application/json"})
    wrong = {route: answer.status_code for route, answer in answers.items() if answer.status_code != 401}
    assert wrong == {}, f"operator routes that did not answer 401 to an anonymous caller: {wrong}"
    for route, answer in answers.items():
        assert answer.headers["www-authenticate"].startswith("Bearer"), route
        assert set(answer.json()) == {"detail"} and answer.json()["detail"], route
    assert malformed.status_code == 401, malformed.text  # not 422: the body is never read
    assert malformed.headers["www-authenticate"].startswith("Bearer")
    assert "detail" in malformed.json()


# --- 2. public routes ---------------------------------------------------------------------------


async def test_public_routes_stay_public(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(Plan(roles=[], run_simulators=False), console=CLOSED)
    async with client(gateway) as api:
        health = await api.get("/healthz")
        ready = await api.get("/readyz")
        metrics = await api.get("/metrics")
        page = await api.get("/console")
        intake = await api.post("/api/v1/dossiers/events", json=submitted_event("000.00.15.H12-261122-0601"))
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    assert metrics.status_code == 200 and "# TYPE" in metrics.text
    assert page.status_code == 200, page.text[:500]
    assert page.headers["content-type"].startswith("text/html") and "<html" in page.text.lower()
    assert intake.status_code == 202, intake.text


# --- 3. signing in and out ----------------------------------------------------------------------


async def test_sign_in_session_cookie_and_sign_out(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(Plan(roles=[], run_simulators=False), console=CLOSED)
    await add_user(gateway, "olga", "operator")
    async with client(gateway) as api:
        wrong = await api.post("/api/v1/console/session", json={"name": "olga", "password": "not the password"})
        unknown = await api.post("/api/v1/console/session", json={"name": "nobody", "password": PASSWORD})
        right = await api.post("/api/v1/console/session", json={"name": "olga", "password": PASSWORD})
        assert wrong.status_code == 401 and unknown.status_code == 401
        assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
        assert right.status_code == 200, right.text
        body = right.json()
        assert body["user"] == "olga" and body["role"] == "operator" and body["csrf_token"]
        set_cookie = right.headers["set-cookie"]
        attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
        assert "httponly" in attributes, set_cookie
        assert "samesite=strict" in attributes, set_cookie
        assert "path=/" in attributes, set_cookie
        cookie = {"Cookie": f"{SESSION_COOKIE}={session_cookie(right)}"}

        session = await api.get("/api/v1/console/session", headers=cookie)
        assert session.status_code == 200, session.text
        assert session.json()["user"] == "olga" and session.json()["csrf_token"] == body["csrf_token"]

        out = await api.delete("/api/v1/console/session", headers={**cookie, "X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 204, out.text
        assert f'{SESSION_COOKIE}=""' in out.headers.get("set-cookie", ""), out.headers  # the browser drops it
        after = await api.get("/api/v1/console/session", headers=cookie)
        assert after.status_code == 401, after.text


async def test_five_wrong_passwords_lock_the_name_out(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(Plan(roles=[], run_simulators=False), console=CLOSED)
    users = await add_user(gateway, "mallory-target", "operator")
    await users.add("bystander", "viewer", PASSWORD)
    async with client(gateway) as api:
        for attempt in range(5):
            wrong = await api.post("/api/v1/console/session", json={"name": "mallory-target", "password": f"guess {attempt}"})
            assert wrong.status_code == 401, (attempt, wrong.text)
        sixth = await api.post("/api/v1/console/session", json={"name": "mallory-target", "password": PASSWORD})
        other = await api.post("/api/v1/console/session", json={"name": "bystander", "password": PASSWORD})
    assert sixth.status_code == 401, sixth.text
    assert SESSION_COOKIE not in sixth.headers.get("set-cookie", "")
    assert other.status_code == 200, other.text  # only the name under attack is locked out


# --- 4. and 5. viewers read, never change ---------------------------------------------------------


async def assert_nothing_done(gateway: Gateway, api: httpx.AsyncClient, headers: dict, dead_letter_id: int,
                              code: str) -> None:
    assert await letter_state(gateway, dead_letter_id) == (0, None)
    detail = (await api.get(f"/api/v1/dead-letters/{dead_letter_id}", headers=headers)).json()
    assert detail["replay_count"] == 0 and detail["state"] == "open" and detail["discarded_at"] is None
    actions = await api.get("/api/v1/console/actions", headers=headers)
    assert actions.status_code == 200 and actions.json() == [], actions.text
    log = await export_message_log(gateway.database, code)
    assert [record for record in log if record["channel"] == "console"] == []


async def test_a_viewer_session_reads_but_cannot_replay_or_discard(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await webhook_gateway(start_gateway, receiver)
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A)
    letter = ids[DOSSIER_A]
    await add_user(gateway, "vera", "viewer")
    async with client(gateway) as api:
        cookie, csrf = await sign_in(api, "vera")
        changing = {**cookie, "X-CSRF-Token": csrf}
        flows = await api.get("/api/v1/console/flows", headers=cookie)
        listed = await api.get("/api/v1/dead-letters", headers=cookie)
        replay = await api.post("/api/v1/dead-letters/replay", headers=changing,
                                json={"ids": [letter], "reason": "viewer tries"})
        discard = await api.post("/api/v1/dead-letters/discard", headers=changing,
                                 json={"ids": [letter], "reason": "viewer tries"})
        settings = await api.get("/api/v1/console/settings", headers=cookie)
        assert flows.status_code == 200, flows.text
        assert listed.status_code == 200 and [row["id"] for row in listed.json()] == [letter]
        for refused in (replay, discard, settings):
            assert refused.status_code == 403, refused.text
            assert "operator" in refused.json()["detail"], refused.text
        await assert_nothing_done(gateway, api, cookie, letter, DOSSIER_A)
        # A viewer may sign out (with the CSRF token), and the session ends.
        assert (await api.delete("/api/v1/console/session", headers=changing)).status_code == 204
        assert (await api.get("/api/v1/console/session", headers=cookie)).status_code == 401


async def test_api_tokens_viewer_forbidden_unknown_expired_and_disabled_refused(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await webhook_gateway(start_gateway, receiver)
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A)
    letter = ids[DOSSIER_A]
    users = await add_user(gateway, "vic", "viewer")
    await users.add("otto", "operator", PASSWORD)
    viewer_token = await users.issue_token("vic", "test", days=30)
    with pytest.raises(UserError, match="positive number of days"):
        await users.issue_token("otto", "test", days=-1)
    past_token = await users.issue_token("otto", "test", days=30)
    async with gateway.database.transaction() as session:  # the clock moved on: it expired yesterday
        await session.execute(update(ConsoleCredential).where(ConsoleCredential.label == "test",
                                                              ConsoleCredential.user_name == "otto")
                              .values(expires_at=datetime.now(UTC) - timedelta(days=1)))
    disabled_token = await users.issue_token("otto", "soon disabled", days=30)
    await users.change("otto", disabled=True)
    await users.change("otto", disabled=False)  # enabled again: the old token stays dead

    async with client(gateway) as api:
        cookie, _ = await sign_in(api, "vic")
        session_secret = cookie["Cookie"].split("=", 1)[1]
        read = await api.get("/api/v1/dead-letters", headers=bearer(viewer_token))
        replay = await api.post("/api/v1/dead-letters/replay", headers=bearer(viewer_token),
                                json={"ids": [letter], "reason": "viewer token tries"})
        discard = await api.post("/api/v1/dead-letters/discard", headers=bearer(viewer_token),
                                 json={"ids": [letter], "reason": "viewer token tries"})
        assert read.status_code == 200, read.text
        for refused in (replay, discard):
            assert refused.status_code == 403, refused.text
            assert "operator" in refused.json()["detail"]
        refused_tokens = {
            "unknown": "gwt_" + "A" * 43,
            "made up": "let-me-in",
            "a session secret used as a token": session_secret,
            "expired (expires_at in the past)": past_token,
            "of a disabled user": disabled_token,
        }
        for what, token in refused_tokens.items():
            for method, path in (("GET", "/api/v1/dead-letters"), ("POST", "/api/v1/dead-letters/replay")):
                answer = await api.request(method, path, headers=bearer(token),
                                           json={"ids": [letter], "reason": "should not happen"})
                assert answer.status_code == 401, f"{what} token, {method} {path}: {answer.status_code} {answer.text}"
                assert answer.headers["www-authenticate"].startswith("Bearer")
        await assert_nothing_done(gateway, api, bearer(viewer_token), letter, DOSSIER_A)


# --- 6. CSRF --------------------------------------------------------------------------------------


async def test_cookie_sessions_need_the_csrf_token_bearer_tokens_do_not(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await webhook_gateway(start_gateway, receiver)
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A, DOSSIER_B)
    users = await add_user(gateway, "oscar", "operator")
    token = await users.issue_token("oscar", "script", days=1)
    async with client(gateway) as api:
        cookie, csrf = await sign_in(api, "oscar")
        other_cookie, other_csrf = await sign_in(api, "oscar")  # a second session has its own token
        assert other_csrf != csrf
        body = {"ids": [ids[DOSSIER_A]], "reason": "csrf test"}
        missing = await api.post("/api/v1/dead-letters/replay", headers=cookie, json=body)
        wrong = await api.post("/api/v1/dead-letters/replay", headers={**cookie, "X-CSRF-Token": "forged"}, json=body)
        crossed = await api.post("/api/v1/dead-letters/replay", headers={**cookie, "X-CSRF-Token": other_csrf},
                                 json=body)
        for refused in (missing, wrong, crossed):
            assert refused.status_code == 403, refused.text
            assert "x-csrf-token" in refused.json()["detail"].lower()
        assert await letter_state(gateway, ids[DOSSIER_A]) == (0, None)
        sign_out = await api.delete("/api/v1/console/session", headers=cookie)  # changes need it too
        assert sign_out.status_code == 403, sign_out.text

        right = await api.post("/api/v1/dead-letters/replay", headers={**cookie, "X-CSRF-Token": csrf}, json=body)
        assert right.status_code == 200, right.text
        assert right.json()["replayed"] == [ids[DOSSIER_A]]
        by_token = await api.post("/api/v1/dead-letters/replay", headers=bearer(token),
                                  json={"ids": [ids[DOSSIER_B]], "reason": "script, no csrf header"})
        assert by_token.status_code == 200, by_token.text
        assert by_token.json()["replayed"] == [ids[DOSSIER_B]]
    assert (await letter_state(gateway, ids[DOSSIER_A]))[0] == 1
    assert (await letter_state(gateway, ids[DOSSIER_B]))[0] == 1

    async def refused_again() -> bool:  # the partner still refuses both: let the replays settle before stopping
        return await webhook_count(gateway, "dead_lettered") >= 4

    await wait_for(refused_again, what="the replays dead-lettered again")


# --- 7. operator actions reach the message log ------------------------------------------------------


async def test_operator_replay_and_discard_are_recorded_in_the_message_log(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await webhook_gateway(start_gateway, receiver)
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A, DOSSIER_B)
    replayed, discarded = ids[DOSSIER_A], ids[DOSSIER_B]
    await add_user(gateway, "olivia", "operator")
    delivered_before = await webhook_count(gateway, "delivered")
    assert not any(event["dossier"] == DOSSIER_A for event in receiver.received)

    async with client(gateway) as api:
        cookie, csrf = await sign_in(api, "olivia")
        changing = {**cookie, "X-CSRF-Token": csrf}

        # Personal data is masked in the dead letter's detail (the original message holds it).
        detail = await api.get(f"/api/v1/dead-letters/{replayed}", headers=cookie)
        assert detail.status_code == 200, detail.text
        assert "046190000123" not in detail.text and "0912345678" not in detail.text
        assert "********0123" in detail.text
        assert json.loads(detail.json()["payload"])["dossier"]["code"] == DOSSIER_A

        # A reason is required.
        for path in ("/api/v1/dead-letters/replay", "/api/v1/dead-letters/discard"):
            no_reason = await api.post(path, headers=changing, json={"ids": [replayed]})
            empty_reason = await api.post(path, headers=changing, json={"ids": [replayed], "reason": ""})
            assert no_reason.status_code == 422, no_reason.text
            assert empty_reason.status_code == 422, empty_reason.text
        assert await letter_state(gateway, replayed) == (0, None)

        receiver.refused_dossiers = {DOSSIER_B}  # the partner takes A again
        replay = await api.post("/api/v1/dead-letters/replay", headers=changing,
                                json={"ids": [replayed], "reason": "partner back online"})
        assert replay.status_code == 200, replay.text
        assert replay.json()["replayed"] == [replayed]

        async def delivered() -> bool:
            return (await webhook_count(gateway, "delivered") > delivered_before
                    and any(event["key"] == f"{DOSSIER_A}:submitted" for event in receiver.received))

        await wait_for(delivered, what="the replayed message delivered")

        discard = await api.post("/api/v1/dead-letters/discard", headers=changing,
                                 json={"ids": [discarded], "reason": f"duplicate of {DOSSIER_A}"})
        assert discard.status_code == 200, discard.text
        assert discard.json()["discarded"] == [discarded]
        again = await api.post("/api/v1/dead-letters/replay", headers=changing,
                               json={"ids": [discarded], "reason": "try anyway"})
        assert again.status_code == 409, again.text

        actions = await api.get("/api/v1/console/actions", headers=cookie)
        assert actions.status_code == 200, actions.text
        listed = [(a["user"], a["action"], a["reason"]) for a in actions.json()]
        assert listed == [("olivia", "discard dead letters", f"duplicate of {DOSSIER_A}"),
                          ("olivia", "replay dead letters", "partner back online")], listed

        by_api = await api.get(f"/api/v1/audit/dossiers/{DOSSIER_A}", headers=cookie)
        verify = await api.get("/api/v1/audit/verify", headers=cookie)
        shown = await api.get(f"/api/v1/dead-letters/{discarded}", headers=cookie)
    assert (await letter_state(gateway, replayed))[0] == 1
    assert shown.json()["state"] == "discarded" and shown.json()["discarded_by"] == "olivia"
    assert shown.json()["replay_count"] == 0

    console_a = [r for r in await export_message_log(gateway.database, DOSSIER_A) if r["channel"] == "console"]
    assert len(console_a) == 1, console_a
    assert console_a[0]["partner"] == "operator:olivia"
    assert "partner back online" in console_a[0]["outcome"]
    assert by_api.status_code == 200 and console_a[0]["id"] in [r["id"] for r in by_api.json()]
    console_b = [r for r in await export_message_log(gateway.database, DOSSIER_B) if r["channel"] == "console"]
    assert len(console_b) == 1 and console_b[0]["partner"] == "operator:olivia"
    assert f"duplicate of {DOSSIER_A}" in console_b[0]["outcome"]
    assert verify.status_code == 200 and verify.json()["intact"] is True, verify.text


# --- 8. a closed test network ---------------------------------------------------------------------


async def test_anonymous_viewer_role_reads_but_cannot_change(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    gateway = await webhook_gateway(start_gateway, receiver, console={"anonymous_role": "viewer"})
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A)
    async with client(gateway) as api:
        listed = await api.get("/api/v1/dead-letters")
        flows = await api.get("/api/v1/console/flows")
        replay = await api.post("/api/v1/dead-letters/replay", json={"ids": [ids[DOSSIER_A]], "reason": "anonymous"})
        discard = await api.post("/api/v1/dead-letters/discard", json={"ids": [ids[DOSSIER_A]], "reason": "anonymous"})
        settings = await api.get("/api/v1/console/settings")
    assert listed.status_code == 200 and [row["id"] for row in listed.json()] == [ids[DOSSIER_A]]
    assert flows.status_code == 200, flows.text
    for refused in (replay, discard, settings):
        assert refused.status_code == 403, refused.text
        assert "operator" in refused.json()["detail"]
    assert await letter_state(gateway, ids[DOSSIER_A]) == (0, None)


# --- 9. the CLI -----------------------------------------------------------------------------------


def config_file(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"database:\n  url: sqlite+aiosqlite:///{database}\n", encoding="utf-8")
    return path


def test_cli_users_add_list_duplicate_and_short_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = str(config_file(tmp_path, tmp_path / "users.db"))
    monkeypatch.setenv("NEW_PASSWORD", PASSWORD)
    monkeypatch.setenv("SHORT_PASSWORD", "short")
    added = runner.invoke(cli_app, ["users", "add", "ana", "--role", "operator", "--password-env", "NEW_PASSWORD",
                                    "-c", config])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli_app, ["users", "list", "-c", config])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"ana\s.*operator", listed.stdout), listed.stdout

    duplicate = runner.invoke(cli_app, ["users", "add", "ana", "--role", "viewer", "--password-env", "NEW_PASSWORD",
                                        "-c", config])
    assert duplicate.exit_code == 2, duplicate.output
    assert "user ana exists already" in duplicate.stderr, duplicate.stderr
    assert "Traceback" not in duplicate.output

    short = runner.invoke(cli_app, ["users", "add", "bo", "--role", "viewer", "--password-env", "SHORT_PASSWORD",
                                    "-c", config])
    assert short.exit_code == 2, short.output
    assert "at least 10 characters" in short.stderr, short.stderr
    listed = runner.invoke(cli_app, ["users", "list", "-c", config])
    assert re.search(r"\bana\b", listed.stdout) and not re.search(r"\bbo\b", listed.stdout), listed.stdout


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(GATEWAY_BIN), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_token_works_against_the_running_gateway_and_dlq_needs_it(
        start_gateway: StartGateway, tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    gateway = await start_gateway(Plan(roles=[], run_simulators=False), console=CLOSED,
                                  database={"url": f"sqlite+aiosqlite:///{database}"})
    config = str(config_file(tmp_path, database))
    env = {name: value for name, value in os.environ.items() if name != TOKEN_ENV}
    env |= {"COLUMNS": "200", "CLI_PASSWORD": PASSWORD}
    url = gateway.running.http_url

    code, out, err = await run_cli("users", "add", "cli-op", "--role", "operator", "--password-env", "CLI_PASSWORD",
                                   "-c", config, env=env, cwd=tmp_path)
    assert code == 0, err
    assert {"name": "cli-op", "role": "operator", "disabled": False} in await Users(
        gateway.database, gateway.settings.console).list()  # the gateway's database is the one the CLI wrote
    code, out, err = await run_cli("users", "token", "cli-op", "-c", config, env=env, cwd=tmp_path)
    assert code == 0, err
    token = out.strip()
    assert token.startswith("gwt_") and "\n" not in token, out

    async with client(gateway) as api:
        anonymous = await api.get("/api/v1/dead-letters")
        by_token = await api.get("/api/v1/console/session", headers=bearer(token))
        settings = await api.get("/api/v1/console/settings", headers=bearer(token))
    assert anonymous.status_code == 401
    assert by_token.status_code == 200, by_token.text
    assert by_token.json()["user"] == "cli-op" and by_token.json()["role"] == "operator"
    assert settings.status_code == 200, settings.text

    without, listed = await asyncio.gather(
        run_cli("dlq", "list", "--url", url, env=env, cwd=tmp_path),
        run_cli("dlq", "list", "--json", "--url", url, env={**env, TOKEN_ENV: token}, cwd=tmp_path))
    code, out, err = without
    assert code == 1, out + err
    assert "401" in err and f"set {TOKEN_ENV} to an API token" in err, err
    code, out, err = listed
    assert code == 0, out + err
    assert json.loads(out) == []


# --- reasons --------------------------------------------------------------------------------------


async def test_a_blank_reason_is_no_reason(start_gateway: StartGateway) -> None:
    """A reason of only spaces is no reason: 422 before the route runs (with an unknown id, a
    request that got through would answer 404), as the CLI refuses it too. This test found the
    API taking it once."""
    gateway = await start_gateway(Plan(roles=[], run_simulators=False), console=CLOSED)
    users = await add_user(gateway, "blank", "operator")
    token = await users.issue_token("blank", "test", days=1)
    async with client(gateway) as api:
        answers = {(path, reason): await api.post(path, headers=bearer(token),
                                                  json={"ids": [424242], "reason": reason})
                   for path in ("/api/v1/dead-letters/replay", "/api/v1/dead-letters/discard")
                   for reason in (" ", "   \t\n")}
    statuses = {route: answer.status_code for route, answer in answers.items()}
    assert all(status == 422 for status in statuses.values()), f"a blank reason is accepted: {statuses}"


async def test_a_replay_sends_all_or_nothing_and_once_unless_asked_again(
        start_gateway: StartGateway, receiver: WebhookReceiver) -> None:
    """One letter of a request that cannot be replayed (discarded) stops the whole request before
    anything is sent, with no operator action; a letter replayed already goes again only with
    `again`."""
    gateway = await webhook_gateway(start_gateway, receiver)
    ids = await make_dead_letters(gateway, receiver, DOSSIER_A, DOSSIER_B)
    users = await add_user(gateway, "olga", "operator")
    token = await users.issue_token("olga", "test", days=1)
    async with client(gateway) as api:
        discarded = await api.post("/api/v1/dead-letters/discard", headers=bearer(token),
                                   json={"ids": [ids[DOSSIER_B]], "reason": "sent twice by the one-stop system"})
        assert discarded.status_code == 200, discarded.text
        both = await api.post("/api/v1/dead-letters/replay", headers=bearer(token),
                              json={"ids": [ids[DOSSIER_A], ids[DOSSIER_B]], "reason": "partner back"})
        assert both.status_code == 409 and "discarded" in both.json()["detail"], both.text
        assert await letter_state(gateway, ids[DOSSIER_A]) == (0, None)
        actions = (await api.get("/api/v1/console/actions", headers=bearer(token))).json()
        assert [action["action"] for action in actions] == ["discard dead letters"]

        receiver.refused_dossiers = set()
        first = await api.post("/api/v1/dead-letters/replay", headers=bearer(token),
                               json={"ids": [ids[DOSSIER_A]], "reason": "partner back"})
        second = await api.post("/api/v1/dead-letters/replay", headers=bearer(token),
                                json={"ids": [ids[DOSSIER_A]], "reason": "partner back"})
        again = await api.post("/api/v1/dead-letters/replay", headers=bearer(token),
                               json={"ids": [ids[DOSSIER_A]], "reason": "once more", "again": True})
    assert first.json()["replayed"] == [ids[DOSSIER_A]]
    assert second.status_code == 409 and "replayed already" in second.json()["detail"], second.text
    assert again.json()["replayed"] == [ids[DOSSIER_A]]
    assert (await letter_state(gateway, ids[DOSSIER_A]))[0] == 2
