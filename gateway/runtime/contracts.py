"""What partners and the one-stop system rely on, generated from the code into contracts/:
AsyncAPI (from FastStream), a JSON Schema per message body, OpenAPI for the HTTP endpoints."""

import json
from pathlib import Path

import yaml
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

import gateway
from gateway.audit.message_log import MessageLog
from gateway.domain.envelope import EnvelopeHeaders
from gateway.ops.console.actions import OperatorActions
from gateway.ops.console.api import ConsoleParts
from gateway.ops.console.auth import Users
from gateway.ops.flow_counters import FlowCounters
from gateway.reliability.breaker import Breakers
from gateway.reliability.dead_letters import DeadLetters
from gateway.reliability.partner_calls import PartnerCalls
from gateway.runtime.app import dossier_events_publisher
from gateway.runtime.config import Settings
from gateway.runtime.http import build_http_app
from gateway.runtime.kafka import build_broker
from gateway.runtime.roles import RoleContext, all_roles
from gateway.store.database import Database
from gateway.topics import ALL_TOPICS, DEAD_LETTERS, PAYMENTS

DOCUMENTED_BOOTSTRAP = "kafka:9092"


def render_contracts() -> dict[str, str]:
    """Relative path -> file text of every generated contract."""
    # signature checks run only where a file store is configured: documented with one
    settings = Settings(kafka={"bootstrap": DOCUMENTED_BOOTSTRAP},
                        signing={"document_url_prefixes": ["https://one-stop.example/files/"]})
    broker = build_broker(settings.kafka, DOCUMENTED_BOOTSTRAP)
    database = Database(settings.database)
    context = RoleContext(
        settings=settings, database=database, counters=FlowCounters(database),
        dead_letters=DeadLetters(database, broker), partner_calls=PartnerCalls(database), breakers=Breakers(),
        message_log=MessageLog(database), simulator_urls={},
    )
    for role in all_roles().values():
        role.install(broker, context)
    dossier_events = dossier_events_publisher(broker)
    broker.publisher(DEAD_LETTERS.name, title=f"{DEAD_LETTERS.name}:publish", description=DEAD_LETTERS.description)
    # Published only when payment providers are configured (none are by default): documented here.
    broker.publisher(PAYMENTS.name, title=f"{PAYMENTS.name}:payments", description=PAYMENTS.description,
                     schema=PAYMENTS.body)

    files = {"asyncapi.yaml": _asyncapi(broker)}
    for model in [topic.body for topic in ALL_TOPICS] + [EnvelopeHeaders]:
        files[f"schemas/{_schema_file(model)}"] = _json(model.model_json_schema())
    console = ConsoleParts(settings=settings, users=Users(database, settings.console),
                           actions=OperatorActions(database, context.message_log), counters=context.counters,
                           dead_letters=context.dead_letters, sampler=None)
    app = build_http_app(context, broker, dossier_events, CollectorRegistry(), console)
    files["openapi.json"] = _json(app.openapi())
    return files


def _asyncapi(broker) -> str:
    spec = AsyncAPI(
        broker,
        title="Provincial integration gateway",
        version=gateway.__version__,
        description=(
            "Kafka topics of the gateway. Every message has a JSON body and the envelope headers of "
            "schemas/envelope-headers.json; the key is the dossier code (MaHoSo)."
        ),
    ).to_specification()
    return yaml.safe_dump(spec.to_jsonable(), sort_keys=True, allow_unicode=True)


def _schema_file(model: type[BaseModel]) -> str:
    if model is EnvelopeHeaders:
        return "envelope-headers.json"
    return f"{model.schema_name}.v{model.schema_version}.json"


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_contracts(root: Path) -> list[Path]:
    written = []
    for relative, text in render_contracts().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_contracts(root: Path) -> list[str]:
    """Contracts whose checked-in text differs from what the code generates now."""
    return [
        relative
        for relative, text in render_contracts().items()
        if not (root / relative).is_file() or (root / relative).read_text(encoding="utf-8") != text
    ]
