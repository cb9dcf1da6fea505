"""A fee payment (thanh toán phí, lệ phí) as the one-stop system sees it: one event per step."""

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from gateway.domain.dossier import DossierCode
from gateway.domain.events import VersionedBody


class PaymentEventKind(StrEnum):
    REQUESTED = "requested"  # the provider took the request: pay at pay_url, or with pay_code
    PAID = "paid"  # the provider confirmed the payment; the one-stop system advances the dossier
    RECEIPT = "receipt"  # the electronic receipt (biên lai điện tử) is ready
    FAILED = "failed"  # the provider says the payment failed; a new assessment is a new attempt
    REFUSED = "refused"  # the provider refused to create the payment; the message says why


class PaymentEvent(VersionedBody):
    """Topic onegate.payments. Message ids derive from the reference and the kind: each kind is
    published once per payment, and a repeat after a crash carries the same id."""

    schema_name: ClassVar[str] = "payment-event"
    dossier_code: DossierCode
    kind: PaymentEventKind
    reference: str = Field(min_length=1, max_length=40, description="The payment's reference (MaThamChieu)")
    provider: str = Field(description="The payment partner")
    occurred_at: AwareDatetime
    amount_vnd: int = Field(ge=0, description="Requested amount; with paid, the amount paid (equal: checked)")
    currency: str = Field(default="VND", min_length=3, max_length=3)
    pay_url: str | None = Field(default=None, max_length=2000, description="requested: where the applicant pays online")
    pay_code: str | None = Field(default=None, max_length=100,
                                 description="requested: the code the applicant pays with at a counter")
    transaction_id: str | None = Field(default=None, max_length=100, description="paid: the provider's transaction")
    paid_at: AwareDatetime | None = None
    receipt_number: str | None = Field(default=None, max_length=100, description="receipt: số biên lai")
    receipt_url: str | None = Field(default=None, max_length=2000)
    message: str = Field(default="", max_length=2000, description="Shown to the officer; the provider's words")
