"""The console's Deadlines page and monthly report checked against a hand-computed fixture month:
April 2026 in Vietnam, which has a weekend (Sat 25 - Sun 26/4), the Hùng Kings holiday observed
on Mon 27/4, and the 30/4 + 1/5 holidays (deploy/calendar-2026.yaml). The dossiers go through the
real gateway (HTTP intake -> Kafka -> dossier ledger); payments, return parcels and national portal
rows are written straight to the database, as their flows would have. Every figure below was
worked out by hand, and the arithmetic is shown next to it.

Working periods Mon-Fri 07:30-11:30 and 13:00-17:00 (8 h a day), Asia/Ho_Chi_Minh. All times
below are Vietnam time (+07:00) unless marked UTC. Acceptance is due 8 working hours after receipt;
"due soon" is 2 working hours or less left.

Agencies (settings `agencies`): P = 000.00.01.H12 Sở Tư pháp (province); D1 = 000.00.21.H12 UBND
huyện Yên Thành (district); D2 = 000.00.22.H12 UBND huyện Diễn Châu (district); C = 000.21.30.H12
"UBND xã Hợp Thành, huyện Yên Thành" (commune, parent D1; the comma is quoted in the CSV);
U = 000.99.99.H12, not configured (level "unknown").

The fixture (status changes: status@changed_at; "seq" = the ledger's status_sequence; portal = the
partner_dossiers row of national_portal: its status_sequence, or none; fees: listed at submission):

 #   agency received              channel fees      status changes                       final  due_at (NgayHenTra)   payment  return parcel   portal
 1   P      Fri 24/4 15:00        online  listed    -                                    1/0    Fri 8/5 17:00         paid     -               0  synced
 2   P      Thu 23/4 12:10 lunch  counter -         -                                    1/0    Tue 28/4 10:00        -        -               none
 3   P      Wed 1/4 00:30         online  listed    2@1/4 08:00 4@1/4 09:00              10/4   Fri 10/4 17:00        paid     counted 2026-04 4  synced
            (= Tue 31/3 17:30 UTC: April in Vietnam)  9@9/4 16:00 10@Fri 10/4 14:00
 4   D1     Sat 25/4 09:00        online  -         -                                    1/0    -                     -        -               0  synced
 5   D1     Fri 24/4 10:30        counter -         -                                    1/0    -                     -        -               0  synced
 6   D1     Fri 24/4 13:30        postal  -         -                                    1/0    Thu 7/5 17:00         -        -               none
 7   D1     Mon 6/4 08:00         online  listed    2@6/4 09:00 4@6/4 10:00 10@17/4 10:00 10/3  Fri 17/4 17:00        paid     not delivered   2  lagging (< 3)
 8   D2     Wed 29/4 14:00        online  -         -                                    1/0    Wed 13/5 17:00        -        -               0  synced
 9   D2     Wed 29/4 12:00 lunch  counter -         -                                    1/0    Tue 12/5 17:00        -        -               none
 10  D2     Tue 14/4 09:00        counter assessed  2@14/4 10:00 4@15/4 08:00            6/3    Tue 21/4 17:00        open     -               3  synced
                                                    6@16/4 09:00 with fee_assessment
 11  D2     Thu 2/4 08:00         counter -         2@2/4 09:00 4@2/4 10:00 (moves       9/3    Thu 16/4 17:00, moved -        -               3  synced
                                                    due_at) 9@22/4 16:00                        to Thu 23/4 12:00
 12  C      Mon 20/4 08:00        online  listed    2@20/4 08:30 4@20/4 09:00            10/4   Fri 24/4 17:00        paid     counted 2026-04 4  synced
                                                    9@22/4 10:00 10@Thu 23/4 15:00
 13  C      Tue 21/4 16:00        counter -         3@22/4 08:00 (refused)               3/1    Thu 23/4 17:00        -        -               0  lagging (< 1)
 14  C      Wed 22/4 09:00        online  listed    5@22/4 10:00 (supplement)            5/1    Wed 29/4 17:00        -        -               1  synced
 15  U      Thu 30/4 09:00 holiday online listed    -                                    1/0    Thu 14/5 17:00        paid     -               none
 X1  P      Tue 31/3 23:30        online  listed    2@1/4 08:00 10@2/4 10:00             10/2   Fri 3/4 17:00         paid     counted 2026-04 2  synced
            (= 31/3 16:30 UTC: March in both)   -- outside April: would change P's row if counted
 X2  D1     Fri 1/5 00:10 holiday online  listed    -                                    1/0    Fri 15/5 17:00        paid     -               0  synced
            (= Thu 30/4 17:10 UTC: April in UTC, May in Vietnam) -- outside April

Acceptance (undecided: status 1, no 2/3/5 yet), accept_by = received + 8 working hours:
 #2  Thu 23/4 12:10 -> lunch, starts 13:00: Thu 13:00-17:00 4 h; Fri 24/4 07:30-11:30 4 h        -> Fri 24/4 11:30
 #5  Fri 24/4 10:30 -> Fri 10:30-11:30 1 h + 13:00-17:00 4 h = 5 h; Sat/Sun off; Mon 27/4 holiday;
                       Tue 28/4 07:30 + 3 h                                                       -> Tue 28/4 10:30
 #6  Fri 24/4 13:30 -> Fri 3.5 h; Sat/Sun; Mon 27/4 holiday; Tue 07:30-11:30 4 h (7.5 h);
                       13:00 + 0.5 h                                                              -> Tue 28/4 13:30
 #1  Fri 24/4 15:00 -> Fri 2 h; Sat/Sun off; Mon 27/4 holiday; Tue 07:30-11:30 4 h + 13:00-15:00 2 h -> Tue 28/4 15:00
 #4  Sat 25/4 09:00 -> Sat/Sun off; Mon 27/4 holiday; Tue 28/4 4 h + 4 h                          -> Tue 28/4 17:00
 #9  Wed 29/4 12:00 -> lunch, starts 13:00: Wed 4 h; Thu 30/4, Fri 1/5 holidays; Sat/Sun;
                       Mon 4/5 07:30-11:30 4 h                                                    -> Mon 4/5 11:30
 #8  Wed 29/4 14:00 -> Wed 3 h; 30/4, 1/5 holidays; Sat/Sun; Mon 4/5 4 h (7 h) + 13:00-14:00      -> Mon 4/5 14:00
 #15 Thu 30/4 09:00 -> holiday; 1/5 holiday; Sat/Sun; Mon 4/5 07:30-17:00 8 h                     -> Mon 4/5 17:00
 X2  Fri 1/5 00:10  -> holiday; Sat/Sun; Mon 4/5 8 h                                              -> Mon 4/5 17:00
 Not listed: #3 #7 #10 #11 #12 X1 (accepted), #13 (refused), #14 (supplement requested).

 Working hours left at NOW1 = Tue 28/4 10:00 (rest of Tue: 10:00-11:30 1.5 h + 13:00-17:00 4 h = 5.5 h;
 Wed 29/4 8 h; 30/4 and 1/5 holidays):
 #2 overdue 0 | #5 10:00-10:30 0.5 due_soon | #6 1.5 + 13:00-13:30 0.5 = 2.0 due_soon (2 <= 2) |
 #1 1.5 + 2 = 3.5 on_time | #4 5.5 on_time | #9 5.5 + 8 + Mon 4 = 17.5 on_time |
 #8 5.5 + 8 + Mon 4 + 1 = 18.5 on_time | #15, X2 5.5 + 8 + Mon 8 = 21.5 on_time
 (#9, #8, #15 and X2 are received after NOW1; the page lists what the ledger holds.)
 At NOW2 = Mon 4/5 11:30: #2 #5 #6 #1 #4 overdue 0 | #9 due at 11:30 = now: overdue 0 |
 #8 13:00-14:00 1.0 due_soon | #15, X2 13:00-17:00 4.0 on_time

Past appointment (due_at < now, result not returned, status not 3/7/8/10), hours late:
 NOW1: #10 due Tue 21/4 17:00: Wed 22 8 + Thu 23 8 + Fri 24 8 + Mon 27 holiday + Tue 07:30-10:00 2.5 = 26.5
       #11 due Thu 23/4 12:00 (moved): Thu 13:00-17:00 4 + Fri 8 + Tue 2.5 = 14.5
       not: #2 (due exactly at now), #13 (refused), #3 #7 #12 X1 (returned), #14 (due later)
 NOW2: #10 24 + Tue 28 8 + Wed 29 8 + Mon 4/5 07:30-11:30 4 = 44.0
       #11 4 + 8 + 8 + 8 + 4 = 32.0
       #2  due Tue 28/4 10:00: 5.5 + Wed 8 + Mon 4 = 17.5
       #14 due Wed 29/4 17:00: 30/4, 1/5 holidays, Sat/Sun, Mon 4 = 4.0

Report, April 2026 (cohort: #1-#15; X1 and X2 out):
 agency  received online fee_charging paid_online returned by_post synced
 P       3 (1,2,3)  2 (1,3)  2 (1,3)   2 (1,3)     1 (3)    1 (3)   2 (1,3)
 D1      4 (4-7)    2 (4,7)  1 (7)     1 (7)       1 (7)    0       2 (4,5)
 D2      4 (8-11)   1 (8)    1 (10)    0 (open)    0        0       3 (8,10,11)
 C       3 (12-14)  2 (12,14) 2 (12,14) 1 (12)     1 (12)   1 (12)  2 (12,14)
 U       1 (15)     1        1         1           0        0       0
 district = D1 + D2: 8, 3, 2, 1, 1, 0, 5
 total: 15, 8, 7, 5, 3, 2, 9 -> online 8/15 = 0.5333, paid 5/7 = 0.7143, post 2/3 = 0.6667, synced 9/15 = 0.6
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml
from sqlalchemy import select

from gateway.domain import DossierSubmitted, Fee
from gateway.ops.console.deadlines import deadlines
from gateway.ops.console.report import monthly_report, report_csv
from gateway.ops.console.settings import Agency
from gateway.runtime.app import Gateway
from gateway.runtime.config import DatabaseSettings
from gateway.store.database import Database
from gateway.store.tables import DossierRecord, PartnerDossier, Payment, Shipment

from ..conftest import REPO, StartGateway, sample_dossier, wait_for

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL = "national_portal"


def vn(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


P, D1, D2, C, U = "000.00.01.H12", "000.00.21.H12", "000.00.22.H12", "000.21.30.H12", "000.99.99.H12"
AGENCIES = {
    P: {"name": "Sở Tư pháp", "level": "province"},
    D1: {"name": "UBND huyện Yên Thành", "level": "district"},
    D2: {"name": "UBND huyện Diễn Châu", "level": "district"},
    C: {"name": "UBND xã Hợp Thành, huyện Yên Thành", "level": "commune", "parent": D1},
    # U is deliberately not configured
}


@dataclass(frozen=True)
class FixtureDossier:
    number: str
    agency: str
    received: datetime
    channel: str
    fees: bool
    due: datetime | None
    changes: tuple[tuple[int, datetime, dict[str, Any]], ...] = ()  # (status, changed_at, extra fields)

    @property
    def code(self) -> str:
        return f"{self.agency}-{self.received:%y%m%d}-{self.number.zfill(4)}"

    @property
    def final(self) -> tuple[int, int]:
        return (self.changes[-1][0], len(self.changes)) if self.changes else (1, 0)


FEE_ASSESSMENT = {"fees": [{"code": "LP-02", "name": "Lệ phí cấp giấy phép", "amount_vnd": 150000}]}
SUPPLEMENT = {"requested_documents": ["Bản sao giấy khai sinh"]}

DOSSIERS = [
    FixtureDossier("1", P, vn(4, 24, 15), "online", True, vn(5, 8, 17)),
    FixtureDossier("2", P, vn(4, 23, 12, 10), "counter", False, vn(4, 28, 10)),
    FixtureDossier("3", P, vn(4, 1, 0, 30), "online", True, vn(4, 10, 17), (
        (2, vn(4, 1, 8), {}), (4, vn(4, 1, 9), {}), (9, vn(4, 9, 16), {}), (10, vn(4, 10, 14), {}))),
    FixtureDossier("4", D1, vn(4, 25, 9), "online", False, None),
    FixtureDossier("5", D1, vn(4, 24, 10, 30), "counter", False, None),
    FixtureDossier("6", D1, vn(4, 24, 13, 30), "postal", False, vn(5, 7, 17)),
    FixtureDossier("7", D1, vn(4, 6, 8), "online", True, vn(4, 17, 17), (
        (2, vn(4, 6, 9), {}), (4, vn(4, 6, 10), {}), (10, vn(4, 17, 10), {}))),
    FixtureDossier("8", D2, vn(4, 29, 14), "online", False, vn(5, 13, 17)),
    FixtureDossier("9", D2, vn(4, 29, 12), "counter", False, vn(5, 12, 17)),
    FixtureDossier("10", D2, vn(4, 14, 9), "counter", False, vn(4, 21, 17), (
        (2, vn(4, 14, 10), {}), (4, vn(4, 15, 8), {}), (6, vn(4, 16, 9), {"fee_assessment": FEE_ASSESSMENT}))),
    FixtureDossier("11", D2, vn(4, 2, 8), "counter", False, vn(4, 16, 17), (
        (2, vn(4, 2, 9), {}), (4, vn(4, 2, 10), {"due_at": vn(4, 23, 12).isoformat()}), (9, vn(4, 22, 16), {}))),
    FixtureDossier("12", C, vn(4, 20, 8), "online", True, vn(4, 24, 17), (
        (2, vn(4, 20, 8, 30), {}), (4, vn(4, 20, 9), {}), (9, vn(4, 22, 10), {}), (10, vn(4, 23, 15), {}))),
    FixtureDossier("13", C, vn(4, 21, 16), "counter", False, vn(4, 23, 17), ((3, vn(4, 22, 8), {}),)),
    FixtureDossier("14", C, vn(4, 22, 9), "online", True, vn(4, 29, 17), ((5, vn(4, 22, 10), {"supplement": SUPPLEMENT}),)),
    FixtureDossier("15", U, vn(4, 30, 9), "online", True, vn(5, 14, 17)),
    # Outside April in Vietnam time:
    FixtureDossier("901", P, vn(3, 31, 23, 30), "online", True, vn(4, 3, 17), (
        (2, vn(4, 1, 8), {}), (10, vn(4, 2, 10), {}))),
    FixtureDossier("902", D1, vn(5, 1, 0, 10), "online", True, vn(5, 15, 17)),
]
BY_NUMBER = {dossier.number: dossier for dossier in DOSSIERS}


def code(number: str) -> str:
    return BY_NUMBER[number].code


# What the other flows would have written (numbers of the dossiers above):
PAID = ("1", "3", "7", "12", "15", "901", "902")
OPEN_PAYMENT = ("10",)  # fee-charging (assessed by status 6), not paid
RETURN_PARCELS = {"3": "2026-04", "12": "2026-04", "901": "2026-04", "7": None}  # counted_in; None: not delivered
PORTAL_SEQUENCE = {"1": 0, "3": 4, "4": 0, "5": 0, "7": 2, "8": 0, "10": 3, "11": 3, "12": 4, "13": 0, "14": 1,
                   "901": 2, "902": 0}  # 2, 6, 9, 15: no row

NOW1 = vn(4, 28, 10)  # Tue 28/4 10:00, the day after the Hùng Kings holiday
NOW2 = vn(5, 4, 11, 30)  # Mon 4/5 11:30: the end of the first morning worked after 30/4, 1/5 and the weekend

# (number, accept_by, state, working_hours_left), in the page's order (received_at)
ACCEPTANCE_AT_NOW1 = [
    ("2", "2026-04-24T11:30:00+07:00", "overdue", 0.0),
    ("5", "2026-04-28T10:30:00+07:00", "due_soon", 0.5),
    ("6", "2026-04-28T13:30:00+07:00", "due_soon", 2.0),
    ("1", "2026-04-28T15:00:00+07:00", "on_time", 3.5),
    ("4", "2026-04-28T17:00:00+07:00", "on_time", 5.5),
    ("9", "2026-05-04T11:30:00+07:00", "on_time", 17.5),
    ("8", "2026-05-04T14:00:00+07:00", "on_time", 18.5),
    ("15", "2026-05-04T17:00:00+07:00", "on_time", 21.5),
    ("902", "2026-05-04T17:00:00+07:00", "on_time", 21.5),
]
ACCEPTANCE_AT_NOW2 = [
    ("2", "2026-04-24T11:30:00+07:00", "overdue", 0.0),
    ("5", "2026-04-28T10:30:00+07:00", "overdue", 0.0),
    ("6", "2026-04-28T13:30:00+07:00", "overdue", 0.0),
    ("1", "2026-04-28T15:00:00+07:00", "overdue", 0.0),
    ("4", "2026-04-28T17:00:00+07:00", "overdue", 0.0),
    ("9", "2026-05-04T11:30:00+07:00", "overdue", 0.0),
    ("8", "2026-05-04T14:00:00+07:00", "due_soon", 1.0),
    ("15", "2026-05-04T17:00:00+07:00", "on_time", 4.0),
    ("902", "2026-05-04T17:00:00+07:00", "on_time", 4.0),
]
# (number, due_at as last changed, status, working_hours_late), in the page's order (due_at)
PAST_AT_NOW1 = [("10", vn(4, 21, 17), 6, 26.5),
                ("11", vn(4, 23, 12), 9, 14.5)]  # moved from Thu 16/4 17:00 by its status 4
PAST_AT_NOW2 = [("10", vn(4, 21, 17), 6, 44.0), ("11", vn(4, 23, 12), 9, 32.0), ("2", vn(4, 28, 10), 1, 17.5),
                ("14", vn(4, 29, 17), 5, 4.0)]


def calendar_2026() -> dict:
    return yaml.safe_load((REPO / "deploy/calendar-2026.yaml").read_text(encoding="utf-8"))["calendar"]


def submitted(dossier: FixtureDossier) -> dict:
    fees = (Fee(code="LP-01", name="Lệ phí", amount_vnd=50000),) if dossier.fees else ()
    return DossierSubmitted(dossier=sample_dossier(
        dossier.code, agency_code=dossier.agency, received_at=dossier.received, due_at=dossier.due,
        channel=dossier.channel, fees=fees)).model_dump(mode="json")


def status_changed(dossier: FixtureDossier, sequence: int, status: int, changed_at: datetime,
                   extra: dict[str, Any]) -> dict:
    return {"kind": "status_changed", "status_change": {
        "dossier_code": dossier.code, "sequence": sequence, "status": status,
        "changed_at": changed_at.isoformat(), **extra}}


async def ledger_statuses(gateway: Gateway) -> dict[str, tuple[int, int]]:
    async with gateway.database.transaction() as session:
        rows = (await session.execute(
            select(DossierRecord.code, DossierRecord.status, DossierRecord.status_sequence))).all()
    return {row.code: (row.status, row.status_sequence) for row in rows}


async def fixture_month(start_gateway: StartGateway) -> Gateway:
    """The gateway with the fixture month fed through intake and the ledger, and the other flows'
    rows written to the database."""
    gateway = await start_gateway(calendar=calendar_2026(), agencies=AGENCIES,
                                  partners={PORTAL: {"enabled": False}})
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        for dossier in DOSSIERS:
            events = [submitted(dossier)] + [status_changed(dossier, sequence, status, changed_at, extra)
                                             for sequence, (status, changed_at, extra)
                                             in enumerate(dossier.changes, start=1)]
            for event in events:
                response = await client.post("/api/v1/dossiers/events", json=event)
                assert response.status_code == 202, response.text
    expected = {dossier.code: dossier.final for dossier in DOSSIERS}

    async def recorded() -> bool:
        return await ledger_statuses(gateway) == expected

    await wait_for(recorded, timeout_s=30, what="the fixture month in the ledger")

    moment = datetime(2026, 5, 2, tzinfo=UTC)
    async with gateway.database.transaction() as session:
        for number in PAID + OPEN_PAYMENT:
            session.add(Payment(
                reference=f"PAY-{number}", provider="payment_dvcqg", dossier_code=code(number),
                step_key=f"{code(number)}:submitted", amount=50000, currency="VND", fees="[]",
                state="open" if number in OPEN_PAYMENT else "paid", created_at=moment, updated_at=moment))
        for number, counted_in in RETURN_PARCELS.items():
            session.add(Shipment(
                carrier="vnpost", dossier_code=code(number), kind="return", agency_code=BY_NUMBER[number].agency,
                state="delivered" if counted_in else "in_transit", tracking_number=f"EV{number}VN", address="{}",
                cod_vnd=0, description="Kết quả", counted_in=counted_in, created_at=moment, updated_at=moment))
        for number, sequence in PORTAL_SEQUENCE.items():
            session.add(PartnerDossier(partner=PORTAL, dossier_code=code(number), status=1,
                                       status_sequence=sequence, updated_at=moment))
    return gateway


def acceptance_entry(number: str, accept_by: str, state: str, left: float) -> dict:
    dossier = BY_NUMBER[number]
    return {"code": dossier.code, "agency_code": dossier.agency,
            "agency_name": AGENCIES.get(dossier.agency, {}).get("name"), "procedure_code": "1.001193",
            "received_at": dossier.received, "accept_by": accept_by, "working_hours_left": left, "state": state}


def past_entry(number: str, due_at: datetime, status: int, late: float) -> dict:
    dossier = BY_NUMBER[number]
    return {"code": dossier.code, "agency_code": dossier.agency,
            "agency_name": AGENCIES.get(dossier.agency, {}).get("name"), "due_at": due_at, "status": status,
            "working_hours_late": late}


def comparable(page: dict) -> tuple[list[dict], list[dict]]:
    """The page's lists with received_at and due_at as datetimes (stored in UTC, shown in UTC)."""
    acceptance = [entry | {"received_at": datetime.fromisoformat(entry["received_at"])} for entry in page["acceptance"]]
    past = [entry | {"due_at": datetime.fromisoformat(entry["due_at"])} for entry in page["past_appointment"]]
    return acceptance, past


