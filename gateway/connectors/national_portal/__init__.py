"""National Public Service Portal (Cổng Dịch vụ công Quốc gia, DVCQG): every dossier and every
status change of the one-stop system is pushed there through the portal's adapter.

Same inside as every connector: configuration (config.py, from partners.national_portal),
client (the adapter's protocol), handlers (the partner flow), mapping specs and code tables
(gateway/mappings/specs/national_portal/), simulator (simulator.py), drift check
(reconcile.py), tests (tests/test_national_portal_*.py).
"""
