"""Drive Debian's Chromium through Playwright's executable_path against demo_app.py on 127.0.0.1:
launch flags, sign-in, SSE and polling counters, a POST button, a CSV download, screenshots,
timings, and Vietnamese text under different font sets. Prints what it saw; PNGs in shots/."""

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Error, sync_playwright

HERE = Path(__file__).parent
SHOTS = HERE / "shots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
VIETNAMESE = "Ủy ban nhân dân tỉnh Thừa Thiên Huế — hồ sơ quá hạn, đã tiếp nhận, Đắk Lắk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "demo_app:app", "--host", "127.0.0.1",
                                "--port", str(port), "--log-level", "warning"], cwd=HERE)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None:
                raise SystemExit("demo_app did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def fontconfig(name: str, dirs: list[str]) -> str:
    """A fontconfig file that sees only `dirs`: what a machine with only those fonts shows."""
    path = HERE / f"fonts-{name}.conf"
    cache = HERE / f"fc-cache-{name}"
    body = "".join(f"<dir>{d}</dir>" for d in dirs)
    path.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>{body}'
                    f'<cachedir>{cache}</cachedir><include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>')
    return str(path)


def flags(p) -> None:
    print("== launch flags")
    for label, kwargs in [
        ("no args (Playwright adds its own headless flags)", {}),
        ("--headless --no-sandbox --disable-gpu", {"args": ARGS}),
        ("chromium_sandbox=True, as root", {"chromium_sandbox": True}),
    ]:
        try:
            started = time.perf_counter()
            browser = p.chromium.launch(executable_path=CHROMIUM, timeout=30_000, **kwargs)
            print(f"  {label}: launched in {time.perf_counter() - started:.2f} s, version {browser.version}")
            browser.close()
        except Error as error:
            lines = [line for line in str(error).splitlines() if "sandbox" in line.lower() or "error" in line.lower()]
            print(f"  {label}: FAILED {' | '.join(lines)[:400]}")


def timings(p, base: str) -> None:
    print("== timings (5 launches; each: launch, new page, goto /login)")
    launches, loads = [], []
    for _ in range(5):
        started = time.perf_counter()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        launched = time.perf_counter()
        page = browser.new_page()
        page.goto(base + "/login")
        loaded = time.perf_counter()
        launches.append(launched - started)
        loads.append(loaded - launched)
        browser.close()
    print(f"  launch s: {[round(x, 2) for x in launches]} median {statistics.median(launches):.2f}")
    print(f"  new page + goto s: {[round(x, 3) for x in loads]} median {statistics.median(loads):.3f}")


def flow(p, base: str) -> None:
    print("== flow: sign in, counters, replay, download, screenshots")
    SHOTS.mkdir(exist_ok=True)
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    context = browser.new_context(accept_downloads=True, locale="vi-VN", viewport={"width": 1100, "height": 500})
    page = context.new_page()
    page.goto(base + "/console")
    print("  anonymous /console ->", page.url)
    page.fill("#username", "operator")
    page.fill("#password", "op-pass")
    page.screenshot(path=SHOTS / "login.png")
    started = time.perf_counter()
    page.click("#sign-in")
    page.wait_for_url("**/console")
    print(f"  signed in, console loaded in {time.perf_counter() - started:.3f} s")
    nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    nav = json.loads(nav)
    print(f"  navigation timing ms: responseEnd {nav['responseEnd']:.1f}, domContentLoaded "
          f"{nav['domContentLoadedEventEnd']:.1f}, load {nav['loadEventEnd']:.1f}")
    cookie = [c for c in context.cookies() if c["name"] == "session"][0]
    print(f"  cookie: httpOnly={cookie['httpOnly']} sameSite={cookie['sameSite']}")
    print("  document.cookie sees:", repr(page.evaluate("document.cookie")))
    first_sse = int(page.text_content("#sse") or 0)
    page.wait_for_function("n => Number(document.getElementById('sse').textContent) > n + 3", arg=first_sse,
                           timeout=5000)
    page.wait_for_function("() => Number(document.getElementById('poll').textContent) > 0", timeout=5000)
    print(f"  SSE counter moved {first_sse} -> {page.text_content('#sse')}; poll shows {page.text_content('#poll')}")
    page.screenshot(path=SHOTS / "console.png", full_page=True)
    page.click("#replay")
    page.wait_for_url("**/console")
    print("  replays after click:", page.text_content("#replays"))
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    target = SHOTS / download.suggested_filename
    download.save_as(target)
    print(f"  download: {download.suggested_filename}, {target.stat().st_size} bytes, first bytes "
          f"{target.read_bytes()[:3]!r}, row 2: {target.read_text(encoding='utf-8-sig').splitlines()[1]}")
    # The API under the console with the page's cookie, and without it.
    print("  API with cookie:", page.request.get(base + "/api/ticks").status,
          "; without:", context.request.get(base + "/api/ticks", headers={"Cookie": ""}).status)
    # A POST without the CSRF token, from the signed-in context (a forged form would look like this).
    forged = page.request.post(base + "/replay", form={"csrf": "x"})
    print("  POST /replay with a wrong CSRF token:", forged.status)
    browser.close()


def fonts(p, base: str) -> None:
    print("== Vietnamese text under different font sets (FONTCONFIG_FILE)")
    sets = {
        "none": ["/nonexistent"],
        "liberation-1.07": ["/usr/share/fonts/truetype/liberation"],
        "dejavu": ["/usr/share/fonts/truetype/dejavu"],
        "liberation2": ["/usr/share/fonts/truetype/liberation2"],
        "system": ["/usr/share/fonts"],
    }
    if Path("/usr/share/fonts/truetype/noto").exists():
        sets["noto"] = ["/usr/share/fonts/truetype/noto"]
    html = (f"<html><body style='font-size:26px'><p style='font-family:sans-serif'>sans-serif: {VIETNAMESE}</p>"
            f"<p style='font-family:Arial'>Arial: {VIETNAMESE}</p>"
            f"<p style='font-family:serif'>serif: {VIETNAMESE}</p></body></html>")
    for name, dirs in sets.items():
        env = dict(os.environ, FONTCONFIG_FILE=fontconfig(name, dirs))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env=env)
        page = browser.new_page(viewport={"width": 1400, "height": 200})
        page.set_content(html)
        page.screenshot(path=SHOTS / f"fonts-{name}.png")
        used = "|".join(subprocess.run(["fc-match", "-f", "%{family[0]}", pattern], env=env,
                                       capture_output=True, text=True).stdout or "-"
                        for pattern in ("sans-serif", "Arial", "serif", "system-ui"))
        print(f"  {name}: fc-match sans-serif|Arial|serif|system-ui = {used}  -> shots/fonts-{name}.png")
        browser.close()


def main() -> None:
    with server() as base, sync_playwright() as p:
        flags(p)
        timings(p, base)
        flow(p, base)
        fonts(p, base)


if __name__ == "__main__":
    main()
