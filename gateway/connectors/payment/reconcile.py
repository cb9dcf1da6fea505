"""Reconciliation of a provider's payments with what the gateway recorded.

1. Status queries (every reconcile.interval_s, or `gateway payments reconcile --provider P`):
   open payments older than min_age_s and younger than max_age_s are asked, oldest first, and
   settled as a confirmation would (a lost confirmation is found this way); paid payments
   without a receipt get it; signatures kept against replays are forgotten once stale.
2. Statements (`--statement FILE`, POST /api/v1/payments/NAME/reconciliations): the provider's
   daily CSV compared with the payments the gateway recorded as paid on its dates.
"""

import asyncio
import csv
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from gateway.connectors.payment.client import PaymentClient
from gateway.connectors.payment.config import PaymentProvider, Statement
from gateway.connectors.payment.ledger import OPEN_STATES, PaymentLedger
from gateway.mappings.transforms import ValueNotMappable, aware_datetime, parse_local_datetime
from gateway.reliability.errors import FailureKind, classify
from gateway.runtime.background import every
from gateway.runtime.roles import RoleContext
from gateway.store.database import Database
from gateway.store.tables import Payment
from gateway.webhooks.replays import forget_before

log = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


async def reconcile_forever(context: RoleContext, provider: PaymentProvider, client: PaymentClient,
                            ledger: PaymentLedger) -> None:
    settings = provider.options.reconcile

    async def one_round() -> None:
        if not settings.enabled:  # signatures kept against replays are forgotten all the same
            async with context.database.transaction() as session:
                await _forget_stale_signatures(session, provider, datetime.now(UTC))
            return
        outcomes = await reconcile_once(context.database, provider, client, ledger,
                                        claim_s=settings.interval_s * 0.9)
        for outcome, count in outcomes.items():
            context.counters.add(f"payments.{provider.name}", f"reconcile_{outcome}", count)

    await every(settings.interval_s, context.stopping, one_round, f"{provider.name} reconciliation")


async def reconcile_once(database: Database, provider: PaymentProvider, client: PaymentClient,
                         ledger: PaymentLedger, *, min_age_s: float | None = None,
                         claim_s: float = 5.0) -> dict[str, int]:
    """One round of status queries and receipt fetches; returns counts by outcome. Payments asked
    are claimed for `claim_s` (another worker's round skips them) and the least recently asked go
    first, so a backlog larger than `batch` is walked through."""
    settings = provider.options.reconcile
    now = datetime.now(UTC)
    youngest = now - timedelta(seconds=settings.min_age_s if min_age_s is None else min_age_s)
    oldest = now - timedelta(seconds=settings.max_age_s)
    in_window = (Payment.created_at <= youngest) & (Payment.created_at >= oldest)
    # Failed ones too: a citizen may still pay the same reference, and a lost confirmation shows here.
    wanted = Payment.state.in_((*OPEN_STATES, "failed")) & in_window
    if provider.options.operations.receipt is not None:
        wanted = or_(wanted, (Payment.state == "paid") & Payment.receipt_number.is_(None)
                     & (Payment.created_at >= oldest))
    async with database.transaction() as session:
        rows = (await session.execute(
            select(Payment).where(Payment.provider == provider.name, wanted,
                                  or_(Payment.queried_at.is_(None),
                                      Payment.queried_at < now - timedelta(seconds=claim_s)))
            .order_by(Payment.queried_at.asc().nulls_first(), Payment.created_at)
            .limit(settings.batch).with_for_update(skip_locked=True))).scalars().all()
        for row in rows:
            row.queried_at = now
        await _forget_stale_signatures(session, provider, now)
    outcomes: Counter = Counter()
    limit = asyncio.Semaphore(settings.concurrency)

    async def settle(reference: str, state: str) -> None:
        async with limit:
            try:
                outcomes[await _settle_one(provider, client, ledger, reference, state)] += 1
            except Exception as error:  # one payment's trouble never ends the round for the others
                kind = classify(error, provider.settings.errors)
                log.warning("%s: payment %s not reconciled (%s): %s", provider.name, reference, kind.value, error)
                outcomes["error"] += 1

    await asyncio.gather(*(settle(row.reference, row.state) for row in rows))
    return dict(outcomes)


async def _forget_stale_signatures(session, provider: PaymentProvider, now: datetime) -> None:
    await forget_before(session, provider.name, now - timedelta(seconds=2 * provider.options.signature.tolerance_s))


