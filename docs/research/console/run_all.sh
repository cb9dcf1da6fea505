#!/bin/sh
# Re-runs every probe of docs/research/console (research only; not CI). About 3 minutes.
# Needs: /tmp/consoleresearch/venv with playwright fastapi uvicorn python-multipart pytest-playwright
# pytest-asyncio holidays lunar-vn; Debian chromium and prometheus; the gateway's .venv in /work/main.
set -eu
HERE=/tmp/consoleresearch
GW=/work/main/.venv
cd "$HERE"
mkdir -p logs gw
venv/bin/python browser_probe.py > logs/browser_probe.txt 2>&1
venv/bin/python launch_variants.py > logs/launch_variants.txt 2>&1
(cd pytest_probe && ../venv/bin/python -m pytest -p no:cacheprovider -q -o asyncio_mode=auto . > ../logs/pytest_probe.txt 2>&1 || true)
python3 workcal.py > logs/workcal.txt
$GW/bin/python auth_probe.py > logs/auth_probe.txt 2>&1
$GW/bin/python deps_probe.py > logs/deps_probe.txt 2>&1
(cd prom && promtool check rules alerts.draft.yml && promtool test rules alerts.test.yml) > logs/promtool.txt 2>&1
# A running gateway (embedded broker, SQLite in gw/) and a Prometheus scraping it.
rm -rf gw/gateway-data prom/data
(cd gw && exec $GW/bin/gateway up --port 18080 > up.log 2>&1) & GATEWAY=$!
(cd prom && exec prometheus --config.file=prometheus.local.yml --storage.tsdb.path=data \
   --web.listen-address=127.0.0.1:19090 > prometheus.log 2>&1) & PROM=$!
trap 'kill $GATEWAY $PROM 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf 127.0.0.1:18080/readyz >/dev/null && break; sleep 1; done
BROKER=$(sed -n 's/.*kafka=\(127.0.0.1:[0-9]*\).*/\1/p' gw/up.log | head -n1)
venv/bin/python console_load_probe.py http://127.0.0.1:18080 300 > logs/console_load_probe.txt 2>&1
(cd gw && $GW/bin/gateway demo --dossiers 300 --url http://127.0.0.1:18080 --json > demo300.json 2>&1) &
sleep 8
$GW/bin/python lag_probe.py "$BROKER" > logs/lag_during_demo.txt 2>&1
sleep 10
(cd prom && python3 make_dashboard.py && python3 check_queries.py) > logs/check_queries.txt 2>&1
wait %3 2>/dev/null || true
curl -s 127.0.0.1:18080/metrics > logs/metrics.txt
echo "done: logs in $HERE/logs"
