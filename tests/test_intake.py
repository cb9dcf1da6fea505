"""POST /api/v1/dossiers/events against a real gateway: embedded broker, real HTTP, read back by aiokafka."""

import json

import httpx

from gateway.topics import DOSSIER_EVENTS

from .conftest import StartGateway, read_topic, submitted_event, topic_size


async def test_accepted_event_is_on_the_topic_with_key_and_headers(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.post(
            "/api/v1/dossiers/events",
            json=submitted_event("000.00.15.H12-261122-0007"),
            headers={"Idempotency-Key": "onegate-evt-7",
                     "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["message_id"] == "onegate-evt-7"
    assert accepted["topic"] == DOSSIER_EVENTS.name

    [record] = await read_topic(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name, 1)
    assert record.key == b"000.00.15.H12-261122-0007"
    assert (record.partition, record.offset) == (accepted["partition"], accepted["offset"])
    headers = {name: value.decode() for name, value in record.headers}
    assert headers["message_id"] == "onegate-evt-7"
    assert headers["correlation_id"] == "000.00.15.H12-261122-0007"
    assert headers["source_system"] == "onegate"
    assert headers["schema_name"] == "dossier-submitted"
    assert headers["schema_version"] == "1"
    assert headers["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert headers["occurred_at"]
    body = json.loads(record.value)
    assert body["dossier"]["applicant"]["full_name"] == "Nguyễn Thị Lan"


async def test_invalid_event_names_every_field_and_publishes_nothing(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    event = submitted_event()
    event["dossier"]["code"] = "x"
    del event["dossier"]["procedure_code"]
    event["dossier"]["applicant"]["kind"] = 9
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        invalid = await client.post("/api/v1/dossiers/events", json=event)
        not_json = await client.post("/api/v1/dossiers/events", content=b"{not json",
                                     headers={"content-type": "application/json"})
        unknown_kind = await client.post("/api/v1/dossiers/events", json={"kind": "archived"})
        bad_key = await client.post("/api/v1/dossiers/events", json=submitted_event(),
                                    headers={"Idempotency-Key": "spaces are not allowed"})
        forged = await client.post("/api/v1/dossiers/events", json={"kind": "status_changed", "status_change": {
            "dossier_code": "000.00.15.H12-261122-0001", "sequence": 1, "status": 9,
            "changed_at": "2026-11-23T08:00:00+07:00", "reported_by": "civil_status_birth"}})
        flows = (await client.get("/api/v1/flows")).json()

    assert forged.status_code == 422 and "reported_by" in forged.text  # only the gateway numbers ministry reports
    assert invalid.status_code == 422
    fields = {problem["field"] for problem in invalid.json()["errors"]}
    assert {"body.submitted.dossier.code", "body.submitted.dossier.procedure_code",
            "body.submitted.dossier.applicant.kind"} <= fields
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["type"] == "json_invalid"
    assert unknown_kind.status_code == 422 and "kind" in unknown_kind.text
    assert bad_key.status_code == 422 and "idempotency-key" in bad_key.text
    assert await topic_size(gateway.running.kafka_bootstrap, DOSSIER_EVENTS.name) == 0
    assert flows["intake"]["rejected"] == 5


async def test_kafka_down_answers_503_and_accepts_nothing(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(kafka={"request_timeout_ms": 1500, "shutdown_timeout_s": 2})
    gateway.embedded.stop()
    async with httpx.AsyncClient(base_url=gateway.running.http_url, timeout=30) as client:
        response = await client.post("/api/v1/dossiers/events", json=submitted_event())
        ready = await client.get("/readyz")
        flows = (await client.get("/api/v1/flows")).json()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "nothing was accepted" in response.json()["detail"]
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["kafka"] != "ok"
    assert flows.get("intake", {}).get("delivered", 0) == 0


async def test_health_readiness_and_metrics(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checks": {"kafka": "ok", "database": "ok"}, "breakers": {"national_portal": "closed", "webhook": "closed"}}
        await client.post("/api/v1/dossiers/events", json=submitted_event())
        metrics = (await client.get("/metrics")).text
    assert "faststream_published_messages_total" in metrics
    assert 'gateway_flow_events_total{flow="intake",outcome="delivered"} 1.0' in metrics
