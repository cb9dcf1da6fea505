"""Prometheus alert rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana), checked with
promtool: the rules load, their unit tests pass, every dashboard query is valid PromQL, and every metric
they use is one the gateway documents (so renaming a metric without updating them fails here).

promtool comes with Debian's `prometheus` package. Without it these tests are skipped, except in CI
(environment variable CI set), where they fail.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "gateway-dashboard.json"
GENERATOR = REPO / "deploy" / "grafana" / "make_dashboard.py"

# The metrics contract: metric family -> type, as the gateway and FastStream expose them. A counter is
# queried as <name>_total, a histogram as <name>_bucket / _count / _sum, a gauge by its name.
DOCUMENTED_METRICS = {
    "gateway_flow_events": "counter",  # {flow, outcome}, per process, every flow x outcome at 0 from start
    "gateway_flow_latency_seconds": "histogram",  # {flow}: entered the gateway -> delivered
    "gateway_circuit_breaker_state": "gauge",  # {partner}: 0 closed, 1 half-open, 2 open
    "gateway_consumer_lag": "gauge",  # {group, topic}
    "gateway_dead_letters_open": "gauge",  # {connector}
    "gateway_dossiers_acceptance_overdue": "gauge",
    "gateway_dossiers_acceptance_due_soon": "gauge",
    "gateway_dossiers_past_appointment": "gauge",
    # FastStream's own (labels app_name, broker, handler or destination, status)
    "faststream_received_messages": "counter",
    "faststream_received_messages_size_bytes": "histogram",
    "faststream_received_messages_in_process": "gauge",
    "faststream_received_processed_messages": "counter",
    "faststream_received_processed_messages_duration_seconds": "histogram",
    "faststream_received_processed_messages_exceptions": "counter",
    "faststream_published_messages": "counter",
    "faststream_published_messages_duration_seconds": "histogram",
    "faststream_published_messages_exceptions": "counter",
}
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
# Label names those metrics carry (plus Prometheus' own job and instance, and le of histograms).
DOCUMENTED_LABELS = {
    "flow", "outcome", "partner", "group", "topic", "connector",
    "app_name", "broker", "handler", "destination", "status", "le", "job", "instance",
}
# Grafana variables, replaced by values PromQL accepts before promtool sees a query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m", "${__rate_interval}": "1m", "$__interval": "1m", "$__range": "1h",
    "${flow}": ".*", "$flow": ".*",
}
METRIC_NAME = re.compile(r"\b(?:gateway|faststream)_[a-z_]+")


def queryable_series() -> dict[str, str]:
    """Series name -> metric family, e.g. gateway_flow_latency_seconds_bucket -> gateway_flow_latency_seconds."""
    return {family + suffix: family
            for family, kind in DOCUMENTED_METRICS.items() for suffix in SERIES_SUFFIXES[kind]}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = ("promtool not found: install Debian's prometheus package "
                   "(apt-get install --no-install-recommends prometheus), which provides /usr/bin/promtool")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(promtool: str, *arguments: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *map(str, arguments)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def alerts() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict]) -> list[dict]:
    found = []
    for panel in panels:
        found.append(panel)
        found += all_panels(panel.get("panels", []))  # rows (collapsed ones hold their panels)
    return found


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in all_panels(dashboard()["panels"])
            for target in panel.get("targets", []) if target.get("expr")]


def as_promql(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query


def all_queries() -> list[str]:
    return [as_promql(query) for query in dashboard_queries()] + [rule["expr"] for rule in rules()]


def variable_metrics() -> list[str]:
    """Metrics named by the dashboard's query variables, e.g. label_values(gateway_flow_events_total, flow)."""
    names = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            names += METRIC_NAME.findall(query)
    return names


