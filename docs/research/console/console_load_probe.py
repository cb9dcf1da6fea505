"""A rough preview of 'the console stays responsive while gateway demo runs': the demo's
throughput against a running gateway with no browser, then with headless Chromium polling the
endpoints a console page would read (every second), and the latency of those polls.
Usage: venv/bin/python console_load_probe.py GATEWAY_URL DOSSIERS"""

import json
import statistics
import subprocess
import sys
import threading
import time

from playwright.sync_api import sync_playwright

URL, DOSSIERS = sys.argv[1], int(sys.argv[2])
GATEWAY = "/work/main/.venv/bin/gateway"
POLL_JS = """async (paths) => {
  const timings = [];
  for (const p of paths) { const t = performance.now(); const r = await fetch(p); await r.text(); timings.push([p, performance.now() - t, r.status]); }
  return timings;
}"""
PATHS = ["/api/v1/flows", "/readyz", "/api/v1/dead-letters?limit=50", "/metrics"]


def demo() -> dict:
    out = subprocess.run([GATEWAY, "demo", "--dossiers", str(DOSSIERS), "--url", URL, "--json"],
                         capture_output=True, text=True, cwd="/tmp/consoleresearch/gw", timeout=600)
    return json.loads(out.stdout)


def events(summary: dict) -> int:
    return summary["flows"]["intake"]["delivered"]


closed = demo()
print(f"console closed: {DOSSIERS} dossiers, {events(closed)} events in {closed['seconds']:.1f} s "
      f"-> {events(closed) / closed['seconds']:.1f} events/s, settled={closed['settled']}")

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    page.goto(URL + "/healthz")
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(demo()))
    thread.start()
    while thread.is_alive():
        started = time.perf_counter()
        for path, ms, status in page.evaluate(POLL_JS, PATHS):
            samples[path].append(ms)
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
    thread.join()
    load_started = time.perf_counter()
    page.goto(URL + "/api/v1/flows")
    after_load = (time.perf_counter() - load_started) * 1000
    browser.close()

print(f"console open:   {DOSSIERS} dossiers, {events(result)} events in {result['seconds']:.1f} s "
      f"-> {events(result) / result['seconds']:.1f} events/s, settled={result['settled']}")
for path, values in samples.items():
    values.sort()
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"  poll {path}: n={len(values)} p50={statistics.median(values):.0f} ms p99={p99:.0f} ms max={values[-1]:.0f} ms")
print(f"  page.goto /api/v1/flows after the demo: {after_load:.0f} ms")
