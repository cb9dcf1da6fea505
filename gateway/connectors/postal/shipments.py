"""The gateway's record of postal shipments (tables shipments and shipment_events) and the one
place where a shipment moves. Whatever tells the gateway about a parcel (the order's answer, a
callback, a poll) goes through here, in one transaction that holds the shipment's row, with
what the move means published before the commit (news.py). A crash in between leaves nothing
recorded; the carrier sends again (or the next poll asks) and the same ids go out again.

A tracking event moves a shipment only forwards: when it is newer than the event that set the
shipment's state (by the carrier's clock; within the same second, when it ranks higher, see
ShipmentState.rank), and never out of a final state. An out-of-order or repeated event is
recorded in the parcel's history and changes nothing else.
"""

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.connectors.postal.config import TrackingOutcome
from gateway.connectors.postal.news import PostalNews
from gateway.domain import ShipmentKind, ShipmentState
from gateway.mappings.transforms import aware_datetime
from gateway.runtime.messaging import Published
from gateway.store.database import Database
from gateway.store.tables import Shipment, ShipmentEvent
from gateway.store.times import loaded
from gateway.store.upsert import insert_for
from gateway.webhooks.replays import first_sighting

log = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
ORDER_RECHECK_S = 0.1
# Ordered and not final: the parcels tracking still follows.
FOLLOWED_STATES = tuple(state.value for state in ShipmentState
                        if not state.final and state not in (ShipmentState.PLANNED, ShipmentState.ORDERING))
# A pick-up counts as received by post once the post holds the dossier (whichever event said so first).
PICKED_UP_STATES = frozenset({ShipmentState.PICKED_UP, ShipmentState.IN_TRANSIT, ShipmentState.OUT_FOR_DELIVERY,
                              ShipmentState.DELIVERY_FAILED, ShipmentState.DELIVERED})


@dataclass(frozen=True)
class Tracked:
    outcome: TrackingOutcome
    note: str  # what happened, for the message log and the logs
    dossier_code: str = "-"
    published: list[Published] = field(default_factory=list)
    raised: bool = False  # an operator should look (counted as raised_to_operators)


