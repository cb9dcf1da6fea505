"""What the gateway last told a partner about a dossier (table partner_dossiers)."""

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.tables import PartnerDossier
from gateway.store.upsert import insert_for


async def record_sent(session: AsyncSession, partner: str, dossier_code: str, *, status: int, sequence: int | None,
                      dossier_record: dict[str, Any] | None = None, step_record: dict[str, Any] | None = None,
                      reference: str | None = None) -> None:
    """Note what was sent. A step older than the one recorded (a replay) does not move it back.
    `sequence` None: a step another partner reported (numbered apart), the newest when it comes."""
    table = PartnerDossier.__table__
    current = table.c
    row = {"partner": partner, "dossier_code": dossier_code, "status": status, "status_sequence": sequence or 0,
           "reference": reference, "updated_at": datetime.now(UTC),
           "sent_dossier": _json(dossier_record), "sent_step": _json(step_record)}
    statement = insert_for(session, table).values(**row)
    proposed = statement.excluded
    newer = true() if sequence is None else proposed.status_sequence >= current.status_sequence
    changes = {
        "status": case((newer, proposed.status), else_=current.status),
        "status_sequence": current.status_sequence if sequence is None else
        case((newer, proposed.status_sequence), else_=current.status_sequence),
        "sent_step": case((newer, proposed.sent_step), else_=current.sent_step),
        "updated_at": proposed.updated_at,
    }
    if dossier_record is not None:
        changes["sent_dossier"] = proposed.sent_dossier
    if reference is not None:
        changes["reference"] = proposed.reference
    await session.execute(statement.on_conflict_do_update(index_elements=["partner", "dossier_code"], set_=changes))


async def find(session: AsyncSession, partner: str, dossier_code: str) -> PartnerDossier | None:
    return await session.get(PartnerDossier, (partner, dossier_code))


async def sent_since(session: AsyncSession, partner: str, since: datetime | None) -> list[PartnerDossier]:
    query = select(PartnerDossier).where(PartnerDossier.partner == partner)
    if since is not None:
        query = query.where(PartnerDossier.updated_at >= since)
    return list((await session.scalars(query.order_by(PartnerDossier.dossier_code))).all())


def _json(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False, separators=(",", ":"))


async def claim_for_polling(session: AsyncSession, partner: str, final_statuses: list[int], limit: int,
                            not_asked_since: datetime, now: datetime) -> list[PartnerDossier]:
    """The partner's open dossiers (not in a final status) not asked since `not_asked_since`, least
    recently asked first, marked asked `now`. Rows another worker is claiming are skipped
    (PostgreSQL), so two workers never ask the same dossier in one round."""
    query = (select(PartnerDossier)
             .where(PartnerDossier.partner == partner, PartnerDossier.status.not_in(final_statuses),
                    or_(PartnerDossier.polled_at.is_(None), PartnerDossier.polled_at <= not_asked_since))
             .order_by(PartnerDossier.polled_at.is_not(None), PartnerDossier.polled_at)
             .limit(limit).with_for_update(skip_locked=True))
    rows = list((await session.scalars(query)).all())
    for row in rows:
        row.polled_at = now
    return rows


async def find_for_update(session: AsyncSession, partner: str, dossier_code: str) -> PartnerDossier | None:
    """The row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
    return await session.get(PartnerDossier, (partner, dossier_code), with_for_update=True, populate_existing=True)
