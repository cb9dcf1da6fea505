"""A ministry's status report, however it came (a poll's answer or a callback), becomes the
gateway's own events, once:

- a status change on onegate.dossier-events (reported_by = the ministry service), which the
  national portal connector pushes and the ledger records;
- a OneGateUpdate (kind status, or result when a result document came) for the one-stop system.

Each report is numbered per dossier and service (1, 2, ...). The message ids derive from that
number and what it says, so a report accepted twice (a crash before the database noted it)
publishes the same ids again, which every consumer drops as duplicates. A report equal to the
last one, or older than it, publishes nothing.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker

from gateway.audit.message_log import MessageLog
from gateway.domain import DossierStatusChanged, OneGateUpdate, OneGateUpdateKind, StatusChange
from gateway.reliability.errors import PermanentError
from gateway.runtime.messaging import publish
from gateway.runtime.onegate_updates import OneGateUpdates
from gateway.domain.envelope import derived_message_id
from gateway.mappings.transforms import aware_datetime
from gateway.store import partner_dossiers
from gateway.store.database import Database
from gateway.topics import DOSSIER_EVENTS


class UnknownDossier(PermanentError):
    """The report names a dossier the gateway never sent to this service."""


@dataclass(frozen=True)
class Accepted:
    outcome: str  # published, duplicate, stale
    sequence: int | None = None


class StatusReports:
    def __init__(self, broker: KafkaBroker, database: Database, message_log: MessageLog, *, where: str) -> None:
        self.database = database
        self.message_log = message_log
        self.events = broker.publisher(DOSSIER_EVENTS.name, title=f"{DOSSIER_EVENTS.name}:ministry-{where}",
                                       description="Status changes a ministry service reported (reported_by set).",
                                       schema=DOSSIER_EVENTS.body)
        self.updates = OneGateUpdates(broker, message_log, role=f"ministry-{where}",
                                      description="Processing status and results reported by ministry services.")

    async def accept(self, service: str, title: str, report: dict[str, Any], *, dossier_code: str,
                     channel: str) -> Accepted:
        """Publish the report unless it is known or older; `channel` (poll, callback) for the message log.

        One transaction holds the dossier's row (locked on PostgreSQL) from the read to the record,
        with both publishes inside: two reports of one dossier (two pollers, a poll and a callback)
        are taken one after the other, each with its own number. A crash after publishing and
        before the commit numbers the next report the same; its ids also carry what it says, so a
        different report is not dropped as a copy of the lost one."""
        status = report.get("status")
        if status is None:
            raise PermanentError(f"{service}: the status report of {dossier_code} has no status (check the status "
                                 "reply spec and its table)", code="no-status")
        try:
            changed_at = aware_datetime(report["changed_at"]) if report.get("changed_at") else None
        except ValueError as error:
            raise PermanentError(f"{service}: the status report of {dossier_code} has no readable time: {error}",
                                 code="bad-time") from None
        async with self.database.transaction() as session:
            known = await partner_dossiers.find_for_update(session, service, dossier_code)
            if known is None:
                raise UnknownDossier(f"{service}: dossier {dossier_code} is not known to have been sent to this "
                                     "service (yet)", code="unknown")
            last = json.loads(known.sent_step) if known.sent_step else None
            if last is not None and _identity(last) == _identity(report):
                return Accepted("duplicate")
            if last is not None and changed_at is not None and last.get("changed_at") \
                    and changed_at < aware_datetime(last["changed_at"]):
                return Accepted("stale")
            sequence = known.status_sequence + 1
            cause = f"{service}/{dossier_code}/{sequence}/{_digest(report)}"
            change = StatusChange(
                dossier_code=dossier_code, sequence=sequence, status=status,
                changed_at=changed_at or datetime.now(UTC), handler_name=report.get("handler_name"),
                department=title[:300], note=_note(report), reported_by=service)
            event = await publish(self.events, DossierStatusChanged(status_change=change), dossier_code=dossier_code,
                                  source_system=service, message_id=derived_message_id(cause, "ministry-step"),
                                  causation_id=cause)
            update = OneGateUpdate(
                dossier_code=dossier_code, source=service, occurred_at=change.changed_at, status=status,
                kind=OneGateUpdateKind.RESULT if report.get("result") else OneGateUpdateKind.STATUS,
                message=f"{title}: {_note(report) or 'cập nhật trạng thái'}"[:2000])
            told = await self.updates.publish_for(update, cause, "ministry-update")
            await partner_dossiers.record_sent(session, service, dossier_code, status=status, sequence=sequence,
                                               step_record=report, reference=report.get("receipt_number"))
        await self.message_log.record(direction="in", channel="soap", partner=service,
                                      message_id=event.headers.message_id, dossier_code=dossier_code,
                                      payload=event.payload, outcome=f"{channel}: status {status} (report {sequence})")
        await self.updates.log(told, update.kind.value)
        return Accepted("published", sequence)


def _identity(report: dict[str, Any]) -> tuple:
    changed_at = report.get("changed_at")
    return (report.get("status"), report.get("ministry_status"),
            aware_datetime(changed_at) if changed_at else None, bool(report.get("result")))


def _digest(report: dict[str, Any]) -> str:
    return hashlib.sha256(repr(_identity(report)).encode()).hexdigest()[:16]


def _note(report: dict[str, Any]) -> str | None:
    """The ministry's words, and the result document's number when there is one."""
    parts = [report.get("note")]
    result = report.get("result") or {}
    if result.get("number"):
        parts.append(f"Kết quả số {result['number']}" + (f" ngày {result['issued_on']}" if result.get("issued_on") else ""))
    if result.get("url"):
        parts.append(result["url"])
    text = " — ".join(part for part in parts if part)
    return text[:2000] or None
