"""The operator console in a real browser: Debian's Chromium driven by Playwright (its async API:
the sync one cannot run inside the suite's event loop), against a real gateway (embedded broker,
partner simulators over real HTTP) while `gateway demo` pushes dossiers.

Screenshots of every page go to $CONSOLE_SCREENSHOTS (default build/console-screenshots).
"""

import asyncio
import csv
import io
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.domain import Applicant, DossierSubmitted
from gateway.ops.console.auth import Users
from gateway.simulators.demo import run_demo

from ..conftest import REPO, sample_dossier, wait_for

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", REPO / "build/console-screenshots"))
PASSWORD = "correct-horse-battery"
CITIZEN_ID = "001203004567"
REFUSED = "000.00.15.H12-261123-7001"
AGENCIES = {
    "000.00.15.H12": {"name": "Sở Tư pháp", "level": "province"},
    "000.00.21.H12": {"name": "UBND huyện Mường Tè", "level": "district"},
    "000.11.40.H12": {"name": "UBND xã Bum Tở", "level": "commune"},
}

pytestmark = pytest.mark.timeout(420)


def _missing_browser() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    fonts = subprocess.run(["fc-list", ":lang=vi"], check=False, capture_output=True, text=True).stdout if shutil.which("fc-list") else ""
    if not fonts.strip():
        return "no font with Vietnamese letters (apt-get install fonts-dejavu-core): the pages would show boxes"
    return None


@pytest.fixture
def browser_ready() -> None:
    problem = _missing_browser()
    if problem and os.environ.get("CI"):
        pytest.fail(f"the console's browser test cannot run in CI: {problem}")
    if problem:
        pytest.skip(problem)


