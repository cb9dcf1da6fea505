"""Tracking: how the gateway hears where parcels are, two ways into the same ledger.

- Callbacks, `POST /api/v1/postal/{name}/tracking`: the shared signed-webhook intake
  (gateway/webhooks) checks size, signature and staleness and answers in the carrier's format;
  here the verified body is read with the carrier's reply spec and the ledger takes the event in
  one transaction (refusing a replayed signature, publishing before the commit).
- Polling: every tracking.interval_s, open shipments without news for tracking.quiet_s are
  asked for their whole history (operations.track): what lost callbacks never said.
"""

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from faststream.kafka import KafkaBroker

from gateway.connectors.postal.client import PostalClient
from gateway.connectors.postal.config import PostalCarrier, load_carriers
from gateway.connectors.postal.news import PostalNews
from gateway.connectors.postal.shipments import ShipmentLedger
from gateway.mappings.errors import MappingFailure, OutputInvalid
from gateway.reliability.errors import classify
from gateway.runtime.background import every
from gateway.runtime.roles import RoleContext
from gateway.webhooks.intake import Handled, SignedWebhooks
from gateway.webhooks.replays import forget_before

log = logging.getLogger(__name__)

# How long a callback about a parcel whose order's answer is not recorded yet waits for it before
# it is answered 503 (send again): the answer is recorded moments after the carrier gave it.
ORDER_ANSWER_WAIT_S = 3.0
STATUSES = {"unknown_shipment": 404}
MESSAGES = {"unknown_shipment": "Không tìm thấy bưu gửi (unknown ItemCode)"}


class TrackingIntake:
    """Everything the callback endpoint needs, built before the broker starts (its publishers)."""

    def __init__(self, context: RoleContext, carriers: dict[str, PostalCarrier], clients: dict[str, PostalClient],
                 ledger: ShipmentLedger) -> None:
        self.carriers = carriers
        self.clients = clients
        self.ledger = ledger
        self.webhooks = SignedWebhooks(context, flow_prefix="postal", partners=carriers, statuses=STATUSES,
                                       messages=MESSAGES)

    async def receive(self, carrier: PostalCarrier, request: Request) -> Response:
        async def handle(body: dict[str, Any], replay_key: str | None) -> Handled:
            try:
                reply = self.clients[carrier.name].read(body, "callback")
            except (ValueError, MappingFailure, OutputInvalid) as error:
                return Handled("malformed", f"the reply spec cannot read it: {error}")
            tracked = await self.ledger.track_when_ordered(ORDER_ANSWER_WAIT_S, carrier.name, carrier.options.statuses,
                                                           reply, via="callback", seen_signature=replay_key)

            async def log_published() -> None:
                await self.ledger.news.log(tracked.published, f"tracking: {tracked.note}")

            return Handled(tracked.outcome.value, tracked.note, tracked.dossier_code,
                           after=log_published if tracked.published else None, raised=tracked.raised)

        return await self.webhooks.receive(request, carrier.webhook, handle)


def tracking_intake(broker: KafkaBroker, context: RoleContext) -> TrackingIntake:
    """Declares its publishers: call before the broker starts."""
    from gateway.connectors.postal.handlers import carrier_client  # here: handlers import this module

    carriers = load_carriers(context.settings)
    ledger = ShipmentLedger(context.database, PostalNews(broker, context.message_log, role="tracking"))
    return TrackingIntake(context, carriers, {name: carrier_client(context, carrier)
                                              for name, carrier in carriers.items()}, ledger)


async def poll_forever(context: RoleContext, carrier: PostalCarrier, client: PostalClient,
                       ledger: ShipmentLedger) -> None:
    settings = carrier.options.tracking

    async def one_round() -> None:
        async with context.database.transaction() as session:  # replay signatures outlive no tolerance
            await forget_before(session, carrier.name,
                                datetime.now(UTC) - timedelta(seconds=2 * carrier.options.signature.tolerance_s))
        if not settings.poll:
            return
        outcomes = await poll_once(carrier, client, ledger, claim_s=settings.interval_s * 0.9)
        for outcome, count in outcomes.items():
            if count:
                context.counters.add(f"postal.{carrier.name}",
                                     outcome if outcome == "raised_to_operators" else f"poll_{outcome}", count)

    await every(settings.interval_s, context.stopping, one_round, f"{carrier.name} tracking")


async def poll_once(carrier: PostalCarrier, client: PostalClient, ledger: ShipmentLedger, *,
                    quiet_s: float | None = None, claim_s: float = 5.0) -> dict[str, int]:
    """One round: each claimed shipment's history is asked and taken; returns counts by outcome."""
    settings = carrier.options.tracking
    shipments = await ledger.claim_for_polling(carrier.name, batch=settings.batch, claim_s=claim_s,
                                               quiet_s=settings.quiet_s if quiet_s is None else quiet_s)
    outcomes: Counter = Counter()
    limit = asyncio.Semaphore(settings.concurrency)

    async def ask(tracking_number: str) -> None:
        async with limit:
            try:
                reply = await client.track(tracking_number)
                if not reply.get("ok"):
                    outcomes["unknown_at_carrier" if reply.get("code") else "error"] += 1
                    return
                tracked = await ledger.track(carrier.name, carrier.options.statuses, reply, via="poll",
                                             asked=tracking_number)
                if tracked.published:
                    await ledger.news.log(tracked.published, f"poll: {tracked.note}")
                if tracked.outcome.value == "malformed":
                    log.warning("%s: the tracking of %s cannot be taken: %s", carrier.name, tracking_number,
                                tracked.note)
                outcomes[tracked.outcome.value] += 1
                outcomes["raised_to_operators"] += tracked.raised
            except Exception as error:  # one parcel's trouble never ends the round for the others
                kind = classify(error, carrier.settings.errors)
                log.warning("%s: %s not polled (%s): %s", carrier.name, tracking_number, kind.value, error)
                outcomes["error"] += 1

    await asyncio.gather(*(ask(shipment.tracking_number) for shipment in shipments))
    return dict(outcomes)
