"""Postal pieces on their own: the tracking order rule, what counts for the monthly report, the
configuration's checks and the domain's postal choice."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from pydantic import ValidationError

from gateway.connectors.postal.config import DEFAULT_STATUSES, PostalCarrier, load_carriers
from gateway.connectors.postal.shipments import _counts, _moves
from gateway.domain import PostalAddress, PostalChoice, ShipmentKind, ShipmentState
from gateway.runtime.config import InvalidSettings, PartnerSettings, Settings
from gateway.store.tables import Shipment

from .conftest import REPO

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
HOME = {"name": "Lê Thị Hoa", "address": "5 Trần Hưng Đạo, Huế", "phone": "0912345678", "province_code": "46",
        "district_code": "474"}


def shipment(state: ShipmentState, at: datetime | None) -> Shipment:
    return Shipment(state=state.value, state_at=at, kind="return")


@pytest.mark.parametrize(("current", "at", "event", "event_at", "moves"), [
    (ShipmentState.IN_TRANSIT, T0, ShipmentState.OUT_FOR_DELIVERY, T0 + timedelta(seconds=5), True),
    (ShipmentState.OUT_FOR_DELIVERY, T0, ShipmentState.IN_TRANSIT, T0 - timedelta(seconds=5), False),  # late
    (ShipmentState.OUT_FOR_DELIVERY, T0, ShipmentState.DELIVERY_FAILED, T0 - timedelta(seconds=5), False),
    (ShipmentState.DELIVERY_FAILED, T0, ShipmentState.OUT_FOR_DELIVERY, T0 + timedelta(seconds=5), True),  # retry
    (ShipmentState.PICKED_UP, T0, ShipmentState.IN_TRANSIT, T0, True),  # same second: the higher rank
    (ShipmentState.IN_TRANSIT, T0, ShipmentState.PICKED_UP, T0, False),
    (ShipmentState.IN_TRANSIT, T0, ShipmentState.IN_TRANSIT, T0, False),  # a repeat
    (ShipmentState.DELIVERY_FAILED, T0, ShipmentState.DELIVERY_FAILED, T0 + timedelta(hours=1), True),  # 2nd failure
    (ShipmentState.DELIVERED, T0, ShipmentState.RETURNED, T0 + timedelta(days=1), False),  # final stays
    (ShipmentState.CANCELLED, T0, ShipmentState.PICKED_UP, T0 + timedelta(days=1), False),
    (ShipmentState.REGISTERED, None, ShipmentState.REGISTERED, T0 - timedelta(hours=1), True),  # order's own state
    (ShipmentState.REGISTERED, None, ShipmentState.PICKING_UP, T0 - timedelta(hours=1), True),
])
def test_an_event_moves_a_shipment_only_forwards(current, at, event, event_at, moves) -> None:
    assert _moves(shipment(current, at), event, event_at) is moves


def test_what_counts_for_the_monthly_report() -> None:
    assert [state for state in ShipmentState if _counts(ShipmentKind.RETURN, state)] == [ShipmentState.DELIVERED]
    counted = {state for state in ShipmentState if _counts(ShipmentKind.PICK_UP, state)}
    assert ShipmentState.PICKED_UP in counted and ShipmentState.DELIVERED in counted  # a lost "picked up" event
    assert not counted & {ShipmentState.REGISTERED, ShipmentState.PICKING_UP, ShipmentState.PICKUP_FAILED,
                          ShipmentState.CANCELLED, ShipmentState.REFUSED}


def test_the_default_status_table_covers_every_state_a_carrier_can_report() -> None:
    reported = set(DEFAULT_STATUSES.values())
    assert reported == {state for state in ShipmentState} - {
        ShipmentState.PLANNED, ShipmentState.ORDERING, ShipmentState.REFUSED}
    shipped = yaml.safe_load((REPO / "deploy/postal.yaml").read_text())["partners"]["vnpost"]["options"]["statuses"]
    assert {code: ShipmentState(state) for code, state in shipped.items()} == DEFAULT_STATUSES


def vnpost(monkeypatch: pytest.MonkeyPatch, **options) -> PartnerSettings:
    monkeypatch.setenv("POSTAL_VNPOST_SECRET", "s" * 32)
    partner = yaml.safe_load((REPO / "deploy/postal.yaml").read_text())["partners"]["vnpost"]
    partner["options"] |= options
    return PartnerSettings(**partner)


def test_the_shipped_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    carrier = PostalCarrier("vnpost", vnpost(monkeypatch))
    assert set(carrier.specs) == {"reply", "order", "quote", "cancel"}
    assert carrier.options.address_of("000.00.99.H12") == carrier.options.office


@pytest.mark.parametrize(("change", "problem"), [
    ({"statuses": {"1": "planned"}}, "codes 1 map to states the gateway sets itself"),
    ({"statuses": {"1": "lost_in_space"}}, "options.statuses.1"),
    ({"operations": {"order": {"path": "/api/orders", "spec": "order.mapping.yaml"}}},
     "tracking.poll needs operations.track"),
    ({"tracking": {"poll": False, "callbacks": False}}, "tracking needs callbacks, poll or both"),
    ({"answer": {"body": {"Status": "{code}"}, "codes": {"accepted": "100"}}}, "missing: duplicate, malformed"),
    ({"operations": {"order": {"path": "/api/orders"}}, "tracking": {"poll": False}},
     "operations.order.spec: a POST needs a spec"),
    ({"office": HOME | {"district_code": "4"}}, "options.office.district_code"),
    ({"office": HOME | {"phone": "1234-5678-90"}}, "not a Vietnamese phone number"),
    ({"statuses": {"1": "registered", "9": "returned"}}, "maps no code to delivered"),
    ({"operations": {"order": {"method": "GET", "path": "/api/orders"}, "track": {"method": "GET", "path": "/t/{tracking_number}"}}},
     "operations.order must be a POST"),
    ({"operations": {"order": {"path": "/api/orders", "spec": "order.mapping.yaml"},
                     "track": {"method": "GET", "path": "/api/tracking"}}}, "must hold {tracking_number}"),
])
def test_a_bad_postal_configuration_names_the_setting(monkeypatch: pytest.MonkeyPatch, change, problem) -> None:
    with pytest.raises(InvalidSettings) as error:
        PostalCarrier("vnpost", vnpost(monkeypatch, **change))
    assert problem in str(error.value)


def test_a_missing_secret_and_two_defaults_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    partner = vnpost(monkeypatch)
    monkeypatch.delenv("POSTAL_VNPOST_SECRET")
    with pytest.raises(InvalidSettings, match="POSTAL_VNPOST_SECRET"):
        PostalCarrier("vnpost", partner)
    monkeypatch.setenv("POSTAL_VNPOST_SECRET", "s" * 32)
    with pytest.raises(InvalidSettings, match="only one postal service may set options.default"):
        load_carriers(Settings(partners={"vnpost": partner, "viettel_post": partner}))
    undecided = partner.model_copy(update={"options": partner.options | {"default": False}})
    with pytest.raises(InvalidSettings, match="one sets options.default"):
        load_carriers(Settings(partners={"vnpost": undecided, "viettel_post": undecided}))
    with pytest.raises(InvalidSettings, match="name of a built-in connector"):
        PostalCarrier("postal", partner)


def test_a_postal_choice_needs_somewhere_to_go() -> None:
    with pytest.raises(ValidationError, match="pick_up_from, return_to or both"):
        PostalChoice()
    with pytest.raises(ValidationError, match="province_code"):
        PostalAddress(**HOME | {"province_code": "Huế"})
    choice = PostalChoice(return_to=PostalAddress(**HOME), collect_on_delivery_vnd=35_000)
    assert choice.carrier is None and choice.pick_up_from is None
    assert PostalAddress(**HOME | {"phone": "+84 912 345 678"}).phone == "0912345678"
    assert PostalAddress(**HOME | {"phone": "(0234) 3822.123"}).phone == "02343822123"


class NewsKept:
    """Stands in for the Kafka publishers: what each move would tell, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    async def moved(self, shipment, state, at, *, counted_now, reason, event_key):
        self.told.append((state.value, event_key))
        return []