async def test_deadlines_of_the_fixture_month_match_the_hand_computed_figures(start_gateway: StartGateway) -> None:
    gateway = await fixture_month(start_gateway)
    settings = gateway.settings
    for now, acceptance, past in ((NOW1, ACCEPTANCE_AT_NOW1, PAST_AT_NOW1), (NOW2, ACCEPTANCE_AT_NOW2, PAST_AT_NOW2)):
        page = await deadlines(gateway.database, settings.calendar, settings.console, settings.agencies, now=now)
        assert (page["acceptance_hours"], page["due_soon_hours"]) == (8.0, 2.0)
        got_acceptance, got_past = comparable(page)
        assert got_acceptance == [acceptance_entry(*entry) for entry in acceptance], f"acceptance at {now}"
        assert got_past == [past_entry(*entry) for entry in past], f"past appointment at {now}"

    # The page over HTTP, at the real clock (November 2026 or later): the same undecided dossiers,
    # all overdue by now, and every appointment before now not yet honoured.
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        response = await client.get("/api/v1/console/deadlines")
    assert response.status_code == 200, response.text
    page = response.json()
    assert [entry["code"] for entry in page["acceptance"]] == [code(number) for number, *_ in ACCEPTANCE_AT_NOW1]
    assert {entry["state"] for entry in page["acceptance"]} == {"overdue"}
    assert [entry["code"] for entry in page["past_appointment"]] == [
        code(number) for number in ("10", "11", "2", "14", "6", "1", "9", "8", "15", "902")]


