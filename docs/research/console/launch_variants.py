"""Launch variants: the Debian wrapper script vs the binary behind it, and --disable-dev-shm-usage."""
import time
from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
with sync_playwright() as p:
    for path, extra in [("/usr/bin/chromium", []), ("/usr/bin/chromium", ["--disable-dev-shm-usage"]),
                        ("/usr/lib/chromium/chromium", [])]:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            browser = p.chromium.launch(executable_path=path, args=ARGS + extra)
            page = browser.new_page()
            page.set_content("<p>Xin chào</p>")
            ok = page.text_content("p") == "Xin chào"
            browser.close()
            times.append(time.perf_counter() - t)
        print(f"{path} {' '.join(extra) or '(no extra flag)'}: ok={ok} launch+page+close s {[round(x, 2) for x in times]}")