async def _settle_one(provider: PaymentProvider, client: PaymentClient, ledger: PaymentLedger, reference: str,
                      state: str) -> str:
    if state == "paid":
        if provider.options.operations.receipt is None:
            return "no_receipt_offered"
        published = await ledger.receipt(reference, await client.receipt(reference) or {})
        if published is not None:
            await ledger.events.log(published, "receipt")
        return "receipt" if published else "receipt_not_ready"
    reply = await client.query(reference)
    if not reply.get("ok"):
        return "unknown_at_provider" if reply.get("code") else "error"
    settlement = await ledger.settle(provider.name, reply | {"reference": reference}, via="query")
    if settlement.event is not None:
        await ledger.events.log(settlement.event, f"query: {settlement.note}")
        return settlement.note.split(" ")[0]
    return settlement.outcome.value if settlement.outcome.value != "accepted" else (reply.get("outcome") or "pending")


async def fetch_receipt(provider: PaymentProvider, client: PaymentClient, ledger: PaymentLedger,
                        reference: str) -> None:
    """Right after a payment is confirmed; when it fails the next reconciliation round tries again."""
    try:
        await _settle_one(provider, client, ledger, reference, "paid")
    except Exception as error:
        if classify(error) is FailureKind.INFRASTRUCTURE:
            log.warning("%s: receipt of %s not recorded now (%s); reconciliation fetches it", provider.name,
                        reference, error)
        else:
            log.warning("%s: receipt of %s not fetched now: %s", provider.name, reference, error)


# -- statements ---------------------------------------------------------------------------------

BUCKETS = ("matched", "missing_ours", "missing_theirs", "amount_mismatch")


@dataclass
class StatementLine:
    reference: str
    amount: int | None
    transaction_id: str | None = None
    paid_at: datetime | None = None
    currency: str | None = None


@dataclass
class ReconciliationRow:
    bucket: str
    reference: str
    dossier_code: str = ""
    our_amount: int | None = None
    their_amount: int | None = None
    transaction_id: str = ""
    our_state: str = ""
    note: str = ""


@dataclass
class ReconciliationReport:
    provider: str
    dates: list[date]
    rows: list[ReconciliationRow] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(row.bucket for row in self.rows)
        return {bucket: counted.get(bucket, 0) for bucket in BUCKETS}

    @property
    def differs(self) -> bool:
        return any(row.bucket != "matched" for row in self.rows)

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["bucket", "reference", "dossier_code", "our_amount", "their_amount", "transaction_id",
                         "our_state", "note"])
        for row in self.rows:
            writer.writerow([row.bucket, row.reference, row.dossier_code, _blank(row.our_amount),
                             _blank(row.their_amount), row.transaction_id, row.our_state, row.note])
        return out.getvalue()

    def as_dict(self) -> dict:
        return {"provider": self.provider, "dates": [day.isoformat() for day in self.dates], "counts": self.counts,
                "rows": [row.__dict__ for row in self.rows]}


class StatementInvalid(ValueError):
    """The statement file cannot be read as the provider's configuration describes it."""


