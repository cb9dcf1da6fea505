"""Partner health for the console: each process writes its circuit breakers (state, last
success, last error) to the database once a second when they changed, so the HTTP process
shows the breakers of every worker. The newest success and error win; the state shown is the
one last reported."""

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.reliability.breaker import Breakers
from gateway.runtime.background import Periodic
from gateway.store.database import Database
from gateway.store.tables import PartnerHealth
from gateway.store.times import iso
from gateway.store.upsert import insert_for

log = logging.getLogger(__name__)

REPORT_INTERVAL_S = 1.0
FINAL_REPORT_S = 5.0


class PartnerHealthReporter:
    def __init__(self, database: Database, breakers: Breakers, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.database = database
        self.breakers = breakers
        self.interval_s = interval_s
        self._written: dict[str, tuple] = {}
        self._reporter = Periodic(interval_s, self.report, "partner-health")

    async def start(self) -> None:
        self._reporter.start()

    async def stop(self) -> None:
        await self._reporter.stop()
        try:
            await asyncio.wait_for(self.report(), FINAL_REPORT_S)
        except TimeoutError:
            log.warning("partner health: the last state was not written (the database does not answer)")

    async def report(self) -> None:
        changed = {breaker.partner: (breaker.state.value, breaker.last_success_at, breaker.last_error_at,
                                     breaker.last_error)
                   for breaker in self.breakers.all()}
        changed = {partner: seen for partner, seen in changed.items() if self._written.get(partner) != seen}
        if not changed:
            return
        try:
            async with self.database.transaction() as session:
                for partner, (state, success_at, error_at, error) in changed.items():
                    await _upsert(session, partner, state, success_at, error_at, error)
        except Exception as error:  # noqa: BLE001 - health is shown late, never lost for good
            log.warning("partner health not written (will retry): %s", error)
            return
        self._written.update(changed)


async def _upsert(session, partner, state, success_at, error_at, error) -> None:
    table = PartnerHealth.__table__
    current = table.c
    statement = insert_for(session, table).values(partner=partner, state=state, last_success_at=success_at,
                                                  last_error_at=error_at, last_error=error,
                                                  updated_at=datetime.now(UTC))
    proposed = statement.excluded
    newer_error = or_(current.last_error_at.is_(None), proposed.last_error_at > current.last_error_at)
    await session.execute(statement.on_conflict_do_update(index_elements=["partner"], set_={
        "state": proposed.state, "updated_at": proposed.updated_at,
        "last_success_at": case((or_(current.last_success_at.is_(None),
                                     proposed.last_success_at > current.last_success_at), proposed.last_success_at),
                                else_=current.last_success_at),
        "last_error_at": case((newer_error, proposed.last_error_at), else_=current.last_error_at),
        "last_error": case((newer_error, proposed.last_error), else_=current.last_error),
    }))


async def read_partner_health(session: AsyncSession) -> list[dict]:
    rows = (await session.scalars(select(PartnerHealth).order_by(PartnerHealth.partner))).all()
    return [{"partner": row.partner, "breaker": row.state,
             "last_success_at": iso(row.last_success_at), "last_error_at": iso(row.last_error_at),
             "last_error": row.last_error,
             "reported_at": iso(row.updated_at)} for row in rows]

