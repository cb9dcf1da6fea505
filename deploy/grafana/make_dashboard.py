"""Writes gateway-dashboard.json, the Grafana dashboard of the gateway's flows (the figures of the
console's Flows page), so that the queries live in one readable place.

    python deploy/grafana/make_dashboard.py          # (re)write gateway-dashboard.json
    python deploy/grafana/make_dashboard.py --check  # exit 1 if the committed JSON is not its output

Standard library only; the output is deterministic. tests/test_alert_rules.py checks that the committed
JSON equals render(), that every query is valid PromQL and that it only uses documented metrics.
"""

import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "gateway-dashboard.json"

UID = "provincial-gateway"
TITLE = "Provincial integration gateway — flows"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
FLOW = 'flow=~"$flow"'  # the "flow" template variable (all flows by default)
RATE = "$__rate_interval"

# Columns of the window tables: (refId, outcome, column title).
WINDOW_COLUMNS = (
    ("A", "delivered", "Delivered"),
    ("B", "rejected", "Errors (rejected)"),
    ("C", "retried", "Retries"),
    ("D", "dead_lettered", "Dead letters"),
)
WINDOWS = (("5m", "Last 5 minutes"), ("1h", "Last hour"), ("24h", "Last 24 hours"))


def target(ref: str, expr: str, legend: str = "", *, table: bool = False) -> dict:
    result = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto"}
    if table:  # one value per series, now: for tables and stats over a fixed window
        result.update({"instant": True, "range": False, "format": "table"})
    else:
        result.update({"instant": False, "range": True, "format": "time_series"})
    return result


def field_config(unit: str = "short", *, mappings: list | None = None, thresholds: list | None = None,
                 decimals: int | None = None) -> dict:
    defaults: dict = {
        "unit": unit,
        "mappings": mappings or [],
        "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]},
        "color": {"mode": "thresholds" if thresholds else "palette-classic"},
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {"defaults": defaults, "overrides": []}


def panel(kind: str, title: str, description: str, targets: list, grid: tuple, **extra) -> dict:
    x, y, w, h = grid
    result = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
    }
    result.update(extra)
    return result


def timeseries(title: str, description: str, targets: list, grid: tuple, unit: str = "short") -> dict:
    return panel("timeseries", title, description, targets, grid, fieldConfig=field_config(unit), options={
        "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    })


def stat(title: str, description: str, targets: list, grid: tuple, *, mappings: list | None = None,
         thresholds: list | None = None) -> dict:
    return panel("stat", title, description, targets, grid,
                 fieldConfig=field_config(mappings=mappings, thresholds=thresholds, decimals=0), options={
                     "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "background", "graphMode": "none", "justifyMode": "auto",
                     "orientation": "auto", "textMode": "value_and_name", "wideLayout": True,
                 })


def row(title: str, y: int) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            "panels": []}


def window_table(window: str, title: str, x: int, y: int) -> dict:
    targets = [
        target(ref, f'round(sum by (flow) (increase(gateway_flow_events_total{{{FLOW},outcome="{outcome}"}}[{window}])))',
               table=True)
        for ref, outcome, _ in WINDOW_COLUMNS
    ]
    rename = {"flow": "Flow"} | {f"Value #{ref}": column for ref, _, column in WINDOW_COLUMNS}
    order = {"flow": 0} | {f"Value #{ref}": index + 1 for index, (ref, _, _) in enumerate(WINDOW_COLUMNS)}
    return panel(
        "table", title,
        f"Messages per flow in the last {window}, added over every gateway process (Prometheus extrapolates "
        "increase(), so the console's figures from the database are the exact ones).",
        targets, (x, y, 8, 8),
        fieldConfig=field_config(decimals=0),
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}, "indexByName": order,
                                           "renameByName": rename}},
        ],
    )


def latency(quantile: str, name: str, x: int, y: int) -> dict:
    return timeseries(
        f"Time to delivery {name} per flow",
        "From a message's write to the flow's topic until the flow finished with it (gateway_flow_latency_seconds; "
        "the highest bucket is 300 s, so anything slower shows as 300 s).",
        [target("A", f"histogram_quantile({quantile}, sum by (flow, le) "
                     f"(rate(gateway_flow_latency_seconds_bucket{{{FLOW}}}[{RATE}])))", "{{flow}}")],
        (x, y, 12, 8), unit="s",
    )