@pytest.fixture
async def ledger(database_settings):
    from gateway.connectors.postal.shipments import ShipmentLedger
    from gateway.store import Database

    database = Database(database_settings)
    await database.start()
    yield ShipmentLedger(database, NewsKept())
    await database.close()


async def a_return(ledger, code: str = "000.00.15.H12-261123-L001"):
    shipment = await ledger.record(carrier="vnpost", dossier_code=code, kind=ShipmentKind.RETURN,
                                   agency_code="000.00.15.H12", address=HOME, cod_vnd=0,
                                   state=ShipmentState.ORDERING, description="Kết quả")
    return shipment


def events(*codes_and_times: tuple[str, str]) -> list[dict]:
    return [{"status_code": code, "occurred_at": when} for code, when in codes_and_times]


async def test_a_poll_answer_about_another_parcel_moves_nothing(ledger) -> None:
    shipment = await a_return(ledger)
    await ledger.ordered(shipment.id, "EB100000001VN", None)
    other = {"tracking_number": "EB999999999VN", "events": events(("6", "2026-11-23T10:00:00+07:00"))}
    tracked = await ledger.track("vnpost", DEFAULT_STATUSES, other, via="poll", asked="EB100000001VN")
    assert tracked.outcome == "malformed" and "EB999999999VN" in tracked.note
    wrong_dossier = {"tracking_number": "EB100000001VN", "order_number": "000.00.15.H12-261123-OTHER",
                     "events": events(("6", "2026-11-23T10:00:00+07:00"))}
    assert (await ledger.track("vnpost", DEFAULT_STATUSES, wrong_dossier, via="callback")).outcome == "malformed"
    assert (await ledger.find("vnpost", shipment.dossier_code))[0].state == "registered"


