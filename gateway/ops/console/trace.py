"""The Dossier trace page: one dossier across every system, found by its code (MaHoSo) or by
the citizen's ID number (through its keyed hash; the number itself is never stored).

The timeline is the message log (every message in or out, each record checked against its own
hash) plus the dead letters; beside it, what the gateway keeps per partner: payments, parcels,
what each partner was last told.
"""


from sqlalchemy import select

from gateway.audit.message_log import HASHED_FIELDS, record_hash
from gateway.privacy import citizen_key, mask_error
from gateway.runtime.config import Settings
from gateway.store.database import Database
from gateway.store.tables import (
    DeadLetter,
    DossierRecord,
    MessageLogRecord,
    PartnerDossier,
    Payment,
    Shipment,
)
from gateway.store.times import iso

MATCHES = 50  # dossiers listed for one citizen
SYSTEMS = {"onegate": "one-stop", "webhook": "one-stop", "national_portal": "national_portal",
           "signatures": "signatures"}
CONNECTOR_SYSTEMS = {"soap": "ministry", "payment": "payment", "postal": "postal"}


class CitizenSearchOff(RuntimeError):
    pass


async def find_dossiers(database: Database, *, code: str | None = None, citizen_id: str | None = None,
                        id_key: bytes | None = None) -> list[DossierRecord]:
    if citizen_id is not None:
        if id_key is None:
            raise CitizenSearchOff("search by citizen ID is off: set the key in the environment variable "
                                   "console.citizen_id_key_env names, then dossiers received after that are found")
        condition = DossierRecord.citizen_key == citizen_key(citizen_id, id_key)
    else:
        condition = DossierRecord.code == code
    async with database.transaction() as session:
        return list((await session.scalars(select(DossierRecord).where(condition)
                                           .order_by(DossierRecord.received_at.desc()).limit(MATCHES))).all())


async def trace(database: Database, settings: Settings, dossiers: list[DossierRecord]) -> dict:
    """The page for the first (newest) of `dossiers`, listing them all."""
    chosen = dossiers[0]
    code = chosen.code
    async with database.transaction() as session:
        records = (await session.scalars(select(MessageLogRecord).where(MessageLogRecord.dossier_code == code)
                                         .order_by(MessageLogRecord.id))).all()
        letters = (await session.scalars(select(DeadLetter).where(DeadLetter.dossier_code == code)
                                         .order_by(DeadLetter.id))).all()
        payments = (await session.scalars(select(Payment).where(Payment.dossier_code == code)
                                          .order_by(Payment.created_at))).all()
        shipments = (await session.scalars(select(Shipment).where(Shipment.dossier_code == code)
                                           .order_by(Shipment.id))).all()
        partners = (await session.scalars(select(PartnerDossier).where(PartnerDossier.dossier_code == code)
                                          .order_by(PartnerDossier.partner))).all()
    timeline = [_logged(record, settings) for record in records]
    timeline += [{"at": iso(letter.created_at), "system": "gateway", "direction": "in", "partner": letter.connector,
                  "what": f"dead letter {letter.id}: {mask_error(letter.error_message, 200)}", "message_id": letter.message_id,
                  "audit": None} for letter in letters]
    timeline.sort(key=lambda entry: entry["at"] or "")
    broken = [entry["audit"]["record_id"] for entry in timeline if entry["audit"] and not entry["audit"]["verified"]]
    return {
        "dossiers": [_summary(record, settings) for record in dossiers],
        "dossier": _summary(chosen, settings),
        "timeline": timeline,
        "payments": [{"reference": p.reference, "provider": p.provider, "amount": p.amount, "state": p.state,
                      "paid_at": iso(p.paid_at), "receipt_number": p.receipt_number} for p in payments],
        "shipments": [{"carrier": s.carrier, "kind": s.kind, "tracking_number": s.tracking_number, "state": s.state,
                       "state_at": iso(s.state_at)} for s in shipments],
        "dead_letters": [{"id": d.id, "connector": d.connector, "error_message": mask_error(d.error_message),
                          "state": "discarded" if d.discarded_at else "replayed" if d.replay_count else "open",
                          "created_at": iso(d.created_at)} for d in letters],
        "partners": [{"partner": p.partner, "status": p.status, "reference": p.reference,
                      "updated_at": iso(p.updated_at)} for p in partners],
        "audit": {"intact": not broken,
                  "problem": f"records {', '.join(map(str, broken))} do not match their hash" if broken else ""},
    }


def system_of(partner: str, settings: Settings) -> str:
    if partner.startswith("operator:"):
        return "operator"
    if partner in SYSTEMS:
        return SYSTEMS[partner]
    configured = settings.partners.get(partner.split(".")[-1])
    if configured is not None and configured.connector in CONNECTOR_SYSTEMS:
        return CONNECTOR_SYSTEMS[configured.connector]
    return partner.split(".")[0] if "." in partner else partner


def _logged(record: MessageLogRecord, settings: Settings) -> dict:
    fields = {name: getattr(record, name) for name in HASHED_FIELDS}
    return {"at": record.recorded_at, "system": system_of(record.partner, settings), "direction": record.direction,
            "partner": record.partner, "what": mask_error(record.outcome), "message_id": record.message_id,
            "channel": record.channel,
            "audit": {"record_id": record.id, "digest": record.digest, "hash": record.hash,
                      "verified": record_hash(fields) == record.hash}}


def _summary(record: DossierRecord, settings: Settings) -> dict:
    agency = settings.agencies.get(record.agency_code or "")
    return {"code": record.code, "procedure_code": record.procedure_code, "agency_code": record.agency_code,
            "agency_name": agency.name if agency else None, "status": record.status,
            "received_at": iso(record.received_at), "due_at": iso(record.due_at), "channel": record.channel,
            "citizen": record.citizen_masked, "decided_at": iso(record.decided_at),
            "returned_at": iso(record.returned_at)}