class ShipmentLedger:
    def __init__(self, database: Database, news: PostalNews) -> None:
        self.database = database
        self.news = news

    async def record(self, *, carrier: str, dossier_code: str, kind: ShipmentKind, agency_code: str,
                     address: dict[str, Any], cod_vnd: int, state: ShipmentState, description: str) -> Shipment:
        """The shipment of this dossier and kind at this carrier, recorded in `state` unless it is
        already. One recorded as refused is ordered again (`state` ordering: a replayed dead letter)."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            await session.execute(insert_for(session, Shipment.__table__).values(
                carrier=carrier, dossier_code=dossier_code, kind=kind.value, agency_code=agency_code,
                state=state.value, address=json.dumps(address, ensure_ascii=False), cod_vnd=cod_vnd, description=description,
                created_at=now, updated_at=now).on_conflict_do_nothing(
                index_elements=["carrier", "dossier_code", "kind"]))
            shipment = await _locked(session, Shipment.carrier == carrier, Shipment.dossier_code == dossier_code,
                                     Shipment.kind == kind.value)
            if state is ShipmentState.ORDERING and shipment.state == ShipmentState.REFUSED:
                shipment.state, shipment.detail, shipment.updated_at = ShipmentState.ORDERING, None, now
            return shipment

    async def find(self, carrier: str, dossier_code: str, kind: ShipmentKind | None = None) -> list[Shipment]:
        query = select(Shipment).where(Shipment.carrier == carrier, Shipment.dossier_code == dossier_code)
        if kind is not None:
            query = query.where(Shipment.kind == kind.value)
        async with self.database.transaction() as session:
            return list((await session.execute(query.order_by(Shipment.id))).scalars())

    async def start_ordering(self, shipment_id: int) -> Shipment:
        """A planned return whose result is ready, or a refused order tried again (a replayed dead
        letter): ordering. Other states are left as they are."""
        async with self.database.transaction() as session:
            shipment = await _locked(session, Shipment.id == shipment_id)
            if shipment.state in (ShipmentState.PLANNED, ShipmentState.REFUSED):
                shipment.state, shipment.detail, shipment.updated_at = ShipmentState.ORDERING, None, datetime.now(UTC)
            return shipment

    async def ordered(self, shipment_id: int, tracking_number: str, fee: int | None) -> list[Published]:
        """The carrier took the order: registered, with its tracking number and postage (the order's,
        else the quote's), told once."""
        async with self.database.transaction() as session:
            shipment = await _locked(session, Shipment.id == shipment_id)
            if shipment.state != ShipmentState.ORDERING:
                return []  # an earlier delivery recorded it
            now = datetime.now(UTC)
            shipment.tracking_number, shipment.fee_vnd = tracking_number, fee if fee is not None else shipment.fee_vnd
            published = await self._move(shipment, ShipmentState.REGISTERED, now, None, event_key=tracking_number)
            shipment.state_at = None  # the carrier's own events order what follows, by the carrier's clock
            return published

    async def refused(self, shipment_id: int, reason: str) -> list[Published]:
        """The carrier refused the order for good (or it could not be placed): refused, told once."""
        async with self.database.transaction() as session:
            shipment = await _locked(session, Shipment.id == shipment_id)
            if shipment is None or shipment.state != ShipmentState.ORDERING:
                return []
            shipment.detail = reason[:2000]
            return await self._move(shipment, ShipmentState.REFUSED, datetime.now(UTC), None,
                                    event_key=_digest(reason))

    async def cancelled(self, shipment_id: int, reason: str) -> list[Published]:
        """Withdrawn: a planned return is dropped, an order the carrier cancelled ends cancelled."""
        async with self.database.transaction() as session:
            shipment = await _locked(session, Shipment.id == shipment_id)
            if shipment.state in (ShipmentState.CANCELLED, ShipmentState.DELIVERED, ShipmentState.RETURNED):
                return []
            shipment.detail = reason[:2000]
            return await self._move(shipment, ShipmentState.CANCELLED, datetime.now(UTC), reason, event_key="withdrawn")

    async def problem(self, shipment_id: int, problem: str) -> list[Published]:
        """Something operators must handle (a withdrawn dossier's parcel the carrier would not
        cancel): noted on the shipment, logged as an error and told to the one-stop system, once."""
        async with self.database.transaction() as session:
            shipment = await _locked(session, Shipment.id == shipment_id)
            shipment.detail, shipment.updated_at = problem[:2000], datetime.now(UTC)
            log.error("POSTAL: %s of dossier %s at %s: %s", shipment.kind, shipment.dossier_code, shipment.carrier,
                      problem)
            return await self.news.moved(shipment, ShipmentState(shipment.state), datetime.now(UTC),
                                         counted_now=False, reason=problem, event_key="problem-" + _digest(problem))

    async def track_when_ordered(self, wait_s: float, *args: Any, **kwargs: Any) -> Tracked:
        """`track`, but a callback that overtook the answer to its order (recorded a moment later by
        the worker that placed it) waits up to `wait_s` for that answer rather than be sent back."""
        deadline = time.monotonic() + wait_s
        while True:
            tracked = await self.track(*args, **kwargs)
            if tracked.outcome is not TrackingOutcome.UNAVAILABLE or time.monotonic() >= deadline:
                return tracked
            await asyncio.sleep(ORDER_RECHECK_S)

    async def track(self, carrier: str, statuses: dict[str, ShipmentState], reply: dict[str, Any], *, via: str,
                    seen_signature: str | None = None, asked: str | None = None) -> Tracked:
        """Take the tracking events of one parcel (`reply`: postal/reply.schema.json, from a callback
        or a poll). `seen_signature`: the callback's signature, refused as a replay when seen before
        (noted only once the parcel is found: a request answered 503 may come again as it was).
        `asked`: the tracking number a poll asked about; an answer about another parcel is refused."""
        told = reply.get("tracking_number")
        if asked is not None and told is not None and told != asked:
            return Tracked(TrackingOutcome.MALFORMED, f"asked about {asked}, the answer is about {told}")
        tracking_number, events = told or asked, reply.get("events") or []
        if not tracking_number or not events:
            return Tracked(TrackingOutcome.MALFORMED, "no tracking number or no event")
        try:
            events = sorted(({**event, "at": aware_datetime(event["occurred_at"]).astimezone(UTC)}
                             for event in events), key=lambda event: event["at"])
        except (KeyError, ValueError) as error:
            return Tracked(TrackingOutcome.MALFORMED, f"an event without a readable time: {error}")
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            published: list[Published] = []
            shipment = await _locked(session, Shipment.carrier == carrier, Shipment.tracking_number == tracking_number)
            if shipment is None:
                shipment = await self._unrecorded_order(session, carrier, reply, tracking_number)
                if shipment is None:
                    return Tracked(TrackingOutcome.UNKNOWN_SHIPMENT, f"no shipment {tracking_number} at {carrier}")
                if shipment.state != ShipmentState.REFUSED:
                    # The carrier called back before its answer to the order was recorded: send again.
                    return Tracked(TrackingOutcome.UNAVAILABLE, f"{tracking_number}: its order is being recorded")
                published += await self._adopt(shipment, tracking_number)
            if reply.get("order_number") not in (None, shipment.dossier_code):
                return Tracked(TrackingOutcome.MALFORMED, f"{tracking_number} is the parcel of {shipment.dossier_code}, "
                                                          f"not of {reply['order_number']}", shipment.dossier_code)
            if seen_signature is not None and not await first_sighting(session, carrier, seen_signature, now):
                return Tracked(TrackingOutcome.REPLAYED, "the same signed request was taken before")
            recorded = {(row.status_code, loaded(row.occurred_at)): row for row in (await session.execute(
                select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id))).scalars()}
            new, unmapped = 0, []
            for event in events:
                code, at = event["status_code"], event["at"]
                state, row = statuses.get(code), recorded.get((code, at))
                if row is not None and (row.state is not None or state is None):
                    continue  # seen before (an event recorded while its code was unmapped is taken once it maps)
                new += 1
                applied = state is not None and _moves(shipment, state, at)
                if row is None:
                    row = recorded[(code, at)] = ShipmentEvent(
                        shipment_id=shipment.id, status_code=code, occurred_at=at, message=event.get("message"),
                        location=event.get("location"), reason=event.get("reason"), via=via, received_at=now)
                    session.add(row)
                row.state, row.applied = state, applied
                if state is None:
                    unmapped.append(code)
                elif applied:
                    same_state = state == ShipmentState(shipment.state)
                    shipment.status_code = code
                    if event.get("reason"):
                        shipment.detail = event["reason"][:2000]
                    published += await self._move(shipment, state, at, event.get("reason"), same_state=same_state)
            if unmapped:
                shipment.detail = (f"tracking codes {', '.join(unmapped)} are not in partners.{carrier}.options."
                                   "statuses: add them (the events are kept and taken when they come again)")
                log.error("POSTAL: %s of dossier %s: %s", tracking_number, shipment.dossier_code, shipment.detail)
            shipment.updated_at = now
            if new == 0:
                return Tracked(TrackingOutcome.DUPLICATE, f"{tracking_number}: nothing new ({shipment.state})",
                               shipment.dossier_code, published)
            return Tracked(TrackingOutcome.ACCEPTED,
                           f"{tracking_number}: {new} new event(s), now {shipment.state}"
                           + (f"; unmapped {', '.join(unmapped)}" if unmapped else ""),
                           shipment.dossier_code, published,
                           raised=bool(unmapped) or ShipmentState(shipment.state).raised and bool(published))

    async def _unrecorded_order(self, session: AsyncSession, carrier: str, reply: dict[str, Any],
                                tracking_number: str) -> Shipment | None:
        """The shipment a parcel the gateway has no tracking number for belongs to: its order is
        being recorded (or was, since this transaction looked), or was taken as refused because its
        answer never came (a timeout) while the carrier did place it."""
        order_number = reply.get("order_number")
        if not order_number:
            return None
        query = select(Shipment).where(
            Shipment.carrier == carrier, Shipment.dossier_code == order_number,
            (Shipment.tracking_number == tracking_number)
            | (Shipment.state.in_((ShipmentState.ORDERING.value, ShipmentState.REFUSED.value))
               & Shipment.tracking_number.is_(None)))
        if reply.get("service"):
            query = query.where(Shipment.kind == reply["service"])
        candidates = list((await session.execute(query.with_for_update())).scalars())
        return candidates[0] if len(candidates) == 1 else None

    async def _adopt(self, shipment: Shipment, tracking_number: str) -> list[Published]:
        shipment.tracking_number = tracking_number
        shipment.detail = (f"the order was taken as refused ({shipment.detail}), but the carrier placed it as "
                           f"{tracking_number}: followed again")
        log.error("POSTAL: %s of dossier %s: %s", shipment.kind, shipment.dossier_code, shipment.detail)
        shipment.state = ShipmentState.ORDERING.value  # so that registering is a move forwards
        published = await self._move(shipment, ShipmentState.REGISTERED, datetime.now(UTC), None,
                                     event_key=tracking_number)
        shipment.state_at = None
        return published

    async def _move(self, shipment: Shipment, state: ShipmentState, at: datetime, reason: str | None, *,
                    same_state: bool = False, event_key: str | None = None) -> list[Published]:
        """Set the state and publish what it means. The same state again (a second failed attempt,
        a repeated code) is news only when it is a failure. `event_key` names the move in message
        ids (default: the carrier's time of the event), so that taking it again repeats the ids."""
        shipment.state, shipment.state_at, shipment.updated_at = state.value, at, datetime.now(UTC)
        counted_now = False
        if shipment.counted_in is None and _counts(ShipmentKind(shipment.kind), state):
            shipment.counted_in = at.astimezone(VIETNAM).strftime("%Y-%m")
            counted_now = True
        if same_state and not state.raised:
            return []
        return await self.news.moved(shipment, state, at, counted_now=counted_now, reason=reason,
                                     event_key=event_key or at.isoformat())

    async def claim_for_polling(self, carrier: str, *, batch: int, quiet_s: float, claim_s: float) -> list[Shipment]:
        """Followed shipments without news for `quiet_s`, least recently asked first, claimed for
        `claim_s` (another worker's round skips them)."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            rows = list((await session.execute(
                select(Shipment).where(Shipment.carrier == carrier, Shipment.state.in_(FOLLOWED_STATES),
                                       Shipment.tracking_number.is_not(None),
                                       Shipment.updated_at <= now - timedelta(seconds=quiet_s),
                                       (Shipment.polled_at.is_(None))
                                       | (Shipment.polled_at < now - timedelta(seconds=claim_s)))
                .order_by(Shipment.polled_at.asc().nulls_first(), Shipment.id)
                .limit(batch).with_for_update(skip_locked=True))).scalars())
            for row in rows:
                row.polled_at = now
            return rows


def _moves(shipment: Shipment, state: ShipmentState, at: datetime) -> bool:
    """An event moves a shipment when it is newer than the event that set its state (the same
    second: when it ranks higher). A final state never moves."""
    current = ShipmentState(shipment.state)
    if current.final:
        return False
    known = loaded(shipment.state_at)
    if known is None:  # set by the gateway (order placed), not by a carrier's event
        return state.rank >= current.rank
    return (at, state.rank) > (known, current.rank)


def _counts(kind: ShipmentKind, state: ShipmentState) -> bool:
    """For the monthly report: dossiers received by post (pick-ups collected), results returned by post."""
    return state in PICKED_UP_STATES if kind is ShipmentKind.PICK_UP else state is ShipmentState.DELIVERED


async def monthly_figures(database: Database, month: str | None = None) -> list[dict[str, Any]]:
    """Per month (YYYY-MM, Vietnam time) and agency: dossiers received by post and results returned by post."""
    query = select(Shipment.counted_in, Shipment.agency_code, Shipment.kind, func.count()).where(
        Shipment.counted_in.is_not(None)).group_by(Shipment.counted_in, Shipment.agency_code, Shipment.kind)
    if month is not None:
        query = query.where(Shipment.counted_in == month)
    figures: dict[tuple[str, str], Counter] = {}
    async with database.transaction() as session:
        for counted_in, agency, kind, count in (await session.execute(query)).all():
            figures.setdefault((counted_in, agency), Counter())[kind] += count
    return [{"month": month_, "agency_code": agency, "received_by_post": counts[ShipmentKind.PICK_UP.value],
             "returned_by_post": counts[ShipmentKind.RETURN.value]}
            for (month_, agency), counts in sorted(figures.items())]


async def _locked(session: AsyncSession, *conditions) -> Shipment | None:
    return (await session.execute(select(Shipment).where(*conditions).with_for_update())).scalar_one_or_none()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