def report_row(level: str | None, agency: str | None, received: int, online: int, fee_charging: int,
               paid_online: int, results_returned: int, returned_by_post: int, synced: int,
               shares: tuple[float | None, float | None, float | None, float | None]) -> dict:
    name = AGENCIES.get(agency, {}).get("name") if agency else None
    return {"level": level, "agency_code": agency, "agency_name": name, "received": received, "online": online,
            "fee_charging": fee_charging, "paid_online": paid_online, "results_returned": results_returned,
            "returned_by_post": returned_by_post, "synced": synced,
            **dict(zip(("online_share", "paid_online_share", "returned_by_post_share", "synced_share"), shares,
                       strict=True))}


EXPECTED_REPORT = {
    "month": "2026-04",
    "rows": [
        # shares: online/received, paid/fee-charging, by post/returned, synced/received (4 decimals)
        report_row("province", P, 3, 2, 2, 2, 1, 1, 2, (0.6667, 1.0, 1.0, 0.6667)),   # 2/3, 2/2, 1/1, 2/3
        report_row("district", D1, 4, 2, 1, 1, 1, 0, 2, (0.5, 1.0, 0.0, 0.5)),         # 2/4, 1/1, 0/1, 2/4
        report_row("district", D2, 4, 1, 1, 0, 0, 0, 3, (0.25, 0.0, None, 0.75)),      # 1/4, 0/1, -/0, 3/4
        report_row("commune", C, 3, 2, 2, 1, 1, 1, 2, (0.6667, 0.5, 1.0, 0.6667)),     # 2/3, 1/2, 1/1, 2/3
        report_row("unknown", U, 1, 1, 1, 1, 0, 0, 0, (1.0, 1.0, None, 0.0)),          # 1/1, 1/1, -/0, 0/1
    ],
    "levels": [
        report_row("province", None, 3, 2, 2, 2, 1, 1, 2, (0.6667, 1.0, 1.0, 0.6667)),
        report_row("district", None, 8, 3, 2, 1, 1, 0, 5, (0.375, 0.5, 0.0, 0.625)),  # 3/8, 1/2, 0/1, 5/8
        report_row("commune", None, 3, 2, 2, 1, 1, 1, 2, (0.6667, 0.5, 1.0, 0.6667)),
        report_row("unknown", None, 1, 1, 1, 1, 0, 0, 0, (1.0, 1.0, None, 0.0)),
    ],
    # 15 received, 8 online, 7 fee-charging, 5 paid, 3 returned, 2 by post, 9 synced
    "total": report_row(None, None, 15, 8, 7, 5, 3, 2, 9, (0.5333, 0.7143, 0.6667, 0.6)),  # 8/15 5/7 2/3 9/15
}

