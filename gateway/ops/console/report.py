"""The monthly report (báo cáo tháng) the province's directives ask for, per level (province,
district, commune) and agency, over the dossiers received (NgayTiepNhan) in the month, Vietnam
time:

- submitted online: channel (KenhThucHien) `online`, of all received;
- paid online: a fee payment through the gateway confirmed `paid`, of the fee-charging ones;
- returned by post: a return parcel delivered (postal), of those whose result was returned (status 10);
- synchronised: the national portal holds the dossier's latest status, of all received.
"""

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, select

from gateway.connectors.national_portal.config import NAME as NATIONAL_PORTAL
from gateway.domain.shipment import ShipmentKind
from gateway.ops.console.settings import Agency
from gateway.store.database import Database
from gateway.store.tables import DossierRecord, PartnerDossier, Payment, Shipment
from gateway.store.times import stored

PAID = "paid"  # payments.state once the provider confirmed it
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
YEARS = (2000, 2100)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell
LEVELS = ("province", "district", "commune", "unknown")
COUNTS = ("received", "online", "fee_charging", "paid_online", "results_returned", "returned_by_post", "synced")
SHARES = {"online_share": ("online", "received"), "paid_online_share": ("paid_online", "fee_charging"),
          "returned_by_post_share": ("returned_by_post", "results_returned"), "synced_share": ("synced", "received")}


class BadMonth(ValueError):
    pass


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=VIETNAM)
    except ValueError:
        raise BadMonth(f"month must be YYYY-MM, not {month!r}") from None
    if not YEARS[0] <= first.year <= YEARS[1]:
        raise BadMonth(f"month must be in the years {YEARS[0]} to {YEARS[1]}, not {month!r}")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, datetime.combine(following, datetime.min.time(), VIETNAM)


async def monthly_report(database: Database, month: str, agencies: dict[str, Agency]) -> dict:
    start, end = month_bounds(month)
    dossier = DossierRecord
    paid = exists().where(Payment.dossier_code == dossier.code, Payment.state == PAID)
    by_post = exists().where(Shipment.dossier_code == dossier.code, Shipment.kind == ShipmentKind.RETURN.value,
                             Shipment.counted_in.is_not(None))
    synced = exists().where(PartnerDossier.dossier_code == dossier.code, PartnerDossier.partner == NATIONAL_PORTAL,
                            PartnerDossier.status_sequence >= dossier.status_sequence)
    returned = dossier.returned_at.is_not(None)
    fee_charging = dossier.fee_charging.is_(True)
    query = (select(
        dossier.agency_code, func.count().label("received"),
        _count(dossier.channel == "online").label("online"),
        _count(fee_charging).label("fee_charging"),
        _count(and_(fee_charging, paid)).label("paid_online"),
        _count(returned).label("results_returned"),
        _count(and_(returned, by_post)).label("returned_by_post"),
        _count(synced).label("synced"),
    ).where(dossier.received_at >= stored(start), dossier.received_at < stored(end)).group_by(dossier.agency_code))
    async with database.transaction() as session:
        rows = [_row(row._mapping, agencies) for row in (await session.execute(query)).all()]
    rows.sort(key=lambda row: (LEVELS.index(row["level"]), row["agency_code"] or ""))
    levels = [_with_shares({"level": level, "agency_code": None, "agency_name": None,
                            **_sum(row for row in rows if row["level"] == level)})
              for level in LEVELS if any(row["level"] == level for row in rows)]
    total = _with_shares({"level": None, "agency_code": None, "agency_name": None, **_sum(rows)})
    return {"month": month, "rows": rows, "levels": levels, "total": total}


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _row(values, agencies: dict[str, Agency]) -> dict:
    agency = agencies.get(values["agency_code"] or "")
    row = {"level": agency.level if agency else "unknown", "agency_code": values["agency_code"],
           "agency_name": agency.name if agency else None, **{name: int(values[name] or 0) for name in COUNTS}}
    return _with_shares(row)


def _sum(rows) -> dict:
    rows = list(rows)
    return {name: sum(row[name] for row in rows) for name in COUNTS}


def _with_shares(row: dict) -> dict:
    for share, (part, whole) in SHARES.items():
        row[share] = round(row[part] / row[whole], 4) if row[whole] else None
    return row


HEADINGS = {
    "en": ["Level", "Agency code", "Agency", "Received", "Submitted online", "Share online", "Fee-charging",
           "Paid online", "Share paid online", "Results returned", "Returned by post", "Share returned by post",
           "Synchronised to the national portal", "Share synchronised"],
    "vi": ["Cấp", "Mã đơn vị", "Đơn vị", "Hồ sơ tiếp nhận", "Nộp trực tuyến", "Tỷ lệ nộp trực tuyến",
           "Hồ sơ có phí, lệ phí", "Thanh toán trực tuyến", "Tỷ lệ thanh toán trực tuyến", "Đã trả kết quả",
           "Trả kết quả qua bưu chính", "Tỷ lệ trả qua bưu chính", "Đồng bộ Cổng DVC quốc gia", "Tỷ lệ đồng bộ"],
}
LEVEL_NAMES = {
    "en": {"province": "Province", "district": "District", "commune": "Commune", "unknown": "Not registered",
           None: "Total"},
    "vi": {"province": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã", "unknown": "Chưa khai báo",
           None: "Tổng cộng"},
}


def report_csv(report: dict, language: str) -> str:
    """CSV for spreadsheets: a UTF-8 BOM (Excel reads Vietnamese right), shares in percent."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADINGS[language])
    names = LEVEL_NAMES[language]
    for row in [*report["rows"], *report["levels"], report["total"]]:
        writer.writerow([names[row["level"]], _cell(row["agency_code"]), _cell(row["agency_name"]),
                         row["received"], row["online"], _percent(row, "online_share"), row["fee_charging"],
                         row["paid_online"], _percent(row, "paid_online_share"), row["results_returned"],
                         row["returned_by_post"], _percent(row, "returned_by_post_share"), row["synced"],
                         _percent(row, "synced_share")])
    return out.getvalue()


def _cell(text: str | None) -> str:
    """Text from the intake or the configuration, never read as a formula (CSV injection)."""
    text = text or ""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _percent(row: dict, share: str) -> str:
    """From the counts, not the rounded share: rounding twice would turn 78.947 into 79.0."""
    part, whole = SHARES[share]
    return f"{row[part] * 100 / row[whole]:.1f}" if row[whole] else ""
