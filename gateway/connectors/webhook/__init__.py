"""Dossier-event webhook: forwards the one-stop system's dossier events as JSON to any HTTP
endpoint (a provincial dashboard, an LGSP relay, a system no dedicated connector covers yet).

Same inside as every connector: configuration (partners.webhook), client (the HTTP protocol),
handlers (the partner flow), simulator (simulator.py), tests (tests/test_webhook_*.py).
"""
