"""POST /api/v1/dossiers/events: the one-stop system hands the gateway a dossier event.

The answer is 202 only once Kafka has acknowledged the write; 422 names every offending
field; 503 means nothing was written and the caller should try again.
"""

import asyncio
import logging
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka.publisher import DefaultPublisher as KafkaPublisher
from pydantic import BaseModel

from gateway.domain.events import DossierEvent, DossierStatusChanged
from gateway.ops.flow_counters import FlowCounters
from gateway.audit.message_log import MessageLog
from gateway.runtime.messaging import Published, publish

log = logging.getLogger(__name__)

PATH = "/api/v1/dossiers/events"
FLOW = "intake"
SOURCE = "onegate"


class Accepted(BaseModel):
    message_id: str
    dossier_code: str
    topic: str
    partition: int
    offset: int


def intake_router(publisher: KafkaPublisher, counters: FlowCounters, message_log: MessageLog,
                  publish_timeout_s: float) -> APIRouter:
    router = APIRouter(tags=["one-stop intake"])
    counters.declare(FLOW, "in")

    @router.post(
        PATH,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        responses={422: {"description": "Invalid event; every offending field is named"},
                   503: {"description": "Kafka did not acknowledge the write; nothing was accepted, try again"}},
        summary="Submit a dossier event from the one-stop system",
    )
    async def submit_dossier_event(
        event: DossierEvent,
        idempotency_key: Annotated[
            str | None,
            Header(max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$",
                   description="The caller's id for this event; resending with the same key lets consumers drop the copy"),
        ] = None,
        traceparent: Annotated[str | None, Header(max_length=55)] = None,
    ) -> Accepted:
        if isinstance(event.root, DossierStatusChanged) and event.root.status_change.reported_by is not None:
            # Only the gateway numbers a ministry's reports; a forged one would hide the real report.
            counters.add(FLOW, "rejected")
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                detail="status_change.reported_by is set by the gateway for ministry reports; "
                                       "the one-stop system leaves it empty")
        try:
            published = await asyncio.wait_for(
                publish(publisher, event.root, dossier_code=event.dossier_code, source_system=SOURCE,
                        message_id=idempotency_key, traceparent=traceparent),
                publish_timeout_s,
            )
        except (KafkaError, TimeoutError, ConnectionError) as error:
            log.warning("intake: Kafka did not take dossier %s: %r", event.dossier_code, error)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"Kafka did not acknowledge the event ({type(error).__name__}); nothing was accepted, try again",
                headers={"Retry-After": "5"},
            ) from None
        counters.add(FLOW, "delivered")
        await _audit(message_log, published, event.dossier_code)
        metadata = published.metadata
        return Accepted(message_id=published.headers.message_id, dossier_code=event.dossier_code,
                        topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)

    return router


async def answer_invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming every offending field; rejected intake events are counted."""
    if request.url.path == PATH:
        request.app.state.counters.add(FLOW, "rejected")
    problems = [
        {"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"], "type": problem["type"]}
        for problem in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": "invalid request", "errors": problems})



async def _audit(message_log: MessageLog, published: Published, dossier_code: str) -> None:
    # The event is safe in Kafka and the caller is owed its 202: a message-log failure is
    # reported loudly, not turned into an error that would make the caller send it again.
    try:
        await message_log.record(direction="in", channel="http", partner=SOURCE,
                                 message_id=published.headers.message_id, dossier_code=dossier_code,
                                 payload=published.payload, outcome="accepted")
    except Exception as error:  # noqa: BLE001
        log.error("intake: message %s accepted but not written to the message log: %s",
                  published.headers.message_id, error)