@pytest.fixture
def partner_secrets(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The shipped VNPost and payment providers, played by their simulators, with fresh secrets."""
    partners = {}
    for file in ("deploy/postal.yaml", "deploy/payments.yaml"):
        for name, partner in yaml.safe_load((REPO / file).read_text())["partners"].items():
            for variable in partner.get("credentials", {}).values():
                monkeypatch.setenv(variable, secrets.token_hex(32))
            partner.setdefault("options", {}).pop("reconcile", None)
            partners[name] = partner
    return partners


async def test_an_operator_watches_traces_replays_and_reports(
    browser_ready, start_gateway, partner_secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import async_playwright, expect

    monkeypatch.setenv("CITIZEN_ID_KEY", secrets.token_hex(16))
    gateway = await start_gateway(console={"anonymous_role": "none"}, agencies=AGENCIES, partners=partner_secrets,
                                  kafka={"consumers_per_subscription": 1})
    users = Users(gateway.database, gateway.settings.console)
    await users.add("lan", "operator", PASSWORD)
    await users.add("minh", "viewer", PASSWORD)
    token = await users.issue_token("lan", "browser test", days=1)
    monkeypatch.setenv("OPERATOR_TOKEN", token)  # the demo reads the flows with it
    url = gateway.running.http_url
    api = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = await context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        # Chromium logs every expected 4xx fetch (the wrong password) as "Failed to load resource".
        page.on("console", lambda message: message.type == "error" and "Failed to load resource" not in message.text
                and problems.append(f"console: {message.text}"))

        # Sign in: a wrong password is refused on the page, the right one opens the console.
        await page.goto(f"{url}/console")
        await _sign_in(page, "lan", "not-the-password")
        await expect(page.locator("#sign-in-error")).to_be_visible()
        await _screenshot(page, "sign-in")
        await _sign_in(page, "lan", PASSWORD)
        await expect(page.locator("#whoami")).to_contain_text("lan")

        # Flows: the counters move while the demo runs (the page polls every 2 s).
        await page.goto(f"{url}/console#/flows")
        intake = page.locator("#flows-table tr[data-flow='intake'] td[data-measure='messages']")
        await expect(intake).to_be_visible()
        seen = [await _all_messages(page)]
        demo = asyncio.create_task(run_demo(gateway.settings, dossiers=60, url=url, timeout_s=180, seed=11,
                                            console=None))
        while not demo.done() and len(set(seen)) < 4:
            await asyncio.sleep(0.5)
            seen.append(await _all_messages(page))
        summary = await demo
        assert summary["settled"], summary
        await asyncio.sleep(2.5)  # one more poll: the settled figures
        seen.append(await _all_messages(page))
        assert len(set(seen)) >= 3 and seen == sorted(seen), f"the counters did not move up live: {seen}"
        await expect(intake).to_have_text(re.compile(r"[1-9]"))
        await _screenshot(page, "flows")

        # A dossier the one-stop system's webhook refuses: it becomes a dead letter.
        webhook = gateway.running.simulators["webhook"]
        async with httpx.AsyncClient(base_url=webhook) as simulator:
            (await simulator.put("/_sim/refusals", json={"dossiers": [REFUSED]})).raise_for_status()
        refused = sample_dossier(REFUSED, applicant=Applicant(full_name="Trần Văn Bình", id_number=CITIZEN_ID,
                                                              phone="0987654321"))
        accepted = await api.post("/api/v1/dossiers/events", json=DossierSubmitted(dossier=refused).model_dump(mode="json"))
        assert accepted.status_code == 202, accepted.text

        async def dead_lettered() -> bool:
            letters = (await api.get("/api/v1/dead-letters", params={"dossier": REFUSED})).json()
            return bool(letters)

        await wait_for(dead_lettered, what="the refused dossier's dead letter")

        # Dossier trace, by a demo dossier's code: across the one-stop system and the national portal.
        code = (await api.get("/api/v1/postal/shipments", params={"limit": 1})).json()
        traced = code[0]["dossier_code"] if code else summary.get("sample_dossier")
        assert traced, "the demo left no dossier to trace"

        async def synced_to_the_portal() -> bool:
            trace = (await api.get("/api/v1/console/trace", params={"dossier": traced})).json()
            return any(entry["system"] == "national_portal" for entry in trace["timeline"])

        await wait_for(synced_to_the_portal, what=f"{traced} at the national portal")
        await page.goto(f"{url}/console#/trace")
        await page.select_option("#trace-kind", "dossier")
        await page.fill("#trace-query", traced)
        await page.click("#trace-search")
        timeline = page.locator("#trace-timeline li")
        await expect(page.locator("#trace-dossier")).to_contain_text(traced)
        systems = set(await page.locator("#trace-timeline li").evaluate_all(
            "items => items.map(item => item.dataset.system)"))
        assert {"one-stop", "national_portal", "postal"} <= systems, systems
        assert await timeline.count() >= 5
        await _screenshot(page, "trace")

        # By the citizen's ID number: found, and shown masked only.
        await page.select_option("#trace-kind", "citizen_id")
        await page.fill("#trace-query", CITIZEN_ID)
        await page.click("#trace-search")
        await expect(page.locator("#trace-dossier")).to_contain_text(REFUSED)
        await expect(page.locator("#trace-dossier")).to_contain_text("********4567")
        assert CITIZEN_ID not in await page.content()

        # Dead letters: inspect (masked), replay with a reason once the partner takes it again.
        async with httpx.AsyncClient(base_url=webhook) as simulator:
            (await simulator.put("/_sim/refusals", json={"dossiers": []})).raise_for_status()
        await page.goto(f"{url}/console#/dead-letters")
        row = page.locator("#dl-table tr[data-dead-letter]", has_text=REFUSED)
        await expect(row).to_have_count(1)
        await row.locator("td").nth(2).click()
        await expect(page.locator("#dl-payload")).to_contain_text("********4567")
        payload = await page.locator("#dl-payload").text_content()
        assert CITIZEN_ID not in payload and "0987654321" not in payload and "Trần Văn Bình" not in payload
        await _screenshot(page, "dead-letters")
        await row.locator("[data-select]").check()
        await page.fill("#dl-reason", "một cửa đã sửa lỗi (the one-stop webhook is fixed)")
        await page.click("#dl-replay-selected")
        await expect(page.locator("#message")).to_be_visible()

        async def delivered() -> bool:
            async with httpx.AsyncClient(base_url=webhook) as simulator:
                received = (await simulator.get("/_sim/received")).json()
            return any(event.get("key") == f"{REFUSED}:submitted" for event in received)

        await wait_for(delivered, what="the replayed dossier at the one-stop webhook")
        await page.goto(f"{url}/console#/trace?dossier={REFUSED}")
        await expect(page.locator("#trace-timeline li[data-system='operator']")).to_contain_text("lan")
        await expect(page.locator("#trace-timeline")).to_contain_text("201")
        await _screenshot(page, "trace-after-replay")

        # Deadlines: the dossiers still waiting for an acceptance decision are listed.
        await page.goto(f"{url}/console#/deadlines")
        await expect(page.locator("#acceptance-table")).to_be_visible()
        await _screenshot(page, "deadlines")

        # The monthly report, and its CSV: the same figures as the API. The demo's parcels were
        # delivered, so some results count as returned by post.
        async def returned_by_post() -> bool:
            total = (await api.get("/api/v1/console/report")).json()["total"]
            return total["returned_by_post"] >= 1

        await wait_for(returned_by_post, what="results returned by post in the report")
        await page.goto(f"{url}/console#/report")
        await expect(page.locator("#report-table")).to_be_visible()
        await _screenshot(page, "report")
        async with page.expect_download() as download_info:
            await page.click("#report-csv")
        download = await download_info.value
        downloaded = Path(await download.path()).read_bytes().decode("utf-8-sig")
        month = download.suggested_filename.removeprefix("bao-cao-").removesuffix(".csv")
        report = (await api.get("/api/v1/console/report", params={"month": month})).json()
        rows = list(csv.reader(io.StringIO(downloaded)))
        assert rows[0][0] == "Cấp" and rows[-1][3] == str(report["total"]["received"])
        assert rows[-1][10] == str(report["total"]["returned_by_post"])
        assert report["total"]["received"] >= 41

        # Settings, and English.
        await page.goto(f"{url}/console#/settings")
        await expect(page.locator("#settings-json")).to_be_visible()
        await _screenshot(page, "settings")
        await page.click("[data-language='en']")
        await page.goto(f"{url}/console#/flows")
        await expect(page.locator("#app-nav")).to_contain_text("Flows")
        await _screenshot(page, "flows-en")

        # A viewer sees the dead letters but no replay or discard, and no settings.
        viewer = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await viewer.goto(f"{url}/console")
        await _sign_in(viewer, "minh", PASSWORD)
        await viewer.goto(f"{url}/console#/dead-letters")
        await expect(viewer.locator("#dl-table")).to_be_visible()
        await expect(viewer.locator("#dl-viewer-note")).to_be_visible()
        for action in ("#dl-replay-selected", "#dl-discard-selected", "#dl-bulk-replay", "[data-select]"):
            await expect(viewer.locator(action)).to_have_count(0)
        await _screenshot(viewer, "dead-letters-viewer")
        await viewer.goto(f"{url}/console#/settings")
        await expect(viewer.locator("#settings-forbidden")).to_be_visible()
        await expect(viewer.locator("#settings-json")).to_have_count(0)
        await browser.close()
    await api.aclose()
    assert not problems, problems
    pages = ("sign-in", "flows", "trace", "dead-letters", "deadlines", "report", "settings", "dead-letters-viewer")
    assert {f"{name}.png" for name in pages} <= {path.name for path in SHOTS.glob("*.png")}


async def _screenshot(page, name: str) -> None:
    """The whole page from its top (tables keep their headers on screen while scrolled: a full-page
    shot taken scrolled would show a header in the middle)."""
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def _sign_in(page, name: str, password: str) -> None:
    await page.fill("#sign-in-name", name)
    await page.fill("#sign-in-password", password)
    await page.click("#sign-in-submit")


async def _all_messages(page) -> int:
    """Messages of every flow in the shown window, as the page shows them."""
    texts = await page.locator("#flows-table td[data-measure='messages']").all_text_contents()
    return sum(int(re.sub(r"\D", "", text) or 0) for text in texts)