EXPECTED_CSV_VI = (
    "\ufeff"
    'Cấp,Mã đơn vị,Đơn vị,Hồ sơ tiếp nhận,Nộp trực tuyến,Tỷ lệ nộp trực tuyến,"Hồ sơ có phí, lệ phí",'
    "Thanh toán trực tuyến,Tỷ lệ thanh toán trực tuyến,Đã trả kết quả,Trả kết quả qua bưu chính,"
    "Tỷ lệ trả qua bưu chính,Đồng bộ Cổng DVC quốc gia,Tỷ lệ đồng bộ\r\n"
    "Cấp tỉnh,000.00.01.H12,Sở Tư pháp,3,2,66.7,2,2,100.0,1,1,100.0,2,66.7\r\n"
    "Cấp huyện,000.00.21.H12,UBND huyện Yên Thành,4,2,50.0,1,1,100.0,1,0,0.0,2,50.0\r\n"
    "Cấp huyện,000.00.22.H12,UBND huyện Diễn Châu,4,1,25.0,1,0,0.0,0,0,,3,75.0\r\n"
    'Cấp xã,000.21.30.H12,"UBND xã Hợp Thành, huyện Yên Thành",3,2,66.7,2,1,50.0,1,1,100.0,2,66.7\r\n'
    "Chưa khai báo,000.99.99.H12,,1,1,100.0,1,1,100.0,0,0,,0,0.0\r\n"
    "Cấp tỉnh,,,3,2,66.7,2,2,100.0,1,1,100.0,2,66.7\r\n"
    "Cấp huyện,,,8,3,37.5,2,1,50.0,1,0,0.0,5,62.5\r\n"
    "Cấp xã,,,3,2,66.7,2,1,50.0,1,1,100.0,2,66.7\r\n"
    "Chưa khai báo,,,1,1,100.0,1,1,100.0,0,0,,0,0.0\r\n"
    "Tổng cộng,,,15,8,53.3,7,5,71.4,3,2,66.7,9,60.0\r\n"
)
EXPECTED_EN_HEADINGS = (
    "\ufeffLevel,Agency code,Agency,Received,Submitted online,Share online,Fee-charging,Paid online,"
    "Share paid online,Results returned,Returned by post,Share returned by post,"
    "Synchronised to the national portal,Share synchronised\r\n")


