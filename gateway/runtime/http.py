"""The gateway's HTTP face: intake, health, readiness, metrics and the operator API."""

import asyncio

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher import DefaultPublisher as KafkaPublisher
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

import gateway
from gateway.connectors.ministry.callback import callback_router
from gateway.connectors.ministry.reports import StatusReports
from gateway.connectors.onegate.intake import answer_invalid_request, intake_router
from gateway.connectors.payment.api import payments_router
from gateway.connectors.payment.confirmations import ConfirmationIntake, confirmations_router
from gateway.connectors.postal.api import postal_router
from gateway.connectors.postal.tracking import TrackingIntake
from gateway.ops.audit_api import audit_router
from gateway.ops.console.api import ConsoleParts, console_router
from gateway.ops.console.auth import AccessGuard
from gateway.ops.console.pages import console_pages
from gateway.ops.dead_letters_api import dead_letters_router
from gateway.runtime.roles import RoleContext, gateway_topics
from gateway.signing.api import signatures_router
from gateway.simulators.framework import SimulatorHost
from gateway.store.database import Database, StoreUnavailable
from gateway.store.tables import DossierRecord
from gateway.topics import RETRY_TOPIC_PREFIX

READINESS_TIMEOUT_S = 2.0


def build_http_app(
    context: RoleContext,
    broker: KafkaBroker,
    dossier_events: KafkaPublisher,
    registry: CollectorRegistry,
    console: ConsoleParts,
    simulators: SimulatorHost | None = None,
    ministry_reports: StatusReports | None = None,
    payment_intake: ConfirmationIntake | None = None,
    postal_intake: TrackingIntake | None = None,
) -> FastAPI:
    database, counters = context.database, context.counters
    # The producer gives up on a write after kafka.request_timeout_ms and drops it unsent; the
    # intake waits a little longer so that a 503 means "not written", not "maybe written later".
    publish_timeout_s = context.settings.kafka.request_timeout_ms / 1000 + 5
    app = FastAPI(
        title="Provincial integration gateway",
        version=gateway.__version__,
        description="HTTP endpoints of the gateway between the one-stop system and its partners.",
    )
    app.state.counters = counters
    app.state.payment_intake = payment_intake
    app.state.postal_intake = postal_intake
    app.add_exception_handler(RequestValidationError, answer_invalid_request)
    app.include_router(intake_router(dossier_events, counters, context.message_log, publish_timeout_s))
    retry_topics = {topic.name for topic in gateway_topics(context.settings) if topic.name.startswith(RETRY_TOPIC_PREFIX)}
    app.include_router(dead_letters_router(context.dead_letters, retry_topics, console.actions))
    app.include_router(audit_router(database))
    app.include_router(callback_router(context, ministry_reports))
    app.include_router(confirmations_router(payment_intake))
    app.include_router(payments_router(context, payment_intake))
    app.include_router(postal_router(context, postal_intake))
    app.include_router(signatures_router(context.settings.signing))
    app.include_router(console_router(console))
    if context.settings.console.enabled:
        pages, assets = console_pages()
        app.include_router(pages)
        app.mount("/console/static", assets, name="console-assets")
    # Outermost: who is asking is settled before any route reads a body.
    app.add_middleware(AccessGuard, users=console.users, settings=context.settings.console)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Kafka and the database answer",
             responses={503: {"description": "Kafka or the database does not answer"}})
    async def readyz() -> JSONResponse:
        checks = {"kafka": await _kafka_ready(broker), "database": await _database_ready(database)}
        ready = all(result == "ok" for result in checks.values())
        # An open breaker does not make the gateway unready: it parks that partner's messages.
        return JSONResponse(status_code=200 if ready else 503,
                            content={"ready": ready, "checks": checks, "breakers": context.breakers.states()})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/flows", tags=["operations"], summary="Totals per flow and outcome")
    async def flows() -> dict[str, dict[str, int]]:
        return await counters.read()

    @app.get("/api/v1/simulators", tags=["operations"], summary="Partner simulators this process runs, with their figures")
    async def simulators_running() -> dict[str, dict]:
        if simulators is None:
            return {}
        return {name: {"url": simulator.url, **simulator.stats.as_dict()}
                for name, simulator in simulators.simulators.items()}

    @app.get("/api/v1/dossiers/{code}", tags=["operations"], summary="What the gateway knows of one dossier",
             responses={404: {"description": "The gateway has not seen this dossier"}})
    async def dossier(code: str) -> dict:
        async with database.transaction() as session:
            record = await session.get(DossierRecord, code)
        if record is None:
            raise HTTPException(404, detail=f"the gateway has not seen dossier {code}")
        return {
            "code": record.code, "procedure_code": record.procedure_code, "agency_code": record.agency_code,
            "status": record.status, "status_sequence": record.status_sequence, "events_seen": record.events_seen,
            "first_seen_at": record.first_seen_at.isoformat(), "last_event_at": record.last_event_at.isoformat(),
        }

    return app


async def _kafka_ready(broker: KafkaBroker) -> str:
    try:
        return "ok" if await asyncio.wait_for(broker.ping(READINESS_TIMEOUT_S), READINESS_TIMEOUT_S + 1) else "no answer"
    except Exception as error:  # noqa: BLE001 - readiness reports, it does not raise
        return f"error: {error}"


async def _database_ready(database: Database) -> str:
    try:
        await asyncio.wait_for(database.ping(), READINESS_TIMEOUT_S)
        return "ok"
    except (StoreUnavailable, TimeoutError) as error:
        return f"error: {error or 'timed out'}"
