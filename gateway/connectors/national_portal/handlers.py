"""The national portal role: dossier events in; each new dossier pushed with DongBoHoSoMC, each
status change with CapNhatTienDoHoSoMC, through the shared outbound flow (order per dossier,
retries, dead letters); every outcome published for the one-stop system."""

import functools
from datetime import UTC, datetime
from pathlib import Path

import httpx
from faststream.kafka import KafkaBroker

from gateway.connectors.national_portal.client import NationalPortalClient
from gateway.connectors.national_portal.config import NAME, portal_options
from gateway.domain import DossierSubmitted, OneGateUpdate, OneGateUpdateKind
from gateway.domain.events import DossierEvent
from gateway.mappings.errors import SpecProblems
from gateway.mappings.spec import MappingSpec, load_spec, resolve_spec_folder
from gateway.reliability.errors import WaitingForEarlier
from gateway.reliability.outbound import Outcome, PartnerFlow, install_partner_flow
from gateway.runtime.config import InvalidSettings, PartnerSettings
from gateway.runtime.messaging import Delivery
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.runtime.roles import Role, RoleContext
from gateway.store import partner_dossiers
from gateway.topics import DOSSIER_EVENTS, retry_topic

DEFAULT_SPECS = "national_portal"


class PortalMappings:
    """The two specs the portal needs, from partners.national_portal.mapping (a folder)."""

    def __init__(self, folder: Path) -> None:
        self.dossier: MappingSpec = load_spec(folder / "dossier.mapping.yaml")
        self.progress: MappingSpec = load_spec(folder / "progress.mapping.yaml")

    @classmethod
    def configured(cls, settings: PartnerSettings) -> "PortalMappings":
        folder = resolve_spec_folder(settings.mapping or DEFAULT_SPECS)
        try:
            return cls(folder)
        except SpecProblems as problems:
            raise InvalidSettings([f"partners.{NAME}.mapping ({folder}): {problem}" for problem in problems.problems]) from None


def adapter_password(settings: PartnerSettings) -> str:
    """The adapter password from its environment variable; the simulator takes any (even none)."""
    if "password" in settings.credentials:
        try:
            return settings.credential("password")
        except LookupError as error:
            raise InvalidSettings([f"partners.{NAME}.credentials.password: {error}"]) from None
    if settings.endpoint is not None:
        raise InvalidSettings([f"partners.{NAME}.credentials.password must name the environment variable holding "
                               f"the adapter password when partners.{NAME}.endpoint is set"])
    return ""


def portal_client(settings: PartnerSettings, endpoint: str) -> NationalPortalClient:
    return NationalPortalClient(httpx.AsyncClient(timeout=settings.timeout_s), endpoint, portal_options(settings),
                                adapter_password(settings))


def install(broker: KafkaBroker, context: RoleContext) -> None:
    settings = context.partner(NAME)
    # A configuration mistake stops start-up, not each message.
    portal_options(settings)
    adapter_password(settings)
    mappings = PortalMappings.configured(settings)
    updates = OneGateUpdates(broker, context.message_log, role=NAME,
                             description="Outcome of each push to the national portal (kind synced or refused).")

    @functools.cache  # built on first use: the endpoint may be a simulator started in this process
    def client() -> NationalPortalClient:
        return portal_client(settings, context.endpoint(NAME))

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        inner = event.root
        if isinstance(inner, DossierSubmitted):
            record = mappings.dossier.map({"dossier": inner.dossier.model_dump(mode="json")})
            outcome = await client().push_dossier(record)
            status, sequence, sent = int(inner.dossier.status), 0, {"dossier_record": record}
        else:
            change = inner.status_change
            async with context.database.transaction() as session:
                known = await partner_dossiers.find(session, NAME, change.dossier_code)
            if known is None:
                # Its dossier has not reached the portal (still retried, or dead-lettered): wait for it.
                raise WaitingForEarlier(f"dossier {change.dossier_code} has not reached the portal yet", code="no-dossier")
            record = mappings.progress.map({"status_change": change.model_dump(mode="json")})
            await client().push_progress([record])
            outcome = f"progress pushed (status {int(change.status)})"
            sequence = None if change.reported_by else change.sequence  # a ministry's report: numbered apart
            status, sent = int(change.status), {"step_record": record}
        async with context.database.transaction() as session:
            await partner_dossiers.record_sent(session, NAME, delivery.dossier_code, status=status,
                                               sequence=sequence, **sent)
        return outcome

    async def lookup(key: str) -> bool:
        # Only a submission can be looked up; a step is pushed again (the portal keeps one of each).
        code, _, step = key.rpartition(":")
        if step != "submitted":
            return False
        record = await client().look_up(code)
        if record is None:
            return False
        # The earlier call went through but its worker died before noting it: note it now, or
        # this dossier's steps would wait for it forever.
        async with context.database.transaction() as session:
            await partner_dossiers.record_sent(session, NAME, code, status=_whole_number(record.get("TrangThaiHoSo")),
                                               sequence=0, dossier_record=record)
        return True

    async def report(event: DossierEvent, delivery: Delivery, outcome: Outcome) -> None:
        inner = event.root
        status = inner.dossier.status if isinstance(inner, DossierSubmitted) else inner.status_change.status
        what = "hồ sơ (dossier)" if isinstance(inner, DossierSubmitted) else f"tiến độ (status {int(status)})"
        update = OneGateUpdate(
            dossier_code=delivery.dossier_code,
            kind=OneGateUpdateKind.SYNCED if outcome.delivered else OneGateUpdateKind.REFUSED,
            source=NAME, occurred_at=datetime.now(UTC), status=status,
            message=(f"Đã đồng bộ {what} lên Cổng DVCQG: {outcome.detail}" if outcome.delivered
                     else f"Cổng DVCQG không nhận {what}: {outcome.detail}")[:2000],
        )
        # Its own id per kind: after a refusal, a replay that succeeds must not look like a duplicate.
        await updates.tell(update, delivery, f"{NAME}-{update.kind.value}")

    install_partner_flow(broker, context, PartnerFlow(
        connector=NAME,
        source=DOSSIER_EVENTS,
        idempotency_key=lambda event: event.step_key,
        call=call,
        lookup=lookup,
        report=report,
        description="Pushes each new dossier (DongBoHoSoMC) and each status change (CapNhatTienDoHoSoMC) to the "
                    "National Public Service Portal.",
    ))


def _whole_number(value: object) -> int:
    """The portal's status code as a number when it is one (for people; drift compares the codes sent)."""
    try:
        return int(str(value))
    except ValueError:
        return 0


ROLE = Role(
    name=NAME,
    description="national portal (DVCQG): pushes every dossier and status change, reports each outcome",
    install=install,
    topics=(retry_topic(NAME, DOSSIER_EVENTS),),
)
