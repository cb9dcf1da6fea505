#!/bin/sh
# Reproduce every experiment of /work/notes/issue7-research.md (outputs in logs/)
set -e
cd /tmp/sigresearch
mkdir -p logs
for s in e2e_pdf e2e_time e2e_cms e2e_xml e2e_misc ku_check bench; do
  echo "== $s"; ./venv/bin/python $s.py > logs/$s.txt 2>&1 || echo "   $s failed (see logs/$s.txt)"
done
