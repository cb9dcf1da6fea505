"""Drift check: does the portal show, for each dossier, the status the gateway last pushed?

Dossiers pushed since a date are looked up (TraCuuHoSo, a few at a time). `repair` then pushes
the gateway's status again: a re-synchronisation step (CapNhatTienDoHoSoMC, in chunks) for
dossiers whose status differs, the stored dossier record (DongBoHoSoMC) for those the portal lacks.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from gateway.connectors.national_portal.client import NationalPortalClient
from gateway.connectors.national_portal.config import NAME
from gateway.mappings.transforms import build as build_transform
from gateway.reliability.errors import PartnerError
from gateway.store import partner_dossiers
from gateway.store.database import Database
from gateway.store.tables import PartnerDossier

# What a look-up or a repair push may raise that concerns one dossier, not the whole check.
LOOK_UP_FAILURES = (PartnerError, httpx.HTTPError, OSError, ValueError)

RESYNC_NOTE = "Đồng bộ lại trạng thái từ hệ thống một cửa (status re-synchronised by the gateway)"


@dataclass(frozen=True)
class Drift:
    dossier_code: str
    pushed_status: str  # the portal's status code the gateway sent last (after the code table)
    portal_status: str | None  # None: the portal has no such dossier
    pushed_at: datetime
    problem: str = ""  # the look-up failed: drift unknown

    @property
    def missing(self) -> bool:
        return self.portal_status is None and not self.problem


@dataclass(frozen=True)
class DriftReport:
    checked: int
    drifts: list[Drift]


async def find_drift(database: Database, client: NationalPortalClient, since: datetime | None,
                     progress: Callable[[int, int], None] = lambda done, total: None) -> DriftReport:
    async with database.transaction() as session:
        rows = await partner_dossiers.sent_since(session, NAME, since)
    limit = asyncio.Semaphore(client.options.lookup_concurrency)
    done = 0

    async def check(row) -> Drift | None:
        nonlocal done
        async with limit:
            try:
                record = await client.look_up(row.dossier_code)
            except LOOK_UP_FAILURES as error:  # reported per dossier, the others go on
                drift = Drift(row.dossier_code, sent_status(row), None, row.updated_at,
                              problem=f"look-up failed: {type(error).__name__}: {error}")
            else:
                portal_status = None if record is None else str(record.get("TrangThaiHoSo"))
                drift = None if portal_status == sent_status(row) else Drift(
                    row.dossier_code, sent_status(row), portal_status, row.updated_at)
        done += 1
        progress(done, len(rows))
        return drift

    results = await asyncio.gather(*(check(row) for row in rows))
    return DriftReport(checked=len(rows), drifts=[drift for drift in results if drift is not None])


@dataclass(frozen=True)
class Repair:
    dossiers_pushed: int
    steps_pushed: int
    progress_chunks: int
    failures: list[str]  # what the portal refused, with its message


async def repair(database: Database, client: NationalPortalClient, drifts: list[Drift]) -> Repair:
    """Push the gateway's status again. A refusal is reported, the rest goes on."""
    as_portal_time = build_transform("datetime", None, {})
    steps, inserted, failures = [], 0, []
    async with database.transaction() as session:
        rows = {drift.dossier_code: await partner_dossiers.find(session, NAME, drift.dossier_code) for drift in drifts}
    for drift in drifts:
        row = rows[drift.dossier_code]
        if drift.problem or row is None:
            continue
        if drift.missing and row.sent_dossier:
            try:
                await client.push_dossier({**json.loads(row.sent_dossier), "TrangThaiHoSo": sent_status(row)})
                inserted += 1
            except LOOK_UP_FAILURES as error:
                failures.append(f"{drift.dossier_code}: {error}")
        elif not drift.missing:
            step = json.loads(row.sent_step) if row.sent_step else {"MaHoSo": drift.dossier_code,
                                                                      "NguoiXuLy": "Hệ thống một cửa điện tử"}
            steps.append({**step, "TrangThai": sent_status(row), "NoiDungXuLy": RESYNC_NOTE,
                          "ThoiDiemXuLy": as_portal_time(datetime.now().astimezone())})
    chunks = pushed = 0
    size = client.options.progress_chunk_size
    for start in range(0, len(steps), size):
        chunk = steps[start:start + size]
        try:
            chunks += await client.push_progress(chunk)
            pushed += len(chunk)
        except LOOK_UP_FAILURES as error:  # noqa: PERF203 - one refused chunk does not stop the others
            failures.append(f"{', '.join(step['MaHoSo'] for step in chunk)}: {error}")
    return Repair(dossiers_pushed=inserted, steps_pushed=pushed, progress_chunks=chunks, failures=failures)


def sent_status(row: PartnerDossier) -> str:
    """The status code the portal was last sent for this dossier: the newest step's, else the dossier's."""
    if row.sent_step:
        return str(json.loads(row.sent_step).get("TrangThai"))
    if row.sent_dossier:
        return str(json.loads(row.sent_dossier).get("TrangThaiHoSo"))
    return str(row.status)
