"""What can be set for a payment provider, under partners.NAME.options when
partners.NAME.connector is `payment`. docs/payments.md explains every setting;
deploy/payments.yaml configures the three shipped providers.
"""

from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.connectors.json_api import (
    Operation,
    Options,
    generic_partner_options,
    load_specs,
    operation_specs,
    shared_secret,
)
from gateway.runtime.config import InvalidSettings, PartnerSettings, Settings, partners_served_by
from gateway.webhooks.intake import AnswerFormat, WebhookPartner
from gateway.webhooks.scheme import SignatureScheme

DAY_S = 86_400.0


class ConfirmationOutcome(StrEnum):
    """How the gateway answered a confirmation (docs/payments.md gives each its HTTP status)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    REPLAYED = "replayed"
    UNKNOWN_REFERENCE = "unknown_reference"
    AMOUNT_MISMATCH = "amount_mismatch"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"


class Operations(Options):
    create: Operation = Field(description="Creates the payment; spec input: the payment request (docs/payments.md)")
    query: Operation = Field(description="Asks a payment's state; spec input: {reference, operation, at, settings}")
    receipt: Operation | None = Field(default=None, description="Fetches the receipt (biên lai) of a paid payment; "
                                                                "empty: the provider offers none")


class Reconcile(Options):
    enabled: bool = Field(default=True, description="Query open payments and fetch missing receipts in the background")
    interval_s: float = Field(default=1800.0, gt=0, le=DAY_S, description="Seconds between two rounds")
    min_age_s: float = Field(default=1800.0, ge=0, le=30 * DAY_S, description="Open payments younger are not asked")
    max_age_s: float = Field(default=3 * DAY_S, gt=0, le=90 * DAY_S, description="Open payments older are not asked")
    batch: int = Field(default=500, ge=1, le=100_000, description="Payments asked per round, oldest first")
    concurrency: int = Field(default=4, ge=1, le=64, description="Queries at once")


StatementColumn = Literal["reference", "amount", "transaction_id", "paid_at", "currency"]


class Statement(Options):
    columns: dict[StatementColumn, str] = Field(description="Column of the statement CSV for each item")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    time_format: str | None = Field(default=None, description="Pattern of paid_at (dd/MM/yyyy HH:mm:ss); empty: ISO")

    @field_validator("columns")
    @classmethod
    def _needed_columns(cls, value: dict) -> dict:
        missing = [column for column in ("reference", "amount") if column not in value]
        if missing:
            raise ValueError(f"statement.columns must name {', '.join(missing)}")
        return value


class SimulatorOptions(Options):
    dialect: Literal["dvcqg", "bank", "post_office"] = Field(description="Which provider the simulator plays")


class PaymentOptions(Options):
    kind: Literal["online", "counter"] = Field(description="online: a payment URL; counter: a code paid at a counter")
    partner_code: str = Field(min_length=1, max_length=50, description="The province's code at the provider (MaDoiTac)")
    title: str | None = Field(default=None, description="Shown to officers, e.g. 'Nền tảng thanh toán DVCQG'")
    currency: str = Field(default="VND", min_length=3, max_length=3)
    payment_ttl_s: float = Field(default=3 * DAY_S, gt=0, le=90 * DAY_S, description="How long a payment is payable")
    default: bool = Field(default=False, description="Used when a fee assessment names no provider")
    request_values: dict[str, Any] = Field(
        default_factory=dict, description="Constants the request specs read as `settings` (channel, device, IP...)")
    signature: SignatureScheme
    operations: Operations
    reply: str = Field(default="reply.mapping.yaml",
                       description="Spec reading every answer and confirmation into payment/reply.schema.json")
    answer: AnswerFormat
    reconcile: Reconcile = Field(default_factory=Reconcile)
    statement: Statement | None = Field(default=None, description="The provider's daily statement (CSV)")
    simulator: SimulatorOptions | None = Field(default=None, description="How the simulator plays this provider")

    @model_validator(mode="after")
    def _complete(self) -> "PaymentOptions":
        if missing := self.signature.missing_fields(("create", "query", "confirmation", "answer")):
            raise ValueError(f"checksum_sha256 needs signature.fields for {', '.join(missing)}")
        if self.reconcile.max_age_s < self.payment_ttl_s:
            raise ValueError(f"reconcile.max_age_s ({self.reconcile.max_age_s:g}) must be at least payment_ttl_s "
                             f"({self.payment_ttl_s:g}): a payment paid just before it expires is still asked")
        if missing := self.answer.missing_codes([outcome.value for outcome in ConfirmationOutcome]):
            raise ValueError(f"answer.codes needs a code for every outcome; missing: {', '.join(missing)}")
        return self

    @property
    def shown_name(self) -> str:
        return self.title or "đơn vị thanh toán"


class PaymentProvider:
    """One provider as configuration makes it: options, specs and its secret, loaded once."""

    def __init__(self, name: str, settings: PartnerSettings, *, needs_secret: bool = True) -> None:
        """`needs_secret` False: for work offline (reading a statement), where the secret is not used."""
        self.name = name
        self.settings = settings
        self.options = payment_options(name, settings)
        operations = self.options.operations
        by_role = {"create": operations.create, "query": operations.query, "receipt": operations.receipt}
        self.specs, problems = load_specs(name, settings, {"reply": self.options.reply} | operation_specs(by_role),
                                          by_role)
        # Offline work (reading a statement) does not sign anything.
        self.secret = shared_secret(name, settings, self.options.signature, problems) if needs_secret else ""
        if problems:
            raise InvalidSettings(problems)

    @property
    def title(self) -> str:
        return self.options.shown_name

    @cached_property
    def webhook(self) -> WebhookPartner:
        return WebhookPartner(name=self.name, secret=self.secret, scheme=self.options.signature,
                              answer=self.options.answer, partner_code=self.options.partner_code)


def payment_options(name: str, settings: PartnerSettings) -> PaymentOptions:
    return generic_partner_options(PaymentOptions, name, settings, "a payment provider")


def payment_partners(settings: Settings) -> dict[str, PartnerSettings]:
    """The enabled partners served by the payment connector, by name."""
    return partners_served_by(settings, "payment")


def load_providers(settings: Settings, *, needs_secret: bool = True) -> dict[str, PaymentProvider]:
    """Every enabled provider, checked; at most one may be the default."""
    providers = {name: PaymentProvider(name, partner, needs_secret=needs_secret)
                 for name, partner in payment_partners(settings).items()}
    defaults = [name for name, provider in providers.items() if provider.options.default]
    if len(defaults) > 1:
        raise InvalidSettings([f"partners.{', '.join(defaults)}: only one payment provider may set options.default"])
    return providers