async def test_report_of_the_fixture_month_matches_the_hand_computed_figures(start_gateway: StartGateway) -> None:
    gateway = await fixture_month(start_gateway)
    async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
        report = await client.get("/api/v1/console/report", params={"month": "2026-04"})
        vi = await client.get("/api/v1/console/report.csv", params={"month": "2026-04", "language": "vi"})
        en = await client.get("/api/v1/console/report.csv", params={"month": "2026-04", "language": "en"})
        bad = await client.get("/api/v1/console/report", params={"month": "2026-13"})
        bad_csv = await client.get("/api/v1/console/report.csv", params={"month": "2026-13"})
    assert report.status_code == 200, report.text
    body = report.json()
    for part in ("rows", "levels"):  # row by row first, for a readable failure
        for got, want in zip(body[part], EXPECTED_REPORT[part], strict=True):
            assert got == want, f"{part}: {want['level']} {want['agency_code']}"
    assert body["total"] == EXPECTED_REPORT["total"]
    assert body == EXPECTED_REPORT

    assert vi.status_code == 200, vi.text
    assert vi.headers["content-type"] == "text/csv; charset=utf-8"
    assert vi.headers["content-disposition"] == 'attachment; filename="bao-cao-2026-04.csv"'
    assert vi.content.decode("utf-8") == EXPECTED_CSV_VI
    assert en.status_code == 200 and en.headers["content-disposition"] == 'attachment; filename="report-2026-04.csv"'
    english = en.content.decode("utf-8")
    assert english.startswith(EXPECTED_EN_HEADINGS)
    # Same figures in English: only the headings and the level names differ.
    assert english.splitlines()[1:] == [line.replace("Cấp tỉnh", "Province").replace("Cấp huyện", "District")
                                        .replace("Cấp xã", "Commune").replace("Chưa khai báo", "Not registered")
                                        .replace("Tổng cộng", "Total")
                                        for line in EXPECTED_CSV_VI.splitlines()[1:]]
    assert bad.status_code == 422 and "2026-13" in bad.json()["detail"]
    assert bad_csv.status_code == 422


