"""What can be set for a postal service, under partners.NAME.options when partners.NAME.connector
is `postal`. docs/postal.md explains every setting; deploy/postal.yaml configures VNPost.
"""

from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import Field, field_validator, model_validator

from gateway.connectors.json_api import (
    Operation,
    Options,
    generic_partner_options,
    load_specs,
    operation_specs,
    shared_secret,
)
from gateway.domain import PostalAddress, ShipmentState
from gateway.runtime.config import InvalidSettings, PartnerSettings, Settings, partners_served_by
from gateway.webhooks.intake import AnswerFormat, WebhookPartner
from gateway.webhooks.scheme import SignatureScheme

DAY_S = 86_400.0

# No official table of VNPost's tracking codes exists (docs/postal-protocol.md): this default
# follows the states public code shows; a province maps its carrier's codes in options.statuses.
DEFAULT_STATUSES: dict[str, ShipmentState] = {
    "1": ShipmentState.REGISTERED, "2": ShipmentState.PICKING_UP, "3": ShipmentState.PICKED_UP,
    "4": ShipmentState.IN_TRANSIT, "5": ShipmentState.OUT_FOR_DELIVERY, "6": ShipmentState.DELIVERED,
    "7": ShipmentState.DELIVERY_FAILED, "8": ShipmentState.RETURNING, "9": ShipmentState.RETURNED,
    "10": ShipmentState.CANCELLED, "11": ShipmentState.PICKUP_FAILED,
}
TRACKED_STATES = frozenset(DEFAULT_STATUSES.values())  # what a postal code may mean


