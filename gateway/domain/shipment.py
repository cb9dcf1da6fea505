"""Postal shipments (bưu gửi) in the gateway's own words: what kind, where one stands, and the
order in which states follow each other. The postal service's status codes are mapped onto
these states by configuration (partners.NAME.options.statuses)."""

from enum import StrEnum

from pydantic import Field

from gateway.domain.dossier import CanonicalModel


class ShipmentKind(StrEnum):
    PICK_UP = "pick_up"  # the post collects the dossier from the applicant and brings it to the agency
    RETURN = "return"  # the post takes the result from the agency to the applicant


class ShipmentState(StrEnum):
    PLANNED = "planned"  # a return chosen at submission; ordered once the dossier is processed
    ORDERING = "ordering"  # recorded; the order is being placed
    REFUSED = "refused"  # the postal service refused the order for good
    REGISTERED = "registered"
    PICKING_UP = "picking_up"
    PICKUP_FAILED = "pickup_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    RETURNING = "returning"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        """The order of states along a parcel's path. Two events of the same second are ordered by
        it (a failure ranks above the attempt it ends); final states rank highest."""
        return _RANKS[self]

    @property
    def final(self) -> bool:
        return self in FINAL_STATES

    @property
    def raised(self) -> bool:
        """Operators must look: the citizen did not get the parcel (yet)."""
        return self in (ShipmentState.PICKUP_FAILED, ShipmentState.DELIVERY_FAILED, ShipmentState.RETURNING,
                        ShipmentState.RETURNED)


_RANKS = {
    ShipmentState.PLANNED: -2, ShipmentState.ORDERING: -1, ShipmentState.REGISTERED: 0,
    ShipmentState.PICKING_UP: 1, ShipmentState.PICKUP_FAILED: 2, ShipmentState.PICKED_UP: 3,
    ShipmentState.IN_TRANSIT: 4, ShipmentState.OUT_FOR_DELIVERY: 5, ShipmentState.DELIVERY_FAILED: 6,
    ShipmentState.RETURNING: 7, ShipmentState.DELIVERED: 9, ShipmentState.RETURNED: 9,
    ShipmentState.CANCELLED: 9, ShipmentState.REFUSED: 9,
}
FINAL_STATES = frozenset({ShipmentState.DELIVERED, ShipmentState.RETURNED, ShipmentState.CANCELLED,
                          ShipmentState.REFUSED})
# Words the one-stop system shows an officer.
STATE_WORDS = {
    ShipmentState.PLANNED: "Chờ trả kết quả qua bưu chính (result to be sent by post)",
    ShipmentState.ORDERING: "Đang đặt đơn bưu chính (placing the postal order)",
    ShipmentState.REFUSED: "Bưu chính từ chối đơn hàng (order refused)",
    ShipmentState.REGISTERED: "Bưu chính đã tiếp nhận đơn (order registered)",
    ShipmentState.PICKING_UP: "Bưu tá đang đến thu gom (postman on the way)",
    ShipmentState.PICKUP_FAILED: "Thu gom không thành công (pick-up failed)",
    ShipmentState.PICKED_UP: "Bưu chính đã nhận bưu gửi (picked up)",
    ShipmentState.IN_TRANSIT: "Đang vận chuyển (in transit)",
    ShipmentState.OUT_FOR_DELIVERY: "Đang phát (out for delivery)",
    ShipmentState.DELIVERY_FAILED: "Phát không thành công (delivery failed)",
    ShipmentState.RETURNING: "Đang chuyển hoàn (returning to the sender)",
    ShipmentState.DELIVERED: "Phát thành công (delivered)",
    ShipmentState.RETURNED: "Đã chuyển hoàn (returned to the sender)",
    ShipmentState.CANCELLED: "Đã hủy đơn (cancelled)",
}


class ShipmentInfo(CanonicalModel):
    """The parcel a OneGateUpdate speaks of, for the one-stop system to show and link."""

    carrier: str = Field(description="The postal partner (a partner name)")
    kind: ShipmentKind
    tracking_number: str | None = Field(default=None, max_length=40, description="ItemCode (số hiệu bưu gửi)")
    state: ShipmentState
    status_code: str | None = Field(default=None, max_length=20, description="The postal service's own code")
    fee_vnd: int | None = Field(default=None, ge=0, description="Postage quoted or charged")
