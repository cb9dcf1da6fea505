"""contracts/ must be what the code generates now: regenerate with `./dev gateway contracts`."""

from gateway.runtime.contracts import render_contracts, stale_contracts

from .conftest import REPO


def test_checked_in_contracts_are_current() -> None:
    stale = stale_contracts(REPO / "contracts")
    assert not stale, f"stale contracts {stale}: run `./dev gateway contracts` and commit contracts/"


def test_contracts_cover_every_topic_and_endpoint() -> None:
    files = render_contracts()
    asyncapi = files["asyncapi.yaml"]
    for topic in ("onegate.dossier-events", "onegate.updates"):
        assert f"address: {topic}" in asyncapi
    assert {"schemas/dossier-event.v1.json", "schemas/onegate-update.v1.json", "schemas/envelope-headers.json"} <= set(files)
    for path in ("/api/v1/dossiers/events", "/healthz", "/readyz", "/metrics"):
        assert f'"{path}"' in files["openapi.json"]
