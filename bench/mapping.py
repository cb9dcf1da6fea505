"""Records/s of the shipped DVCQG dossier mapping spec beside a hand-written Python function doing
the same transform, measured in the same run on the same dossiers.

    .venv/bin/python -m bench.mapping [--records N]

Rows: the spec without and with the partner's JSON Schema check (what the connector runs), and
the hand-written function without and with the same check. The hand-written function is checked
against the spec's output first, so both do the same work.
"""

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.mappings.spec import SHIPPED_SPECS, load_spec
from gateway.simulators.onegate import OneGateSimulator

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
CHANNEL = {"counter": "1", "online": "2", "postal": "3"}
FEE_KIND = {"fee": "1", "charge": "2"}


def by_hand(data: dict[str, Any]) -> dict[str, Any]:
    """dossier.mapping.yaml written out in Python."""
    dossier = data["dossier"]
    applicant = dossier["applicant"]

    def when(value: str | None) -> str | None:
        return None if value is None else datetime.fromisoformat(value).astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")

    summary = (dossier.get("summary") or dossier["procedure_name"]).strip()
    if len(summary) > 1000:
        summary = summary[:999] + "…"
    if dossier["channel"] not in CHANNEL:
        raise ValueError(f"{dossier['channel']!r} is not in table 'channel'")
    note_parts = [part for part in (f"Địa chỉ: {applicant['address']}" if applicant.get("address") else None,
                                    dossier.get("sector_name")) if part]
    record = {
        "MaHoSo": dossier["code"], "MaTTHC": dossier["procedure_code"], "TenTTHC": dossier["procedure_name"],
        "MaLinhVuc": dossier.get("sector_code"), "TenLinhVuc": dossier.get("sector_name"),
        "KenhThucHien": CHANNEL[dossier["channel"]], "ChuHoSo": applicant["full_name"],
        "SoGiayToChuHoSo": applicant.get("id_number"), "LoaiDoiTuong": str(applicant["kind"]),
        "Email": applicant.get("email"),
        "SoDienThoai": "".join(ch for ch in applicant["phone"] if ch.isdigit()) if applicant.get("phone") else None,
        "TrichYeuHoSo": summary, "NgayTiepNhan": when(dossier["received_at"]), "NgayHenTra": when(dossier.get("due_at")),
        "TrangThaiHoSo": str(dossier["status"]), "DonViXuLy": dossier["agency_code"],
        "DuocThanhToanTrucTuyen": "1" if dossier["online_payment"] else "0",
        "HinhThuc": "1" if dossier["channel"] == "postal" else "0",
        "GhiChu": " | ".join(note_parts)[:2000] if note_parts else None,
        "TaiLieuNop": [{key: value for key, value in (("MaThanhPhanHoSo", document.get("code")),
                                                      ("TenTepDinhKem", document["name"][:500]),
                                                      ("DuongDanTaiTepTin", document.get("url"))) if value is not None}
                       for document in dossier["documents"]],
        "DanhSachLePhi": [{"MaPhiLePhi": fee["code"], "TenPhiLePhi": fee["name"], "Gia": fee["amount_vnd"],
                           "LoaiPhiLePhi": FEE_KIND[fee["kind"]], "HinhThucThu": "1"} for fee in dossier["fees"]],
    }
    return {key: value for key, value in record.items() if value is not None}


def rate(function: Callable[[Any], Any], inputs: list[Any]) -> float:
    started = time.perf_counter()
    for data in inputs:
        function(data)
    return len(inputs) / (time.perf_counter() - started)


def main(records: int) -> None:
    spec = load_spec(SHIPPED_SPECS / "national_portal" / "dossier.mapping.yaml")
    simulator = OneGateSimulator(seed=5)
    inputs = [{"dossier": simulator.dossier(number).model_dump(mode="json")} for number in range(records)]
    for data in inputs:  # the same work: identical outputs
        assert by_hand(data) == spec.map(data), data["dossier"]["code"]

    def by_hand_checked(data: dict) -> None:
        spec.validate(by_hand(data))

    for warm_up in (spec.apply, spec.map, by_hand, by_hand_checked):
        rate(warm_up, inputs[:200])
    results = [("hand-written function", rate(by_hand, inputs)),
               ("mapping spec (apply)", rate(spec.apply, inputs)),
               ("hand-written function + JSON Schema check", rate(by_hand_checked, inputs)),
               ("mapping spec + JSON Schema check (as the connector runs it)", rate(spec.map, inputs))]
    print(f"{records} realistic dossiers (documents, fees), DVCQG dossier record, one core")
    print(f"{'mapping':62}{'records/s':>12}{'vs hand-written':>17}")
    baseline = {False: results[0][1], True: results[2][1]}
    for index, (name, value) in enumerate(results):
        print(f"{name:62}{value:12.0f}{value / baseline[index >= 2]:17.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    main(parser.parse_args().records)
