"""The operator console under load: its page load times, and `gateway demo`'s throughput with the
console open vs closed, beside baselines measured in the same run.

    .venv/bin/python -m bench.console [--dossiers 300] [--rounds 2] [--database URL]

One gateway runs as `gateway up` in its own process (embedded broker, SQLite in a temp dir unless
--database says otherwise), with a console operator and an API token made by `gateway users`.
Headless Debian Chromium (/usr/bin/chromium) drives the console through Playwright; this process
also runs the demo (`run_demo`, 16 requests in flight, as `gateway demo --url` does).

  1. Page load, console idle: each page (flows, trace of one dossier, dead letters, deadlines,
     report, settings) loaded 5 times from about:blank, timed from navigation to /console#/PAGE
     until the page's own table or section is drawn (its data fetched from the API).
     Baseline, same browser, same way: GET /console/static/console.css and GET /healthz to their
     `load` event (the floor of Playwright + Chromium + HTTP on this machine).
  2. Throughput: rounds of the demo, closed, open, open, closed... (--rounds pairs) after a small
     warm-up. Closed: Chromium runs with no console page. Open: one tab on Flows (it polls
     /api/v1/console/flows every 2 s) and a second tab reloading a dossier's Trace page every 2 s.
     Events/s = the demo's own count of events sent, over its own elapsed time (submit until every
     consumer has handled them). Baseline: the closed rounds.
  3. Under load (open rounds): /api/v1/console/flows latency as the browser sees it (Playwright
     request timing of each poll, start to response end), the trace reloads, and one Flows page
     load a few seconds into the demo. Baseline: the same figures with the gateway idle.

Read the ratios: open / closed for throughput (1.00 = the console costs the pipeline nothing).
Here Chromium shares the machine's CPUs with the gateway, its broker and the demo, so the ratio
also carries the browser's own CPU; "gateway CPU ms per event" (open / closed) is the gateway's
part alone (the extra API calls it answers). Under load / idle for latencies: how much slower the
console feels while the demo runs. Noise: "spread between rounds" is what two rounds of the same
mode differ by; an open / closed ratio inside it says nothing. Other work on the machine shows in
the load averages; rounds go closed, open, open, closed, so a machine getting busier (or a
database getting bigger) over the run weighs on both modes alike.
"""

import argparse
import asyncio
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from importlib.metadata import version as package_version
from pathlib import Path

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from bench.pipeline import start_gateway
from gateway.ops.console.auth import TOKEN_ENV, token_headers
from gateway.runtime.config import load_settings
from gateway.simulators.demo import run_demo
from gateway.simulators.onegate import OneGateSimulator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
LOADS = 5                # page loads per page, console idle
TICK_S = 2.0             # console.js polls Flows this often; the trace tab reloads this often
IDLE_POLL_S = 10.0       # the Flows page left polling this long on an idle gateway (the baseline)
FLOWS_LOAD_AT_S = 4.0    # into each open round: the Flows page loaded once in a third tab
WARM_UP_DOSSIERS = 20    # before anything is timed: warms the gateway, gives the pages data
DEMO_TIMEOUT_S = 300.0   # the demo's wait for the flows to settle
SELECTOR_TIMEOUT_MS = 30_000
USER, PASSWORD_ENV = "bench-operator", "BENCH_CONSOLE_PASSWORD"
FLOWS_API = "/api/v1/console/flows"

# Each page, the address after /console, and what shows it is drawn (its data arrived).
PAGES = {
    "flows": ("#/flows", "#flows-table tr[data-flow]"),
    "trace": ("#/trace?dossier={dossier}", '#trace-dossier[data-dossier="{dossier}"]'),
    "dead-letters": ("#/dead-letters", "#dl-table thead"),
    "deadlines": ("#/deadlines", "#acceptance-table"),
    "report": ("#/report", "#report-table"),
    "settings": ("#/settings", "#users-table"),
}


class BenchFailure(Exception):
    """The benchmark cannot go on; the message says why."""


def ms(seconds: float) -> float:
    return seconds * 1000


