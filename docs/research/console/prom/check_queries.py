"""Runs every panel query of grafana-dashboard.draft.json against a Prometheus on loopback
($__rate_interval -> 30s) and says how many series each returns."""

import json
import sys
import urllib.parse
import urllib.request

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:19090"
board = json.load(open("grafana-dashboard.draft.json"))
for panel in board["panels"]:
    expr = panel["targets"][0]["expr"].replace("$__rate_interval", "30s")
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.load(urllib.request.urlopen(url, timeout=10))
    result = answer["data"]["result"]
    sample = ", ".join(f"{r['metric']}={float(r['value'][1]):.3g}" for r in result[:3])
    print(f"{answer['status']:7} {len(result):2} series  {panel['title']}: {sample}")
alerts = json.load(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10))
for group in alerts["data"]["groups"]:
    for rule in group["rules"]:
        print(f"rule {rule['name']}: health={rule['health']} state={rule.get('state')}")