async def test_a_callback_answered_503_while_its_order_is_recorded_can_come_again_as_it_was(ledger) -> None:
    shipment = await a_return(ledger)
    early = {"tracking_number": "EB100000002VN", "order_number": shipment.dossier_code, "service": "return",
             "events": events(("1", "2026-11-23T10:00:00+07:00"))}
    first = await ledger.track("vnpost", DEFAULT_STATUSES, early, via="callback", seen_signature="ab" * 32)
    assert first.outcome == "unavailable"
    await ledger.ordered(shipment.id, "EB100000002VN", 25_000)
    again = await ledger.track("vnpost", DEFAULT_STATUSES, early, via="callback", seen_signature="ab" * 32)
    assert again.outcome == "accepted"  # not refused as a replay: the 503 recorded nothing


async def test_a_callback_that_overtakes_its_order_waits_for_the_answer(ledger) -> None:
    shipment = await a_return(ledger)
    early = {"tracking_number": "EB100000005VN", "order_number": shipment.dossier_code, "service": "return",
             "events": events(("1", "2026-11-23T10:00:00+07:00"))}
    waiting = asyncio.create_task(ledger.track_when_ordered(10.0, "vnpost", DEFAULT_STATUSES, early, via="callback",
                                                            seen_signature="cd" * 32))
    await asyncio.sleep(0.5)
    assert not waiting.done(), "answered before the order's answer was recorded"
    await ledger.ordered(shipment.id, "EB100000005VN", 25_000)
    tracked = await asyncio.wait_for(waiting, 10)
    assert (tracked.outcome, tracked.dossier_code) == ("accepted", shipment.dossier_code)
    assert (await ledger.find("vnpost", shipment.dossier_code))[0].state == "registered"
    # An answer that never comes: after the wait, the callback is sent back (503) with nothing recorded.
    unanswered = await a_return(ledger, "000.00.15.H12-261123-L002")
    late = early | {"tracking_number": "EB100000006VN", "order_number": unanswered.dossier_code}
    tracked = await ledger.track_when_ordered(0.3, "vnpost", DEFAULT_STATUSES, late, via="callback")
    assert tracked.outcome == "unavailable"
    assert (await ledger.find("vnpost", unanswered.dossier_code))[0].state == "ordering"


async def test_an_event_whose_code_was_unmapped_is_taken_once_the_table_knows_it(ledger) -> None:
    shipment = await a_return(ledger)
    await ledger.ordered(shipment.id, "EB100000003VN", None)
    delivered = {"tracking_number": "EB100000003VN", "events": events(("4", "2026-11-23T10:00:00+07:00"),
                                                                      ("60", "2026-11-23T11:00:00+07:00"))}
    partial = {code: state for code, state in DEFAULT_STATUSES.items()}
    tracked = await ledger.track("vnpost", partial, delivered, via="poll")
    assert tracked.outcome == "accepted" and tracked.raised and "60" in tracked.note
    assert (await ledger.find("vnpost", shipment.dossier_code))[0].state == "in_transit"
    fixed = partial | {"60": ShipmentState.DELIVERED}  # the operator adds the carrier's code
    tracked = await ledger.track("vnpost", fixed, delivered, via="poll")
    assert tracked.outcome == "accepted"
    row = (await ledger.find("vnpost", shipment.dossier_code))[0]
    assert (row.state, row.counted_in) == ("delivered", "2026-11")
    assert (await ledger.track("vnpost", fixed, delivered, via="poll")).outcome == "duplicate"


async def test_an_order_taken_as_refused_that_the_carrier_placed_is_followed_again(ledger) -> None:
    shipment = await a_return(ledger)
    await ledger.refused(shipment.id, "ReadTimeout: no answer to the order")
    callback = {"tracking_number": "EB100000004VN", "order_number": shipment.dossier_code, "service": "return",
                "events": events(("3", "2026-11-23T10:00:00+07:00"))}
    tracked = await ledger.track("vnpost", DEFAULT_STATUSES, callback, via="callback")
    assert tracked.outcome == "accepted"
    row = (await ledger.find("vnpost", shipment.dossier_code))[0]
    assert (row.state, row.tracking_number) == ("picked_up", "EB100000004VN") and "followed again" in row.detail
    assert [state for state, _ in ledger.news.told] == ["refused", "registered", "picked_up"]


async def test_gateway_moves_keep_their_ids_when_taken_again(ledger) -> None:
    shipment = await a_return(ledger)
    await ledger.ordered(shipment.id, "EB100000005VN", None)
    await ledger.cancelled(shipment.id, "withdrawn")
    assert ledger.news.told == [("registered", "EB100000005VN"), ("cancelled", "withdrawn")]
    refused = await a_return(ledger, "000.00.15.H12-261123-L006")
    await ledger.refused(refused.id, "106 outside the service area")
    assert (await ledger.start_ordering(refused.id)).state == "ordering"  # a replayed "processed" orders again
    await ledger.refused(refused.id, "106 outside the service area")
    assert (await a_return(ledger, "000.00.15.H12-261123-L006")).state == "ordering"  # a replayed "submitted" too