def median_max(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


def seeds(count: int) -> list[int]:
    """Demo seeds whose dossier codes differ (a code carries a 3-digit run number drawn from the seed)."""
    chosen, runs, seed = [], set(), 0
    while len(chosen) < count:
        seed += 1
        run = OneGateSimulator(seed).dossier(1).code.rsplit("-", 1)[1][:3]
        if run not in runs:
            runs.add(run)
            chosen.append(seed)
    return chosen


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# ---------- the gateway and its users ----------

def gateway_cli(workdir: Path, env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run([sys.executable, "-m", "gateway", *arguments], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BenchFailure(f"`gateway {' '.join(arguments)}` failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    return result.stdout


def stop_gateway(process: subprocess.Popen, log: Path) -> None:
    """SIGINT, then kill after a timeout (and the embedded broker it started, if it outlives it)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
        return
    except subprocess.TimeoutExpired:
        pass
    print("the gateway did not stop within 30 s of SIGINT: killed", file=sys.stderr)
    process.kill()
    process.wait(10)
    if match := re.search(r"embedded_broker_pid=(\d+)", log.read_text(errors="replace")):
        try:
            os.kill(int(match.group(1)), signal.SIGKILL)
        except OSError:
            pass


def demo(url: str, dossiers: int, seed: int) -> dict:
    """One `gateway demo` against the gateway at url (never one of its own)."""
    try:
        if httpx.get(f"{url}/healthz", timeout=5).status_code != 200:
            raise BenchFailure(f"the gateway at {url} is not healthy before a demo round")
    except httpx.HTTPError as error:
        raise BenchFailure(f"the gateway at {url} does not answer before a demo round: {error}") from None
    summary = asyncio.run(run_demo(load_settings(), dossiers=dossiers, url=url, timeout_s=DEMO_TIMEOUT_S,
                                   seed=seed, console=None))
    if summary["gateway"] != url:
        raise BenchFailure(f"the demo drove {summary['gateway']}, not the benchmark's gateway {url}")
    return summary


class DemoThread(threading.Thread):
    """The demo in a thread of its own (its own event loop), so the browser is driven meanwhile."""

    def __init__(self, url: str, dossiers: int, seed: int) -> None:
        super().__init__(daemon=True, name=f"demo-{seed}")
        self.arguments = (url, dossiers, seed)
        self.summary: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = demo(*self.arguments)
        except BaseException as error:  # handed to the main thread
            self.error = error

    def result(self) -> dict:
        self.join()
        if self.error is not None:
            raise BenchFailure(f"the demo failed: {type(self.error).__name__}: {self.error}") from self.error
        return self.summary


# ---------- the browser ----------

class Browser:
    """One Chromium with one signed-in console context; notes what goes wrong in its pages."""

    def __init__(self, playwright, url: str) -> None:
        self.url = url
        self.problems: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()  # what the benchmark itself causes
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.context = self.browser.new_context()

    def page(self, watch: bool = True):
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.problems.update([f"page error: {error}"]))
        if watch:  # not on the sign-in page, where GET /api/v1/console/session answers 401 as it should
            page.on("console", self._console)
            page.on("response", lambda response: response.status >= 400 and self.problems.update(
                [f"HTTP {response.status}: {response.request.method} {response.url.removeprefix(self.url)}"]))
            page.on("requestfailed", self._failed)
        return page

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):  # asked by Chromium for the baselines' CSS and JSON documents
            self.ignored.update(["/favicon.ico 404 (the baseline documents have no icon)"])
        else:
            self.problems.update([f"console error: {message.text} ({where.removeprefix(self.url)})"])

    def _failed(self, request) -> None:
        if "ERR_ABORTED" in (request.failure or ""):
            self.ignored.update(["requests aborted by the benchmark's own navigations"])
        else:
            self.problems.update([f"request failed: {request.url.removeprefix(self.url)} {request.failure}"])

    def sign_in(self, password: str) -> None:
        page = self.page(watch=False)
        page.goto(f"{self.url}/console")
        page.fill("#sign-in-name", USER)
        page.fill("#sign-in-password", password)
        page.click("#sign-in-submit")
        try:
            page.wait_for_selector("#app-nav", state="visible", timeout=SELECTOR_TIMEOUT_MS)
        except PlaywrightError:
            error = page.text_content("#sign-in-error") or "(no message)"
            raise BenchFailure(f"could not sign in to the console as {USER}: {error}") from None
        page.close()

    def close(self) -> None:
        self.browser.close()


def drawn(page, selector: str, what: str) -> None:
    """Wait until the selector shows; a clear failure (with the console's own message) if it does not."""
    try:
        page.wait_for_selector(selector, timeout=SELECTOR_TIMEOUT_MS)
    except PlaywrightError:
        message = page.evaluate("() => document.querySelector('#message-text')?.textContent || ''")
        raise BenchFailure(f"{what}: {selector} did not show within {SELECTOR_TIMEOUT_MS / 1000:.0f} s"
                           f"{f' (the console says: {message})' if message else ''}") from None


def load_ms(page, url: str, selector: str | None, what: str) -> float:
    """From about:blank: navigation to url until selector shows (or until `load`, without one)."""
    page.goto("about:blank")
    started = time.perf_counter()
    response = page.goto(url)
    if selector:
        drawn(page, selector, what)
    elif response is None or response.status != 200:
        raise BenchFailure(f"{what}: HTTP {response.status if response else '(no response)'}")
    return ms(time.perf_counter() - started)


def page_address(browser: Browser, name: str, dossier: str) -> tuple[str, str]:
    route, selector = PAGES[name]
    return f"{browser.url}/console{route.format(dossier=dossier)}", selector.format(dossier=dossier)


def flows_poll_timings(page) -> list[float]:
    """Collects the latency (ms, request start to response end) of every flows API call of the page."""
    latencies: list[float] = []

    def finished(request) -> None:
        if request.url.split("?")[0].endswith(FLOWS_API) and request.timing["responseEnd"] >= 0:
            latencies.append(request.timing["responseEnd"])  # ms after the request's startTime

    page.on("requestfinished", finished)
    return latencies


def idle_page_loads(browser: Browser, dossier: str) -> dict[str, list[float]]:
    page = browser.page()
    loads: dict[str, list[float]] = {}
    for name, path in (("console.css", "/console/static/console.css"), ("healthz", "/healthz")):
        loads[name] = [load_ms(page, browser.url + path, None, f"GET {path}") for _ in range(LOADS)]
    for name in PAGES:
        url, selector = page_address(browser, name, dossier)
        loads[name] = [load_ms(page, url, selector, f"the {name} page") for _ in range(LOADS)]
    page.close()
    return loads


def idle_flows_polls(browser: Browser) -> list[float]:
    """The Flows page left open on the idle gateway: its polls' latencies."""
    page = browser.page()
    latencies = flows_poll_timings(page)
    url, selector = page_address(browser, "flows", "")
    page.goto(url)
    drawn(page, selector, "the flows page")
    page.wait_for_timeout(IDLE_POLL_S * 1000)
    page.close()
    return latencies


def open_round(browser: Browser, url: str, dossiers: int, seed: int, dossier: str) -> dict:
    """A demo while one tab shows Flows (polling) and another reloads a dossier's trace every 2 s."""
    flows_tab = browser.page()
    polls = flows_poll_timings(flows_tab)
    flows_url, flows_selector = page_address(browser, "flows", dossier)
    flows_tab.goto(flows_url)
    drawn(flows_tab, flows_selector, "the flows page")
    trace_tab = browser.page()
    trace_url, trace_selector = page_address(browser, "trace", dossier)
    trace_tab.goto(trace_url)
    drawn(trace_tab, trace_selector, "the trace page")

    reloads: list[float] = []
    flows_load = None  # (ms, whether the demo was still running when it was drawn)
    polls.clear()
    thread = DemoThread(url, dossiers, seed)
    started = time.monotonic()
    thread.start()
    tick = started
    while thread.is_alive():
        if flows_load is None and time.monotonic() - started >= FLOWS_LOAD_AT_S:
            third = browser.page()
            flows_load = (load_ms(third, flows_url, flows_selector, "the flows page under load"), thread.is_alive())
            third.close()
        else:
            reload_started = time.perf_counter()
            trace_tab.reload()
            drawn(trace_tab, trace_selector, "the trace page under load")
            reloads.append(ms(time.perf_counter() - reload_started))
        tick += TICK_S
        while thread.is_alive() and time.monotonic() < tick:
            trace_tab.wait_for_timeout(min(100.0, max(1.0, ms(tick - time.monotonic()))))
    summary = thread.result()
    trace_tab.close()
    flows_tab.close()
    return {"summary": summary, "polls": list(polls), "reloads": reloads, "flows_load": flows_load}


def closed_round(url: str, dossiers: int, seed: int) -> dict:
    thread = DemoThread(url, dossiers, seed)
    thread.start()
    return {"summary": thread.result()}


# ---------- the run ----------

def run(dossiers: int, rounds: int, database_url: str) -> int:
    load_at_start = os.getloadavg()  # 1, 5 and 15 minutes: other work sharing the CPUs
    password = "bench-" + os.urandom(12).hex()
    with tempfile.TemporaryDirectory(prefix="gateway-console-bench-") as workdir:
        workdir = Path(workdir)
        database_url = database_url.replace("{workdir}", str(workdir))
        env = {**os.environ, "GATEWAY_DATABASE_URL": database_url, "GATEWAY_LOG_LEVEL": "WARNING",
               PASSWORD_ENV: password}
        process, url, _ = start_gateway(workdir, database_url)
        log = workdir / "gateway.log"
        browser = None
        try:
            gateway_cli(workdir, env, "users", "add", USER, "--role", "operator", "--password-env", PASSWORD_ENV)
            os.environ[TOKEN_ENV] = gateway_cli(workdir, env, "users", "token", USER, "--label", "bench").split()[-1]
            warm_up_seed, *round_seeds = seeds(1 + 2 * rounds)
            warm_up = demo(url, WARM_UP_DOSSIERS, warm_up_seed)
            # The first dossier of the warm-up, for the trace page (its code is the simulator's own).
            dossier = OneGateSimulator(warm_up_seed).dossier(1).code
            found = httpx.get(f"{url}/api/v1/console/trace", params={"dossier": dossier}, headers=token_headers())
            if found.status_code != 200:
                raise BenchFailure(f"dossier {dossier} of the warm-up is not found by the trace API "
                                   f"(HTTP {found.status_code}: {found.text[:200]})")

            with sync_playwright() as playwright:
                browser = Browser(playwright, url)
                browser.sign_in(password)
                idle_loads = idle_page_loads(browser, dossier)
                idle_polls = idle_flows_polls(browser)
                results = []
                for number in range(2 * rounds):
                    # closed, open, open, closed, ...: a machine getting busier or a database
                    # getting bigger weighs on both modes alike.
                    mode = ("closed", "open", "open", "closed")[number % 4]
                    cpu_before = cpu_seconds(process.pid)
                    if mode == "open":
                        result = open_round(browser, url, dossiers, round_seeds[number], dossier)
                    else:
                        result = closed_round(url, dossiers, round_seeds[number])
                    cpu_after = cpu_seconds(process.pid)
                    result["mode"] = mode
                    result["load_1m"] = os.getloadavg()[0]  # other work on the machine shows here
                    result["gateway_cpu_s"] = None if None in (cpu_before, cpu_after) else cpu_after - cpu_before
                    results.append(result)
                version = browser.browser.version
                problems, ignored = browser.problems, browser.ignored
                browser.close()
                browser = None
            log_errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
        finally:
            if browser is not None:
                try:
                    browser.close()
                except PlaywrightError:
                    pass
            stop_gateway(process, log)

    return print_report(dossiers=dossiers, database_url=database_url, version=version, load_at_start=load_at_start,
                        warm_up=warm_up, dossier=dossier, idle_loads=idle_loads, idle_polls=idle_polls,
                        results=results, problems=problems, ignored=ignored, log_errors=log_errors)


def events(summary: dict) -> int:
    """The demo's own count of the events it sent: dossiers plus the status steps of those it
    processed (summary["flows"]["intake"]["sent"], set by the demo, not read from the gateway)."""
    return summary["flows"]["intake"]["sent"]


def rate(summary: dict) -> float:
    # summary["seconds"]: the demo's own clock, from its first request until every consumer
    # (ledger, national portal, webhook) has handled what it sent, or its timeout.
    return events(summary) / summary["seconds"]


def print_report(*, dossiers: int, database_url: str, version: str, load_at_start: tuple, warm_up: dict,
                 dossier: str, idle_loads: dict, idle_polls: list, results: list, problems: Counter,
                 ignored: Counter, log_errors: list) -> int:
    closed = [r for r in results if r["mode"] == "closed"]
    opened = [r for r in results if r["mode"] == "open"]
    print(f"Console under load: `gateway up` in its own process, embedded broker, database "
          f"{database_url.split(':')[0]}; `gateway demo` of {dossiers} dossiers, 16 in flight, "
          f"{len(closed)} rounds console closed and {len(opened)} open, in the order closed, open, open, closed")
    print(f"machine: {os.cpu_count()} CPUs, load average at start {' '.join(f'{v:.2f}' for v in load_at_start)} "
          f"and end {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"Python {platform.python_version()}, Chromium {version} (headless, {CHROMIUM}), "
          f"Playwright {package_version('playwright')}, {platform.platform()}")
    print(f"warm-up: {WARM_UP_DOSSIERS} dossiers, {events(warm_up)} events in {warm_up['seconds']:.1f} s, "
          f"{'settled' if warm_up['settled'] else 'NOT settled'}; trace page shows dossier {dossier}")

    css, health = (median_max(idle_loads[name]) for name in ("console.css", "healthz"))
    print(f"\nPage load, console idle (ms, {LOADS} loads each: from about:blank, navigation to /console#/PAGE "
          f"until its table or section is drawn)")
    print(f"{'page':44}{'median':>8}{'max':>8}{'x css':>8}{'x healthz':>10}")
    for name, (route, selector) in PAGES.items():
        median, top = median_max(idle_loads[name])
        print(f"{name + '  ' + selector.format(dossier='…'):44}{median:8.0f}{top:8.0f}{median / css[0]:8.1f}"
              f"{median / health[0]:10.1f}")
    print(f"{'baseline: GET /console/static/console.css':44}{css[0]:8.0f}{css[1]:8.0f}")
    print(f"{'baseline: GET /healthz':44}{health[0]:8.0f}{health[1]:8.0f}")

    print("\nThroughput of the demo (events/s = the demo's own events sent / its own seconds, submit to settled)")
    print(f"{'round':>5}  {'mode':8}{'events':>8}{'seconds':>9}{'events/s':>10}{'gateway CPU s':>15}"
          f"{'load 1 min':>12}  settled")
    for number, r in enumerate(results, 1):
        s = r["summary"]
        cpu = "" if r["gateway_cpu_s"] is None else f"{r['gateway_cpu_s']:.1f}"
        print(f"{number:5}  {r['mode']:8}{events(s):8}{s['seconds']:9.1f}{rate(s):10.1f}{cpu:>15}"
              f"{r['load_1m']:12.2f}  {'yes' if s['settled'] else 'NO'}")
    open_rate = statistics.mean(rate(r["summary"]) for r in opened)
    closed_rate = statistics.mean(rate(r["summary"]) for r in closed)
    print(f"{'figure':44}{'open':>10}{'closed':>10}{'ratio':>8}")
    print(f"{'mean events/s':44}{open_rate:10.1f}{closed_rate:10.1f}{open_rate / closed_rate:8.2f}")
    rates = {mode: [rate(r["summary"]) for r in results if r["mode"] == mode] for mode in ("open", "closed")}
    print(f"{'spread between rounds (fastest / slowest)':44}{max(rates['open']) / min(rates['open']):10.2f}"
          f"{max(rates['closed']) / min(rates['closed']):10.2f}")
    cpu_open = [r["gateway_cpu_s"] / events(r["summary"]) * 1000 for r in opened if r["gateway_cpu_s"] is not None]
    cpu_closed = [r["gateway_cpu_s"] / events(r["summary"]) * 1000 for r in closed if r["gateway_cpu_s"] is not None]
    if cpu_open and cpu_closed:
        print(f"{'gateway CPU ms per event':44}{statistics.mean(cpu_open):10.1f}{statistics.mean(cpu_closed):10.1f}"
              f"{statistics.mean(cpu_open) / statistics.mean(cpu_closed):8.2f}")

    polls = [value for r in opened for value in r["polls"]]
    reloads = [value for r in opened for value in r["reloads"]]
    loads = [r["flows_load"] for r in opened if r["flows_load"] is not None]
    print("\nThe console while the demo runs vs idle (ms)")
    print(f"{'figure':44}{'load':>10}{'idle':>10}{'ratio':>8}  idle is")
    rows = []
    if polls and idle_polls:
        rows += [(f"flows API latency p50 (n={len(polls)} / {len(idle_polls)})", statistics.median(polls),
                  statistics.median(idle_polls), f"Flows page polling {IDLE_POLL_S:.0f} s on the idle gateway"),
                 ("flows API latency max", max(polls), max(idle_polls), "same")]
    if loads:
        rows.append((f"Flows page load (once per open round, at {FLOWS_LOAD_AT_S:.0f} s)",
                     statistics.median(value for value, _ in loads), statistics.median(idle_loads["flows"]),
                     "median of the idle loads above"))
    if reloads:
        rows += [(f"trace page reload p50 (n={len(reloads)})", statistics.median(reloads),
                  statistics.median(idle_loads["trace"]), "median of the idle trace loads above"),
                 ("trace page reload max", max(reloads), max(idle_loads["trace"]), "max of the idle trace loads")]
    for name, under_load, idle, what in rows:
        print(f"{name:44}{under_load:10.0f}{idle:10.0f}{under_load / idle:8.2f}  {what}")
    if loads:
        print("  Flows page loads under load, each: " + ", ".join(
            f"{value:.0f} ms" + ("" if running else " (the demo had ended)") for value, running in loads))
    polls_expected = sum(r["summary"]["seconds"] for r in opened) / TICK_S
    print(f"  flows polls seen in the open rounds: {len(polls)} (about {polls_expected:.0f} expected at one per "
          f"{TICK_S:.0f} s plus the wait for each answer)")

    print()
    if problems:
        print(f"browser problems ({sum(problems.values())}):")
        for problem, count in problems.most_common():
            print(f"  {count:4} x {problem[:300]}")
    else:
        print("browser problems: none (no page errors, console errors, HTTP >= 400 or failed requests)")
    for what, count in ignored.items():
        print(f"  not counted: {count} x {what}")
    if log_errors:
        print(f"gateway log: {len(log_errors)} ERROR lines during the run, e.g.")
        for line in list(dict.fromkeys(line.split(" ERROR ", 1)[1][:200] for line in log_errors))[:5]:
            print(f"  {line}")
    else:
        print("gateway log: no ERROR lines during the run")

    unsettled = [number for number, r in enumerate(results, 1) if not r["summary"]["settled"]]
    if unsettled or not warm_up["settled"]:
        print(f"\nconsole benchmark failed: the demo did not settle (round {', '.join(map(str, unsettled)) or 'warm-up'}"
              f" within {DEMO_TIMEOUT_S:.0f} s, or some dossiers failed): its events/s mean nothing", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=300, help="dossiers per demo round")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of rounds (closed, open)")
    parser.add_argument("--database", default="sqlite+aiosqlite:///{workdir}/bench.db",
                        help="database URL of the gateway (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    arguments = parser.parse_args()
    if arguments.dossiers < 1 or arguments.rounds < 1:
        parser.error("--dossiers and --rounds must be at least 1")
    if not Path(CHROMIUM).is_file():
        print(f"console benchmark failed: no Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        code = run(arguments.dossiers, arguments.rounds, arguments.database)
    except BenchFailure as failure:
        print(f"console benchmark failed: {failure}", file=sys.stderr)
        return 1
    except PlaywrightError as error:
        print(f"console benchmark failed: the browser: {error}", file=sys.stderr)
        return 1
    except SystemExit as stop:  # start_gateway's "the gateway did not start"
        print(f"console benchmark failed: {stop}", file=sys.stderr)
        return 1
    print(f"\nbenchmark run time {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
