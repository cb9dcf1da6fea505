"""Writes grafana-dashboard.draft.json (schemaVersion 39 style, a Prometheus datasource variable)
from a list of panels, so the queries live in one place and can be checked against Prometheus."""

import json

PANELS = [
    ("Messages per flow and outcome (per s)", "sum by (flow, outcome) (rate(gateway_flow_events_total[$__rate_interval]))", "timeseries"),
    ("Dead letters (last 24 h)", "sum by (flow) (increase(gateway_flow_events_total{outcome=\"dead_lettered\"}[24h]))", "stat"),
    ("Circuit breakers (0 closed, 1 half-open, 2 open)", "max by (partner) (gateway_circuit_breaker_state)", "stat"),
    ("Handling time p50 per topic", "histogram_quantile(0.5, sum by (le, handler) (rate(faststream_received_processed_messages_duration_seconds_bucket[$__rate_interval])))", "timeseries"),
    ("Handling time p99 per topic", "histogram_quantile(0.99, sum by (le, handler) (rate(faststream_received_processed_messages_duration_seconds_bucket[$__rate_interval])))", "timeseries"),
    ("Messages in process", "sum by (handler) (faststream_received_messages_in_process)", "timeseries"),
    ("Publish time p99 per topic", "histogram_quantile(0.99, sum by (le, destination) (rate(faststream_published_messages_duration_seconds_bucket[$__rate_interval])))", "timeseries"),
    ("Consumer lag (PROPOSED metric)", "sum by (group) (gateway_consumer_lag)", "timeseries"),
]


def dashboard() -> dict:
    panels = []
    for index, (title, expr, kind) in enumerate(PANELS):
        panels.append({
            "id": index + 1, "type": kind, "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
            "targets": [{"refId": "A", "expr": expr, "datasource": {"type": "prometheus", "uid": "${datasource}"}}],
        })
    return {
        "title": "Provincial integration gateway", "uid": "provincial-gateway", "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "tags": ["gateway"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    with open("grafana-dashboard.draft.json", "w") as f:
        json.dump(dashboard(), f, indent=2, ensure_ascii=False)
    print(f"wrote grafana-dashboard.draft.json with {len(PANELS)} panels")