class TrackingOutcome(StrEnum):
    """How the gateway answered a tracking callback (docs/postal.md gives each its HTTP status)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    REPLAYED = "replayed"
    UNKNOWN_SHIPMENT = "unknown_shipment"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"


class Operations(Options):
    order: Operation = Field(description="Places an order; spec input: the order request (docs/postal.md)")
    cancel: Operation | None = Field(default=None, description="Cancels an order not yet picked up; "
                                                               "spec input: {tracking_number, order_number, reason}")
    track: Operation | None = Field(default=None, description="Lists a parcel's events (polling), a GET whose path "
                                                              "holds {tracking_number}; empty: callbacks only")
    quote: Operation | None = Field(default=None, description="Prices an order before it is placed; spec input: the "
                                                              "order request; empty: no quotes")


class Tracking(Options):
    callbacks: bool = Field(default=True, description="The postal service posts tracking events to the gateway")
    poll: bool = Field(default=True, description="Also ask open shipments' events in the background (needs "
                                                 "operations.track): what lost callbacks never told")
    interval_s: float = Field(default=900.0, gt=0, le=DAY_S, description="Seconds between two polling rounds")
    quiet_s: float = Field(default=600.0, ge=0, le=30 * DAY_S,
                           description="A shipment with news younger than this is not asked")
    batch: int = Field(default=500, ge=1, le=100_000, description="Shipments asked per round, least recently first")
    concurrency: int = Field(default=4, ge=1, le=64, description="Requests at once")


class Parcel(Options):
    weight_g: int = Field(default=500, ge=1, le=30_000, description="Declared weight of a dossier or result (grams)")
    pick_up_description: str = Field(default="Hồ sơ {dossier_code}: {procedure_name}", max_length=500,
                                     description="Description of a pick-up; may hold {dossier_code}, "
                                                 "{procedure_name}, {agency_code}")
    return_description: str = Field(default="Kết quả hồ sơ {dossier_code}: {procedure_name}", max_length=500,
                                    description="Description of a return (same placeholders)")


class SimulatorOptions(Options):
    controls: dict[str, Any] = Field(default_factory=dict,
                                     description="The simulator's controls at start (PostalControls: step_s, ...)")


class PostalOptions(Options):
    customer_code: str = Field(min_length=1, max_length=50, description="The province's customer code (CustomerCode)")
    title: str | None = Field(default=None, description="Shown to officers, e.g. 'Bưu điện tỉnh (VNPost)'")
    default: bool = Field(default=False, description="Used when a postal choice names no carrier")
    request_values: dict[str, Any] = Field(default_factory=dict,
                                           description="Constants the request specs read as `settings`")
    signature: SignatureScheme
    operations: Operations
    reply: str = Field(default="reply.mapping.yaml",
                       description="Spec reading every answer and callback into postal/reply.schema.json")
    answer: AnswerFormat
    statuses: dict[str, ShipmentState] = Field(
        default_factory=lambda: dict(DEFAULT_STATUSES),
        description="The carrier's tracking code -> shipment state (no official table: the default is the gateway's)")
    tracking: Tracking = Field(default_factory=Tracking)
    office: PostalAddress = Field(description="The one-stop office (bộ phận một cửa): receives picked-up dossiers "
                                              "and sends results")
    agencies: dict[str, PostalAddress] = Field(default_factory=dict,
                                               description="Agency code -> its own address, instead of the office")
    parcel: Parcel = Field(default_factory=Parcel)
    simulator: SimulatorOptions | None = Field(default=None, description="Played by the simulator (no endpoint)")

    @field_validator("statuses")
    @classmethod
    def _tracked_states_only(cls, value: dict[str, ShipmentState]) -> dict[str, ShipmentState]:
        wrong = sorted(code for code, state in value.items() if state not in TRACKED_STATES)
        if wrong:
            raise ValueError(f"codes {', '.join(wrong)} map to states the gateway sets itself; a postal code means "
                             f"one of {', '.join(sorted(TRACKED_STATES))}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> "PostalOptions":
        if missing := self.signature.missing_fields(("order", "query", "callback", "answer")):
            raise ValueError(f"checksum_sha256 needs signature.fields for {', '.join(missing)}")
        if missing := self.answer.missing_codes([outcome.value for outcome in TrackingOutcome]):
            raise ValueError(f"answer.codes needs a code for every outcome; missing: {', '.join(missing)}")
        if self.tracking.poll and self.operations.track is None:
            raise ValueError("tracking.poll needs operations.track (or set tracking.poll: false)")
        if self.operations.order.method != "POST":
            raise ValueError("operations.order must be a POST: an order has a body")
        track = self.operations.track
        if track is not None and track.method == "GET" and "{tracking_number}" not in track.path:
            raise ValueError("operations.track: a GET must name the parcel, its path must hold {tracking_number}")
        if ShipmentState.DELIVERED not in self.statuses.values():
            raise ValueError("statuses maps no code to delivered: no result could ever be returned (status 10)")
        if not self.tracking.poll and not self.tracking.callbacks:
            raise ValueError("tracking needs callbacks, poll or both: else no parcel is ever followed")
        return self

    def address_of(self, agency_code: str) -> PostalAddress:
        return self.agencies.get(agency_code, self.office)


class PostalCarrier:
    """One postal service as configuration makes it: options, specs and secret, loaded once."""

    def __init__(self, name: str, settings: PartnerSettings) -> None:
        self.name = name
        self.settings = settings
        self.options = postal_options(name, settings)
        operations = self.options.operations
        by_role = {"order": operations.order, "cancel": operations.cancel, "track": operations.track,
                   "quote": operations.quote}
        self.specs, problems = load_specs(name, settings, {"reply": self.options.reply} | operation_specs(by_role),
                                          by_role)
        self.secret = shared_secret(name, settings, self.options.signature, problems)
        if problems:
            raise InvalidSettings(problems)

    @property
    def title(self) -> str:
        return self.options.title or "bưu chính công ích"

    @cached_property
    def webhook(self) -> WebhookPartner:
        return WebhookPartner(name=self.name, secret=self.secret, scheme=self.options.signature,
                              answer=self.options.answer, partner_code=self.options.customer_code, kind="callback")


def postal_options(name: str, settings: PartnerSettings) -> PostalOptions:
    return generic_partner_options(PostalOptions, name, settings, "a postal service")


def postal_partners(settings: Settings) -> dict[str, PartnerSettings]:
    """The enabled partners served by the postal connector, by name."""
    return partners_served_by(settings, "postal")


def load_carriers(settings: Settings) -> dict[str, PostalCarrier]:
    """Every enabled carrier, checked; at most one may be the default."""
    carriers = {name: PostalCarrier(name, partner) for name, partner in postal_partners(settings).items()}
    defaults = [name for name, carrier in carriers.items() if carrier.options.default]
    if len(defaults) > 1:
        raise InvalidSettings([f"partners.{', '.join(defaults)}: only one postal service may set options.default"])
    if len(carriers) == 1:
        return carriers  # the only one serves every postal choice
    if carriers and not defaults:
        raise InvalidSettings([f"partners.{', '.join(carriers)}: with several postal services one sets "
                               "options.default (for postal choices that name no carrier)"])
    return carriers


def default_carrier(carriers: dict[str, PostalCarrier]) -> str | None:
    if len(carriers) == 1:
        return next(iter(carriers))
    return next((name for name, carrier in carriers.items() if carrier.options.default), None)
