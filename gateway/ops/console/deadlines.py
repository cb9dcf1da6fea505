"""The Deadlines page: dossiers waiting for the one-stop system's acceptance decision, due
`console.acceptance_hours` working hours after receipt (NgayTiepNhan) by the working calendar,
and dossiers past their appointment date (NgayHenTra) whose result has not been returned.

The acceptance clock stops at the first status 2, 3 or 5 (accepted, refused, supplement
requested). "Overdue" compares clock times: at 18:00 a dossier due at 15:00 has no working
hours left that day, and it is overdue.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.domain import DossierStatus
from gateway.domain.working_calendar import WorkingCalendar
from gateway.ops.console.settings import Agency, ConsoleSettings
from gateway.store.database import Database
from gateway.store.tables import DossierRecord
from gateway.store.times import iso, loaded

LIMIT = 5000  # dossiers per list: the oldest first, which matter most
# Statuses after which an appointment date no longer binds the agency.
CLOSED = (DossierStatus.REFUSED, DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.RESULT_RETURNED)


@dataclass(frozen=True)
class Counts:
    overdue: int
    due_soon: int
    past_appointment: int


async def deadlines(database: Database, calendar: WorkingCalendar, settings: ConsoleSettings,
                    agencies: dict[str, Agency], now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    async with database.transaction() as session:
        waiting = (await session.scalars(
            select(DossierRecord)
            .where(DossierRecord.received_at.is_not(None), DossierRecord.decided_at.is_(None),
                   DossierRecord.status == int(DossierStatus.NEW))
            .order_by(DossierRecord.received_at).limit(LIMIT))).all()
        late = (await session.scalars(
            select(DossierRecord)
            .where(DossierRecord.due_at.is_not(None), DossierRecord.due_at < now.astimezone(UTC),
                   DossierRecord.returned_at.is_(None), DossierRecord.status.not_in([int(s) for s in CLOSED]))
            .order_by(DossierRecord.due_at).limit(LIMIT))).all()
    allowed = timedelta(hours=settings.acceptance_hours)
    acceptance = []
    for record in waiting:
        received_at = loaded(record.received_at)
        accept_by = calendar.add_working_time(received_at, allowed, record.agency_code)
        left = calendar.working_time_between(now, accept_by, record.agency_code)
        if now >= accept_by:
            state = "overdue"
        elif left <= timedelta(hours=settings.due_soon_hours):
            state = "due_soon"
        else:
            state = "on_time"
        acceptance.append({**_about(record, agencies), "procedure_code": record.procedure_code,
                           "received_at": received_at.isoformat(), "accept_by": accept_by.isoformat(),
                           "working_hours_left": _hours(max(left, timedelta(0))), "state": state})
    past = [{**_about(record, agencies), "due_at": iso(record.due_at), "status": record.status,
             "working_hours_late": _hours(calendar.working_time_between(loaded(record.due_at), now,
                                                                        record.agency_code))}
            for record in late]
    return {"generated_at": now.isoformat(), "acceptance_hours": settings.acceptance_hours,
            "due_soon_hours": settings.due_soon_hours, "acceptance": acceptance, "past_appointment": past}


def counts(page: dict) -> Counts:
    states = [entry["state"] for entry in page["acceptance"]]
    return Counts(states.count("overdue"), states.count("due_soon"), len(page["past_appointment"]))


def _about(record: DossierRecord, agencies: dict[str, Agency]) -> dict:
    agency = agencies.get(record.agency_code or "")
    return {"code": record.code, "agency_code": record.agency_code, "agency_name": agency.name if agency else None}


def _hours(amount: timedelta) -> float:
    return round(amount.total_seconds() / 3600, 2)