async def test_csv_percent_is_rounded_once(tmp_path: Path) -> None:
    """The CSV's percent comes from the counts, not from the share already rounded to 4 decimals:
    15 of 19 online is 78.947...%, so 78.9 (rounding twice gave 0.7895 -> 79.0, which this test
    found); 4 of 21 is 19.047...%, so 19.0. The fixture month above cannot show it (its
    denominators are 15 or below)."""
    database = Database(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/rounding.db"))
    await database.start()
    try:
        received = vn(4, 6, 9)
        async with database.transaction() as session:
            for agency, count, online in ((P, 19, 15), (D1, 21, 4)):
                for number in range(count):
                    session.add(DossierRecord(
                        code=f"{agency}-260406-{number:04d}", agency_code=agency, status=1, status_sequence=0,
                        events_seen=1, first_seen_at=received, last_event_at=received,
                        received_at=received.astimezone(UTC), channel="online" if number < online else "counter"))
        report = await monthly_report(database, "2026-04", {code: Agency(**AGENCIES[code]) for code in (P, D1)})
    finally:
        await database.close()
    rows = list(csv.reader(io.StringIO(report_csv(report, "en").removeprefix("\ufeff"))))
    online_share = {row[1]: row[5] for row in rows[1:3]}
    # 15/19 = 78.947...% and 4/21 = 19.047...%, to one decimal
    assert online_share == {P: "78.9", D1: "19.0"}
