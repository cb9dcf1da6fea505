"""The Flows page's figures: per-minute windows and latency percentiles from what FlowCounters
wrote (SQLite), consumer lag measured on the real embedded broker, partner health from the
breakers, and the Prometheus series that start at 0."""

import time

import httpx
from aiokafka import AIOKafkaProducer

from gateway.ops.console.flows import flow_windows, percentile, summarize
from gateway.ops.flow_counters import LATENCY_BOUNDS_S, FlowCounters, latency_measure
from gateway.runtime.app import Plan
from gateway.runtime.config import BreakerSettings, DatabaseSettings
from gateway.store.database import Database
from gateway.store.tables import FlowSubscription
from gateway.topics import DOSSIER_EVENTS

from ..conftest import StartGateway, wait_for


def test_percentiles_interpolate_inside_a_bucket_as_prometheus_does() -> None:
    buckets = [0] * (len(LATENCY_BOUNDS_S) + 1)
    buckets[3] = 100  # all between 0.25 and 0.5 s
    assert percentile(buckets, 0.5) == 0.375
    assert percentile(buckets, 0.99) == 0.4975
    buckets[-1] = 100  # half of them slower than the last bound: shown as that bound
    assert percentile(buckets, 0.99) == LATENCY_BOUNDS_S[-1]
    assert percentile([0] * len(buckets), 0.5) is None


def test_a_window_sums_outcomes_into_what_the_page_shows() -> None:
    measures = {"delivered": 7, "accepted": 3, "rejected": 2, "dead_lettered": 1, "duplicates": 4, "retried": 5,
                "poll_ok": 9, "raised_to_operators": 1, latency_measure(0): 10}
    window = summarize(measures)
    assert window == {"messages": 17, "delivered": 10, "duplicates": 4, "errors": 3, "retries": 5,
                      "dead_letters": 1, "p50_s": 0.025, "p99_s": 0.0495}


async def test_windows_count_the_last_5_minutes_hour_and_day(tmp_path) -> None:
    database = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/flows.db"))
    await database.start()
    try:
        counters = FlowCounters(database)
        counters.declare("national_portal", "out")
        counters.declare("intake", "in")
        now = time.time()
        minute = int(now // 60)
        # Written as if by other processes at other times: now, 30 minutes ago, 5 hours ago, 2 days ago.
        for minutes_ago, amount in ((0, 2), (30, 3), (300, 5), (2 * 24 * 60 + 5, 100)):
            counters._minutes[("national_portal", minute - minutes_ago, "delivered")] += amount  # noqa: SLF001
        counters.add("national_portal", "dead_lettered")
        counters.observe_latency("national_portal", 0.3)
        await counters.flush()
        async with database.transaction() as session:
            flows = {flow["flow"]: flow for flow in await flow_windows(session, now)}
    finally:
        await database.close()
    portal = flows["national_portal"]["windows"]
    assert flows["national_portal"]["direction"] == "out" and flows["intake"]["direction"] == "in"
    assert [portal[window]["delivered"] for window in ("5m", "1h", "1d")] == [2, 5, 10]
    assert portal["5m"]["dead_letters"] == 1 and portal["5m"]["errors"] == 1
    assert 0.25 < portal["5m"]["p50_s"] < 0.5
    assert flows["intake"]["windows"]["1d"]["messages"] == 0  # declared: shown before its first message


async def test_lag_partner_health_and_zero_series_reach_the_console_and_metrics(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(Plan(roles=[]), console={"anonymous_role": "viewer", "sample_interval_s": 0.2})
    # A consumer group that reads nothing yet: every record written is lag.
    async with gateway.database.transaction() as session:
        session.add(FlowSubscription(group_id="gateway.lagging", topic=DOSSIER_EVENTS.name, flow="lagging"))
    producer = AIOKafkaProducer(bootstrap_servers=gateway.running.kafka_bootstrap)
    await producer.start()
    try:
        for number in range(7):
            await producer.send_and_wait(DOSSIER_EVENTS.name, b"{}", key=f"000.00.15.H12-261123-{number:04d}".encode())
    finally:
        await producer.stop()
    breaker = gateway.breakers.for_partner("ministry_x", BreakerSettings(failure_threshold=1))
    breaker.failed(ConnectionError("ministry_x does not answer"))
    gateway.counters.declare("webhook", "out")
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as api:
        async def lag_seen() -> bool:
            flows = (await api.get("/api/v1/console/flows")).json()
            lags = {entry["group"]: entry["lag"] for entry in flows["lag"]}
            partners = {entry["partner"]: entry for entry in flows["partners"]}
            return lags.get("gateway.lagging") == 7 and "ministry_x" in partners

        await wait_for(lag_seen, what="the lag of gateway.lagging and the breaker of ministry_x")
        flows = (await api.get("/api/v1/console/flows")).json()
        metrics = (await api.get("/metrics")).text
    ministry = next(entry for entry in flows["partners"] if entry["partner"] == "ministry_x")
    assert ministry["breaker"] == "open" and "does not answer" in ministry["last_error"]
    assert ministry["last_error_at"] and ministry["last_success_at"] is None
    assert 'gateway_consumer_lag{group="gateway.lagging",topic="onegate.dossier-events"} 7.0' in metrics
    assert 'gateway_flow_events_total{flow="webhook",outcome="dead_lettered"} 0.0' in metrics
    assert "gateway_dossiers_acceptance_overdue 0.0" in metrics
