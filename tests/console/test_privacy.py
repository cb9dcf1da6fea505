"""What operators see of personal data: masking of dead-letter payloads, partner errors and log
lines, the keyed hash behind a search by ID number, and report cells a spreadsheet would run."""

import io
import json
import logging
import subprocess
import sys

from gateway.ops.console.report import report_csv
from gateway.privacy import (
    MaskedLogs,
    citizen_key,
    mask_error,
    mask_id_number,
    mask_numbers,
    mask_payload,
)

ID_NUMBER, PHONE = "046190000123", "0912345678"


def test_personal_fields_are_masked_whatever_their_shape_or_language() -> None:
    event = {
        "dossier": {
            "code": "000.00.15.H12-261122-0001",
            "applicant": {"full_name": "Nguyễn Thị Lan", "id_number": ID_NUMBER, "phone": PHONE,
                          "address": {"street": "12 Lê Lợi", "ward": "Phường 1"}},
            "summary": f"Bà Lan, SĐT 0912 345 678, CCCD {ID_NUMBER}",
            "fees": [{"code": "LP01", "name": "Lệ phí", "amount_vnd": 150000000}],
            "postal": {"return_to": {"name": "Lan", "phone": 912345678, "address": "12 Lê Lợi"}},
        },
        "HoTenNguoiNop": "Trần Văn Bình", "SoDienThoai": "+84 912.345.678", "SoCCCD": ID_NUMBER,
        "tracking": "EB694554395VN",
    }
    shown = mask_payload(json.dumps(event, ensure_ascii=False).encode())
    for personal in (ID_NUMBER, PHONE, "912345678", "0912 345 678", "912.345.678", "Nguyễn Thị Lan", "Lê Lợi",
                     "Trần Văn Bình", "Phường 1"):
        assert personal not in shown, personal
    decoded = json.loads(shown)
    assert decoded["dossier"]["applicant"]["id_number"] == "********0123"
    assert decoded["SoCCCD"] == "********0123"
    assert decoded["dossier"]["code"] == "000.00.15.H12-261122-0001"  # not personal
    assert decoded["dossier"]["fees"][0]["amount_vnd"] == 150000000  # a number, not an ID
    assert decoded["tracking"] == "EB694554395VN"  # digits inside a word are no ID number


def test_text_that_is_not_json_and_partner_errors_are_masked_too() -> None:
    assert ID_NUMBER not in mask_payload(f"<CongDan><SoCCCD>{ID_NUMBER}</SoCCCD></CongDan>".encode())
    assert mask_payload(b"[" * 100_000)  # too deep for json: shown as text, no RecursionError
    error = f'422: {{"input":"{PHONE}","citizen":{{"id_number":"{ID_NUMBER}"}}}}'
    assert PHONE not in mask_numbers(error) and ID_NUMBER not in mask_numbers(error)
    assert mask_id_number(ID_NUMBER) == "********0123"


def test_the_citizen_key_needs_the_key_and_ignores_spacing() -> None:
    assert citizen_key(ID_NUMBER, b"k1") == citizen_key(f" {ID_NUMBER[:6]} {ID_NUMBER[6:]} ", b"k1")
    assert citizen_key(ID_NUMBER, b"k1") != citizen_key(ID_NUMBER, b"k2")


def test_report_cells_never_start_a_formula() -> None:
    row = {"level": "unknown", "agency_code": "=HYPERLINK(\"http://x\")", "agency_name": "+cmd|'/C calc'!A0",
           "received": 1, "online": 1, "fee_charging": 0, "paid_online": 0, "results_returned": 0,
           "returned_by_post": 0, "synced": 0}
    text = report_csv({"rows": [row], "levels": [], "total": {**row, "level": None, "agency_code": None,
                                                              "agency_name": None}}, "en")
    assert "'=HYPERLINK" in text and "'+cmd" in text


def test_errors_are_masked_before_they_are_cut_and_quoted_keys_hidden() -> None:
    error = f"POST https://partner/hook?api_key=SECRET123 answered 422: CCCD_An_{ID_NUMBER}.pdf ĐT{PHONE}"
    shown = mask_error(error, 200)
    assert "SECRET123" not in shown and ID_NUMBER not in shown and PHONE not in shown
    assert mask_error(f"{'x' * 195}{ID_NUMBER}", 200).endswith("*****")  # no digit of it survives the cut
    assert len(mask_payload(b"[" * 600 + b"]" * 600)) == 1200  # too deep to mask as JSON: shown as text


def test_log_lines_and_their_tracebacks_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskedLogs())
    log = logging.getLogger("test.masked_logs")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("%s: dead-lettered %s after %s attempt(s): %s", "national_portal", "m-1", 3,
                    f"400 Bad Request: SoCCCD {ID_NUMBER} không hợp lệ")
        try:
            raise ValueError(f"GET https://partner.example/api?key=the-partner-key: phone {PHONE}")
        except ValueError:
            log.exception("partner call failed for EB694554395VN")
        log.warning("a bad format call %d", "not a number")  # reported by logging, never raised here
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert ID_NUMBER not in text and PHONE not in text and "the-partner-key" not in text, text
    assert "SoCCCD ********0123 không hợp lệ" in text and "after 3 attempt(s)" in text
    assert "Traceback" in text and "ValueError" in text and "EB694554395VN" in text  # tracking numbers stay


def test_the_gateway_logs_every_logger_masked() -> None:
    """What the run command sets up: the root handler masks, so library loggers (uvicorn,
    aiokafka) that quote a request or an answer are masked as well."""
    script = ("import logging; from gateway.runtime.cli import _log_to_stderr; _log_to_stderr('INFO'); "
              f"logging.getLogger('uvicorn.error').error('request of {ID_NUMBER} failed')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "request of ********0123 failed" in result.stderr and ID_NUMBER not in result.stderr, result.stderr
