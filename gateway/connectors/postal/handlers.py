"""The postal role: for every partner with `connector: postal`, the dossier events that concern
the post become orders at that carrier through the shared outbound flow (order per dossier,
retries, breaker, dead letters; its own consumer group and retry topic):

- a submitted dossier whose applicant chose postal submission: a pick-up order (the dossier is
  collected at home and brought to the agency); a chosen postal return is recorded, planned;
- a dossier processed (status 9) with a planned return: the return order (the result goes to
  the applicant's address);
- a dossier withdrawn (status 7): its orders not yet picked up are cancelled; a parcel already
  with the post is raised to operators.

Beside it runs the polling of open shipments (tracking.py)."""

import functools
import json
import logging
from typing import Any

import httpx
from faststream.kafka import KafkaBroker

from gateway.connectors.json_api import partner_endpoint
from gateway.connectors.postal.client import CancelRefused, PostalClient
from gateway.connectors.postal.config import (
    PostalCarrier,
    PostalOptions,
    default_carrier,
    load_carriers,
    postal_partners,
)
from gateway.connectors.postal.news import PostalNews
from gateway.connectors.postal.shipments import ShipmentLedger
from gateway.connectors.postal.tracking import poll_forever
from gateway.domain import (
    Dossier,
    DossierEvent,
    DossierStatus,
    DossierStatusChanged,
    DossierSubmitted,
    ShipmentKind,
    ShipmentState,
)
from gateway.reliability.errors import PermanentError
from gateway.reliability.outbound import Outcome, PartnerFlow, install_partner_flow
from gateway.runtime.config import Settings
from gateway.runtime.messaging import Delivery
from gateway.runtime.roles import Role, RoleContext
from gateway.runtime.templates import filled
from gateway.store.tables import Shipment
from gateway.topics import DOSSIER_EVENTS, Topic, retry_topic

log = logging.getLogger(__name__)

NAME = "postal"
# Still with the applicant or the agency: the carrier can cancel.
CANCELLABLE = (ShipmentState.ORDERING, ShipmentState.REGISTERED, ShipmentState.PICKING_UP,
               ShipmentState.PICKUP_FAILED)


def install(broker: KafkaBroker, context: RoleContext) -> None:
    carriers = load_carriers(context.settings)
    if not carriers:
        return
    ledger = ShipmentLedger(context.database, PostalNews(broker, context.message_log, role="orders"))
    default = default_carrier(carriers)
    for name, carrier in carriers.items():
        client = carrier_client(context, carrier)
        _install_carrier(broker, context, carrier, client, ledger, is_default=name == default,
                         configured=frozenset(carriers))
        context.background.append(functools.partial(poll_forever, context, carrier, client, ledger))


def carrier_client(context: RoleContext, carrier: PostalCarrier) -> PostalClient:
    return PostalClient(carrier, partner_endpoint(context, carrier.name),
                        httpx.AsyncClient(timeout=carrier.settings.timeout_s))


def postal_step(event: DossierEvent) -> str | None:
    """What a dossier event asks of the post: submitted (with a postal choice), processed, withdrawn."""
    inner = event.root
    if isinstance(inner, DossierSubmitted):
        return "submitted" if inner.dossier.postal is not None else None
    change = inner.status_change
    if change.status == DossierStatus.PROCESSED:
        return "processed"
    if change.status == DossierStatus.WITHDRAWN and not change.reported_by:
        return "withdrawn"
    return None


