"""Tables of the gateway's database. Change them only together with a migration in migrations/versions."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DossierRecord(Base):
    """The dossier ledger: every dossier the gateway has seen and its latest known status."""

    __tablename__ = "dossiers"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    procedure_code: Mapped[str | None] = mapped_column(String(100))
    agency_code: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[int] = mapped_column(Integer)
    status_sequence: Mapped[int] = mapped_column(Integer, default=0)
    events_seen: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # From the submission, for the deadlines page and the monthly report:
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)  # NgayTiepNhan
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # NgayHenTra, as last changed
    channel: Mapped[str | None] = mapped_column(String(30))  # KenhThucHien: online, counter, postal
    fee_charging: Mapped[bool | None] = mapped_column(Boolean)  # fees listed, or assessed later
    citizen_key: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash of the ID number
    citizen_masked: Mapped[str | None] = mapped_column(String(20))  # the ID number as shown: ********0123
    # From status changes (the one-stop system's own, not ministry reports):
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first 2, 3 or 5
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # status 10


class ProcessedMessage(Base):
    """What each consumer has already done, per message id: the idempotent-consumer record."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FlowCounter(Base):
    """Running totals per flow and outcome (sent, delivered, duplicate, ...), shared by all workers."""

    __tablename__ = "flow_counters"

    flow: Mapped[str] = mapped_column(String(100), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ParkedMessage(Base):
    """A message waiting in a connector's retry topic. While a dossier has one, its later
    messages for the same connector wait behind it (lowest `seq` goes first)."""

    __tablename__ = "parked_messages"
    __table_args__ = (UniqueConstraint("connector", "message_id", name="uq_parked_connector_message"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(100), index=True)
    message_id: Mapped[str] = mapped_column(String(100))
    dossier_code: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadLetter(Base):
    """A message a connector gave up on, with why; a copy of the dead-letter topic's record."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(100), index=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(100))
    source_topic: Mapped[str] = mapped_column(String(200))
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    error_class: Mapped[str] = mapped_column(String(200))
    error_message: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(String(200))
    headers: Mapped[str] = mapped_column(Text)  # JSON object of the original headers
    payload: Mapped[str] = mapped_column(Text)  # the original body, base64
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    replay_count: Mapped[int] = mapped_column(Integer, default=0)
    last_replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discarded_by: Mapped[str | None] = mapped_column(String(100))
    discard_reason: Mapped[str | None] = mapped_column(Text)


class DeadLetterReplay(Base):
    """Who replayed which dead letter, when."""

    __tablename__ = "dead_letter_replays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dead_letter_id: Mapped[int] = mapped_column(Integer, index=True)
    replayed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(200))


class PartnerCall(Base):
    """A side effect at a partner, by the partner's idempotency key: 'started' before the
    call, 'done' after it succeeded, so a redelivered message does not repeat it."""

    __tablename__ = "partner_calls"

    partner: Mapped[str] = mapped_column(String(100), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageLogRecord(Base):
    """The message log (audit): every message in or out, chained by hash per writer process."""

    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain_id: Mapped[str] = mapped_column(String(40), index=True)
    recorded_at: Mapped[str] = mapped_column(String(40))  # ISO text: hashed exactly as stored
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(10))
    partner: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(100))
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class MessageLogChain(Base):
    """The newest record of each chain, so deleting a chain's last record shows too."""

    __tablename__ = "message_log_chains"

    chain_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class PartnerDossier(Base):
    """What the gateway last told a partner about a dossier: the status it pushed, the partner's
    own reference (a receipt or tracking number) and the records sent, for drift checks and
    repairs."""

    __tablename__ = "partner_dossiers"

    partner: Mapped[str] = mapped_column(String(100), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    status_sequence: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(200))
    sent_dossier: Mapped[str | None] = mapped_column(Text)  # JSON of the last dossier record sent
    sent_step: Mapped[str | None] = mapped_column(Text)  # JSON of the last progress record sent (a ministry: report taken)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last asked (status polling)


class Payment(Base):
    """A fee payment at a provider, by its reference (MaThamChieu): what was asked, where it
    stands (created, open, paid, failed, mismatch, refused) and what the provider confirmed."""

    __tablename__ = "payments"

    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), index=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    step_key: Mapped[str] = mapped_column(String(200))  # the status step that assessed the fees
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    fees: Mapped[str] = mapped_column(Text)  # JSON list of the fee lines
    state: Mapped[str] = mapped_column(String(20), index=True)
    pay_url: Mapped[str | None] = mapped_column(Text)
    pay_code: Mapped[str | None] = mapped_column(String(100))
    transaction_id: Mapped[str | None] = mapped_column(String(100))
    paid_amount: Mapped[int | None] = mapped_column(BigInteger)
    paid_currency: Mapped[str | None] = mapped_column(String(3))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    settled_via: Mapped[str | None] = mapped_column(String(20))  # confirmation, query
    receipt_number: Mapped[str | None] = mapped_column(String(100))
    receipt_url: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # the last problem, for operators
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSignature(Base):
    """Signatures of signed webhook requests already taken: the same one again is a replay."""

    __tablename__ = "webhook_signatures"

    partner: Mapped[str] = mapped_column(String(100), primary_key=True)
    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Shipment(Base):
    """A parcel of the postal service for one dossier: a pick-up of the dossier or the return of
    its result, one per dossier, kind and carrier. `counted_in` (YYYY-MM, Vietnam time) is set
    when it counts for the monthly report: a pick-up when picked up, a return when delivered."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("carrier", "dossier_code", "kind"), UniqueConstraint("carrier", "tracking_number"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(100), index=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # pick_up, return
    agency_code: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), index=True)
    tracking_number: Mapped[str | None] = mapped_column(String(40))  # ItemCode, unique at its carrier
    address: Mapped[str] = mapped_column(Text)  # JSON of the applicant's PostalAddress
    cod_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    description: Mapped[str] = mapped_column(Text)  # what the parcel holds, as the order says
    fee_vnd: Mapped[int | None] = mapped_column(BigInteger)  # quoted or charged postage
    status_code: Mapped[str | None] = mapped_column(String(20))  # the postal service's last applied code
    state_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # time of the event that set state
    detail: Mapped[str | None] = mapped_column(Text)  # the last reason or problem, for operators
    counted_in: Mapped[str | None] = mapped_column(String(7), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ShipmentEvent(Base):
    """Every tracking event seen for a shipment, once (by code and time), whether or not it
    moved the shipment: the parcel's history as the postal service told it."""

    __tablename__ = "shipment_events"
    __table_args__ = (UniqueConstraint("shipment_id", "status_code", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(Integer, index=True)
    status_code: Mapped[str] = mapped_column(String(20))
    state: Mapped[str | None] = mapped_column(String(20))  # None: a code the status table does not know
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    applied: Mapped[bool] = mapped_column(Boolean)  # it moved the shipment
    via: Mapped[str] = mapped_column(String(20))  # callback, poll
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FlowDirection(Base):
    """Which way each flow carries messages: `in` from a partner or the one-stop system into the
    gateway, `out` from the gateway to a partner. Declared by the flow when its process starts."""

    __tablename__ = "flow_directions"

    flow: Mapped[str] = mapped_column(String(100), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))


class FlowMinute(Base):
    """Per-minute figures of each flow, for the console's 5-minute, hour and day windows: an
    outcome's count, or the count of one latency bucket (`latency_<i>`). Pruned after two days."""

    __tablename__ = "flow_minutes"

    flow: Mapped[str] = mapped_column(String(100), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)  # Unix time // 60
    measure: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ConsoleUser(Base):
    """Someone who signs in to the console: viewer or operator, with an Argon2id password hash."""

    __tablename__ = "console_users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleCredential(Base):
    """A signed-in browser session (cookie, with its CSRF token) or an API token (Bearer), by the
    SHA-256 of its secret: the secret itself is never stored."""

    __tablename__ = "console_credentials"

    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # session, token
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    label: Mapped[str | None] = mapped_column(String(200))  # what an API token is for
    csrf_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OperatorAction(Base):
    """What an operator did from the console or its API (replay, discard, ...), who and why; each
    one is also written to the message log."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(Text)  # JSON: what it acted on
    reason: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)  # JSON: what it did


class PartnerHealth(Base):
    """Each partner's circuit breaker as its processes last reported it, with the last success
    and the last error: the console's partner health."""

    __tablename__ = "partner_health"

    partner: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FlowSubscription(Base):
    """A consumer group of a flow and the topic it reads: where the console measures lag."""

    __tablename__ = "flow_subscriptions"

    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    flow: Mapped[str] = mapped_column(String(100))
