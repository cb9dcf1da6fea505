"""Postal pieces on their own: the tracking order rule, what counts for the monthly report, the
configuration's checks and the domain's postal choice."""

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