def check_as_recording_rules(promtool: str, queries: list[str], directory: Path) -> subprocess.CompletedProcess:
    """promtool has no "check this expression"; it does parse every rule of a rules file."""
    group = {"name": "queries", "rules": [{"record": f"check:query_{number}", "expr": query}
                                          for number, query in enumerate(queries)]}
    path = directory / "queries.rules.yml"
    path.write_text(json.dumps({"groups": [group]}, indent=2, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return run(promtool, "check", "rules", path)


# --- promtool ------------------------------------------------------------------------------------------


def test_rules_file_is_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", RULES.relative_to(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", RULE_TESTS.relative_to(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    queries = all_queries()
    assert len(queries) > len(rules())
    assert not any("$" in query for query in queries[:-len(rules())]), "a Grafana variable is not replaced"
    result = check_as_recording_rules(promtool, queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_an_invalid_query_is_caught(promtool: str, tmp_path: Path) -> None:
    """The check above would be worthless if promtool accepted anything."""
    result = check_as_recording_rules(promtool, ["sum by (flow) (rate(gateway_flow_events_total[5m])"], tmp_path)
    assert result.returncode != 0


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
             for case in test.get("alert_rule_test", [])]
    for alert in alerts():
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case.get("exp_alerts") for case in mine), f"{alert['alert']}: no test where it fires"
        assert any(not case.get("exp_alerts") for case in mine), f"{alert['alert']}: no test where it is silent"


# --- the metrics contract ------------------------------------------------------------------------------


def test_only_documented_metrics_are_used() -> None:
    series = queryable_series()
    used = {name for query in all_queries() for name in METRIC_NAME.findall(query)} | set(variable_metrics())
    unknown = sorted(used - series.keys())
    assert not unknown, f"not in the gateway's documented metrics (DOCUMENTED_METRICS): {unknown}"
    # Everything the console shows is on the dashboard.
    families = {series[name] for name in used}
    assert families >= {family for family in DOCUMENTED_METRICS if family.startswith("gateway_")}


@pytest.mark.parametrize(("name", "known"), [
    ("gateway_flow_events_total", True),
    ("gateway_flow_events", False),  # a counter is queried with _total
    ("gateway_flow_latency_seconds_bucket", True),
    ("gateway_flow_latency_seconds_count", True),
    ("gateway_flow_latency_seconds", False),  # no such series: a histogram has buckets, count and sum
    ("gateway_flow_latency_seconds_total", False),
    ("gateway_circuit_breaker_state", True),
    ("gateway_circuit_breaker_state_total", False),
    ("gateway_dead_letters_total", False),
    ("faststream_received_processed_messages_total", True),
    ("faststream_received_processed_messages_duration_seconds_bucket", True),
])
def test_series_names_follow_the_metric_types(name: str, known: bool) -> None:
    assert (name in queryable_series()) is known
    assert METRIC_NAME.findall(f"sum(rate({name}[5m]))") == [name]


def test_only_documented_labels_are_used() -> None:
    used = set()
    for query in all_queries():
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", query):
            used |= {label.strip() for label in clause.split(",") if label.strip()}
        for matchers in re.findall(r"\{([^}]*)\}", query):
            used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    assert used, "no label found: the parsing above is broken"
    assert not used - DOCUMENTED_LABELS, f"labels the metrics do not have: {sorted(used - DOCUMENTED_LABELS)}"


# --- rules and dashboard ---------------------------------------------------------------------------------


def test_alerts_have_severity_summary_and_description() -> None:
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "GatewayDown", "DeadLettersAppeared", "DeadLettersWaiting", "PartnerBreakerOpen", "FlowErrorRateHigh",
        "ConsumerLagGrowing", "FlowLatencyHigh", "AcceptanceOverdue", "PastAppointment",
    }
    for alert in alerts():
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["annotations"]["summary"].strip() and alert["annotations"]["description"].strip(), alert["alert"]


def test_dashboard_is_the_generators_output() -> None:
    spec = importlib.util.spec_from_file_location("make_dashboard", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert DASHBOARD.read_text(encoding="utf-8") == generator.render(), (
        "deploy/grafana/gateway-dashboard.json is stale: run python deploy/grafana/make_dashboard.py")


def test_dashboard_shape() -> None:
    board = dashboard()
    assert board["uid"] == "provincial-gateway"
    assert board["title"] == "Provincial integration gateway — flows"
    assert 36 <= board["schemaVersion"] <= 41
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = all_panels(board["panels"])
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert 0 <= panel["gridPos"]["x"] and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
