import pytest
from playwright.async_api import async_playwright
from playwright.sync_api import Page, expect, sync_playwright


def test_sync_page_fixture(page: Page, base: str, tmp_path) -> None:
    page.goto(base + "/login")
    page.fill("#username", "viewer")
    page.fill("#password", "view-pass")
    page.click("#sign-in")
    expect(page.locator("#who")).to_have_text("viewer")
    page.click("#replay")  # a viewer: the server answers 403
    assert "operator role needed" in page.content()
    page.screenshot(path=tmp_path / "viewer.png")


async def test_async_api_in_pytest_asyncio(base: str) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium",
                                          args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = await browser.new_page()
        await page.goto(base + "/login")
        assert "Đăng nhập" in await page.title()
        await browser.close()


async def test_sync_api_inside_event_loop_fails(base: str) -> None:
    with pytest.raises(Exception) as raised:
        with sync_playwright():
            pass
    print("sync API inside a running loop:", str(raised.value).splitlines()[0])