def panels() -> list[dict]:
    result = [
        row("Flows", 0),
        timeseries(
            "Events per flow and outcome (per second)",
            "Sent, delivered, rejected, retried, dead-lettered, duplicates… per flow, summed over every process.",
            [target("A", f"sum by (flow, outcome) (rate(gateway_flow_events_total{{{FLOW}}}[{RATE}]))",
                    "{{flow}} {{outcome}}")],
            (0, 1, 24, 8), unit="ops",
        ),
    ]
    result += [window_table(window, title, index * 8, 9) for index, (window, title) in enumerate(WINDOWS)]
    result += [latency("0.5", "p50 (median)", 0, 17), latency("0.99", "p99", 12, 17)]

    result += [
        row("Kafka and partners", 25),
        timeseries(
            "Consumer lag per group",
            "Records not yet consumed by each consumer group, summed over its topics and partitions "
            "(gateway_consumer_lag, sampled every 15 s by the HTTP process).",
            [target("A", "sum by (group) (max by (group, topic) (gateway_consumer_lag))", "{{group}}")],
            (0, 26, 12, 8),
        ),
        stat(
            "Circuit breakers per partner (đối tác)",
            "Worst state over the gateway processes: closed, half-open (trying again) or open (calls stopped).",
            [target("A", "max by (partner) (gateway_circuit_breaker_state)", "{{partner}}", table=False)],
            (12, 26, 12, 8),
            mappings=[{"type": "value", "options": {
                "0": {"text": "closed", "color": "green", "index": 0},
                "1": {"text": "half-open", "color": "yellow", "index": 1},
                "2": {"text": "open", "color": "red", "index": 2},
            }}],
            thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 1},
                        {"color": "red", "value": 2}],
        ),
        row("Dead letters and deadlines", 34),
        stat(
            "Open dead letters per connector",
            "Dead letters neither replayed nor discarded. Replay or discard them in the console.",
            [target("A", "max by (connector) (gateway_dead_letters_open)", "{{connector}}")],
            (0, 35, 12, 8),
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        stat(
            "Dossier deadlines (hồ sơ)",
            "Acceptance decision (8 working hours after receipt) overdue or due within 2 working hours, and "
            "dossiers past their appointment date (NgayHenTra) without a returned result.",
            [
                target("A", "max(gateway_dossiers_acceptance_overdue)", "Acceptance overdue (quá hạn tiếp nhận)"),
                target("B", "max(gateway_dossiers_acceptance_due_soon)", "Due within 2 working hours (sắp đến hạn)"),
                target("C", "max(gateway_dossiers_past_appointment)", "Past appointment date (quá ngày hẹn trả)"),
            ],
            (12, 35, 12, 8),
            thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
        ),
        row("Processes and Kafka handlers (FastStream)", 43),
        stat(
            "Gateway processes answering /metrics",
            "Scrape targets of job gateway (the HTTP process and every worker) that answered the last scrape.",
            [target("A", 'sum(up{job="gateway"})', "up"), target("B", 'count(up{job="gateway"})', "scraped")],
            (0, 44, 6, 8),
        ),
        timeseries(
            "Kafka messages handled per topic and status (per second)",
            "FastStream's count of consumed messages by status (acked, nacked, rejected…). Its handler label is "
            "the topic, so the consumers of one topic are added together.",
            [target("A", f"sum by (handler, status) (rate(faststream_received_processed_messages_total[{RATE}]))",
                    "{{handler}} {{status}}")],
            (6, 44, 9, 8), unit="ops",
        ),
        timeseries(
            "Kafka handling time p99 per topic",
            "Time FastStream spent in the handlers of a topic (not the time to delivery, which is above).",
            [target("A", "histogram_quantile(0.99, sum by (handler, le) "
                         f"(rate(faststream_received_processed_messages_duration_seconds_bucket[{RATE}])))",
                    "{{handler}}")],
            (15, 44, 9, 8), unit="s",
        ),
    ]
    for number, item in enumerate(result, start=1):
        item["id"] = number
    return result


def dashboard() -> dict:
    return {
        "id": None,
        "uid": UID,
        "title": TITLE,
        "description": "Flows of the provincial integration gateway: the figures of the console's Flows page.",
        "tags": ["gateway", "provincial-gateway"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "refresh": "30s",
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
             "regex": ""},
            {"name": "flow", "label": "Flow", "type": "query", "datasource": DATASOURCE,
             "query": "label_values(gateway_flow_events_total, flow)",
             "definition": "label_values(gateway_flow_events_total, flow)",
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
             "hide": 0, "includeAll": True, "allValue": ".*", "multi": True, "options": [], "refresh": 2,
             "regex": "", "sort": 1},
        ]},
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print(f"{OUTPUT.name} is {'up to date' if same else 'NOT the output of make_dashboard.py'}")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(dashboard()['panels'])} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