def read_statement(text: str, statement: Statement) -> list[StatementLine]:
    """Rows of the statement CSV; every unreadable row is named (line and reason) in one error."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=statement.delimiter)
    header = reader.fieldnames or []
    missing = [column for column in statement.columns.values() if column not in header]
    if missing:
        raise StatementInvalid(f"the statement has no column {', '.join(missing)} (its columns: {', '.join(header)})")
    lines, problems = [], []
    columns = statement.columns
    for number, row in enumerate(reader, start=2):
        try:
            reference = (row[columns["reference"]] or "").strip()
            if not reference:
                raise ValueError("no reference")
            amount = _amount(row[columns["amount"]])
            paid_at = None
            if "paid_at" in columns and (row[columns["paid_at"]] or "").strip():
                text_time = row[columns["paid_at"]].strip()
                paid_at = (parse_local_datetime(text_time, statement.time_format) if statement.time_format
                           else aware_datetime(text_time))
            lines.append(StatementLine(
                reference=reference, amount=amount, paid_at=paid_at,
                transaction_id=(row.get(columns.get("transaction_id", "")) or "").strip() or None,
                currency=(row.get(columns.get("currency", "")) or "").strip() or None))
        except (ValueError, ValueNotMappable) as error:
            problems.append(f"line {number}: {error}")
    if problems:
        raise StatementInvalid("unreadable statement rows: " + "; ".join(problems[:20])
                               + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    return lines


async def reconcile_statement(database: Database, provider: PaymentProvider, text: str,
                              dates: list[date] | None = None) -> ReconciliationReport:
    """Compare the statement with the gateway's paid (and mismatched) payments of its dates
    (Vietnam time): `dates` when given, else the dates of the statement's rows."""
    if provider.options.statement is None:
        raise StatementInvalid(f"partners.{provider.name}.options.statement is not configured: the gateway does not "
                               "know this provider's statement columns")
    lines = read_statement(text, provider.options.statement)
    days = sorted(set(dates or [line.paid_at.astimezone(VIETNAM).date() for line in lines if line.paid_at]))
    if not days:
        raise StatementInvalid("the statement has no dated rows: give the statement's date (--date)")
    theirs = {line.reference: line for line in lines}
    async with database.transaction() as session:
        ours_on_days = (await session.execute(select(Payment).where(
            Payment.provider == provider.name, Payment.state.in_(("paid", "mismatch")),
            or_(*(_on_day(day) for day in days))))).scalars().all()
        known = {row.reference: row for row in (await session.execute(select(Payment).where(
            Payment.provider == provider.name, Payment.reference.in_(list(theirs))))).scalars().all()} if theirs else {}
        total = (await session.execute(select(func.count()).select_from(Payment).where(
            Payment.provider == provider.name))).scalar_one()
    log.info("%s: reconciling %d statement rows with %d payments paid on %s (%d recorded in all)", provider.name,
             len(lines), len(ours_on_days), ", ".join(map(str, days)), total)
    report = ReconciliationReport(provider.name, days)
    listed: set[str] = set()
    for line in lines:
        ours = known.get(line.reference)
        row = ReconciliationRow(bucket="matched", reference=line.reference, their_amount=line.amount,
                                transaction_id=line.transaction_id or "")
        if ours is not None:
            row.dossier_code, row.our_amount, row.our_state = ours.dossier_code, ours.amount, ours.state
        if line.reference in listed:  # paid twice, or a reversal: money the gateway has one record of
            row.bucket = "missing_ours"
            row.note = "the reference is listed again: a second transaction the gateway has no record of"
        elif ours is None or ours.state not in ("paid", "mismatch"):
            row.bucket = "missing_ours"
            row.note = ("no such payment at the gateway" if ours is None
                        else f"the gateway has it {ours.state}: no confirmation reached it")
        elif line.amount != ours.amount or (line.currency or ours.currency) != ours.currency:
            row.bucket = "amount_mismatch"
            row.note = f"requested {ours.amount} {ours.currency}, statement {line.amount} {line.currency or ''}".strip()
        elif ours.state == "mismatch":
            row.bucket = "amount_mismatch"
            row.note = ours.detail or "the gateway holds it as a mismatch"
        elif line.transaction_id and ours.transaction_id and line.transaction_id != ours.transaction_id:
            row.bucket = "missing_ours"
            row.note = f"the gateway recorded transaction {ours.transaction_id}, not this one"
        listed.add(line.reference)
        report.rows.append(row)
    for ours in ours_on_days:
        if ours.reference not in theirs:
            report.rows.append(ReconciliationRow(
                bucket="missing_theirs", reference=ours.reference, dossier_code=ours.dossier_code,
                our_amount=ours.paid_amount, transaction_id=ours.transaction_id or "", our_state=ours.state,
                note="paid at the gateway, not in the statement"))
    report.rows.sort(key=lambda row: (BUCKETS.index(row.bucket), row.reference))
    return report


def _on_day(day: date):
    """Paid on this day in Vietnam, compared in UTC as the gateway stores times (SQLite keeps no zone)."""
    start = datetime.combine(day, datetime.min.time(), VIETNAM).astimezone(UTC)
    return (Payment.paid_at >= start) & (Payment.paid_at < start + timedelta(days=1))


def _amount(text: str | None) -> int:
    """An amount in đồng as statements write it: 70000, 70.000 or 70,000 (thousands), 70000.00."""
    value = str(text or "").strip()
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", value):
        return int(re.sub(r"[.,]", "", value))
    if match := re.fullmatch(r"(\d+)([.,]0{1,2})?", value):
        return int(match.group(1))
    raise ValueError(f"amount {value!r} is not a whole number of đồng")


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)