def _install_carrier(broker: KafkaBroker, context: RoleContext, carrier: PostalCarrier, client: PostalClient,
                     ledger: ShipmentLedger, *, is_default: bool, configured: frozenset[str]) -> None:
    name, options = carrier.name, carrier.options

    def applies_to(event: DossierEvent) -> bool:
        step = postal_step(event)
        if step != "submitted":
            return step is not None  # the carrier's own records say whether it holds a shipment
        chosen = event.root.dossier.postal.carrier
        # The default carrier also answers for a carrier that is not configured (it refuses it).
        return chosen == name or (is_default and (chosen is None or chosen not in configured))

    async def call(event: DossierEvent, delivery: Delivery) -> str:
        step = postal_step(event)
        if step == "submitted":
            return await submitted(event.root.dossier)
        if step == "processed":
            return await processed(event.root)
        return await withdrawn(event.root)

    async def submitted(dossier: Dossier) -> str:
        choice = dossier.postal
        if choice.carrier is not None and choice.carrier not in configured:
            raise PermanentError(f"no postal service '{choice.carrier}' is configured (or it is disabled); "
                                 f"configured: {', '.join(sorted(configured))}", code="no-carrier")
        done = []
        if choice.return_to is not None:
            await ledger.record(carrier=name, dossier_code=dossier.code, kind=ShipmentKind.RETURN,
                                agency_code=dossier.agency_code, address=_address(choice.return_to),
                                cod_vnd=choice.collect_on_delivery_vnd, state=ShipmentState.PLANNED,
                                description=parcel_description(options, ShipmentKind.RETURN, dossier))
            done.append("return planned")
        if choice.pick_up_from is not None:
            shipment = await ledger.record(carrier=name, dossier_code=dossier.code, kind=ShipmentKind.PICK_UP,
                                           agency_code=dossier.agency_code, address=_address(choice.pick_up_from),
                                           cod_vnd=0, state=ShipmentState.ORDERING,
                                           description=parcel_description(options, ShipmentKind.PICK_UP, dossier))
            done.insert(0, await place(shipment))
        return "; ".join(done)

    async def processed(inner: DossierStatusChanged) -> str:
        planned = await ledger.find(name, inner.status_change.dossier_code, ShipmentKind.RETURN)
        if not planned:
            return "no postal return chosen"
        shipment = await ledger.start_ordering(planned[0].id)
        if shipment.state != ShipmentState.ORDERING:
            return f"return already {shipment.state}"
        return await place(shipment)

    async def place(shipment: Shipment) -> str:
        if shipment.state != ShipmentState.ORDERING:
            return f"{shipment.kind} already {shipment.state} ({shipment.tracking_number})"
        request = order_request(carrier, shipment)
        try:
            quote = await client.quote(request)
        except Exception as error:  # a price is nice to have; the order is what the applicant needs
            log.warning("%s: no quote for the %s of %s (%s); ordering anyway", name, shipment.kind,
                        shipment.dossier_code, error)
            quote = None
        reply = await client.order(request)
        fee = reply.get("fee") if reply.get("fee") is not None else (quote or {}).get("fee")
        published = await ledger.ordered(shipment.id, reply["tracking_number"], fee)
        await ledger.news.log(published, "registered")
        return f"{shipment.kind} ordered: {reply['tracking_number']}"

    async def withdrawn(inner: DossierStatusChanged) -> str:
        reason = "Công dân rút hồ sơ (the applicant withdrew the dossier)"
        outcomes = []
        for shipment in await ledger.find(name, inner.status_change.dossier_code):
            state = ShipmentState(shipment.state)
            if state in (ShipmentState.CANCELLED, ShipmentState.DELIVERED, ShipmentState.RETURNED):
                continue
            if not shipment.tracking_number:  # nothing at the carrier: planned, refused, or never placed
                await ledger.news.log(await ledger.cancelled(shipment.id, reason), "cancelled")
                outcomes.append(f"{shipment.kind} cancelled")
                continue
            try:
                if state not in CANCELLABLE:
                    raise CancelRefused(f"the parcel is {state.value}", code="picked-up")
                await client.cancel(shipment.tracking_number, shipment.dossier_code, reason)
            except CancelRefused as error:
                # The post holds the dossier or result: people must bring it back, the gateway cannot.
                await raise_problem(shipment, f"withdrawn, but the order was not cancelled: {error}; arrange "
                                              "its return with the post")
                outcomes.append(f"{shipment.kind} NOT cancelled ({error})")
                continue
            await ledger.news.log(await ledger.cancelled(shipment.id, reason), "cancelled")
            outcomes.append(f"{shipment.kind} {shipment.tracking_number} cancelled")
        return "; ".join(outcomes) or "nothing to cancel"

    async def raise_problem(shipment: Shipment, problem: str) -> None:
        await ledger.news.log(await ledger.problem(shipment.id, problem), "problem")
        context.counters.add(f"{NAME}.{name}", "raised_to_operators")

    async def report(event: DossierEvent, delivery: Delivery, outcome: Outcome) -> None:
        if outcome.delivered:
            return  # the ledger told the one-stop system as the shipment moved
        withdrawal = postal_step(event) == "withdrawn"
        for shipment in await ledger.find(name, event.dossier_code):
            if shipment.state == ShipmentState.ORDERING:
                await ledger.news.log(await ledger.refused(shipment.id, outcome.detail), "refused")
            elif withdrawal and shipment.tracking_number and not ShipmentState(shipment.state).final:
                await raise_problem(shipment, f"withdrawn, but the order could not be cancelled: {outcome.detail}")

    install_partner_flow(broker, context, PartnerFlow(
        connector=name,
        source=DOSSIER_EVENTS,
        idempotency_key=lambda event: event.step_key,
        applies_to=applies_to,
        call=call,
        report=report,
        description=f"Places pick-up and return orders at {carrier.title}, cancels them on withdrawal"
                    + (" (also for postal choices naming no carrier)" if is_default else "") + ".",
    ))


def parcel_description(options: PostalOptions, kind: ShipmentKind, dossier: Dossier) -> str:
    template = options.parcel.pick_up_description if kind is ShipmentKind.PICK_UP \
        else options.parcel.return_description
    return filled(template, {"dossier_code": dossier.code, "procedure_name": dossier.procedure_name,
                             "agency_code": dossier.agency_code})[:500]


def order_request(carrier: PostalCarrier, shipment: Shipment) -> dict[str, Any]:
    """The order request (docs/postal.md): the applicant's address on one side, the agency's on the other."""
    options = carrier.options
    applicant = json.loads(shipment.address)
    agency = _address(options.address_of(shipment.agency_code))
    pick_up = shipment.kind == ShipmentKind.PICK_UP
    return {
        "order_number": shipment.dossier_code,
        "service": shipment.kind,
        "cod_vnd": shipment.cod_vnd,
        "weight_g": options.parcel.weight_g,
        "description": shipment.description,
        "sender": applicant if pick_up else agency,
        "receiver": agency if pick_up else applicant,
        "dossier": {"code": shipment.dossier_code, "agency_code": shipment.agency_code},
    }


def _address(address) -> dict[str, Any]:
    return address.model_dump(mode="json")


def own_topics(settings: Settings) -> tuple[Topic, ...]:
    return tuple(retry_topic(name, DOSSIER_EVENTS) for name in postal_partners(settings))


ROLE = Role(
    name=NAME,
    description="public postal service (partners with connector: postal): pick-up and return orders, tracking",
    install=install,
    topics_for=own_topics,
    takes_every_dossier=False,
)
