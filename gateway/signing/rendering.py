"""A report as people read it, in English or Vietnamese.

Circular 15/2025/TT-BKHCN asks a verifier to show, in Vietnamese: the issuer (tổ chức cung cấp
dịch vụ chứng thực), the signer (người ký), the signing time or timestamp (thời gian ký), the
integrity (tính toàn vẹn) and the validity (hiệu lực) of each signature.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.signing.report import DocumentReport, Indication, SignatureReport

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

WORDS = {
    "en": {
        "document": "Document", "policy": "Policy", "result": "Result", "signature": "Signature",
        "signer": "Signer", "issuer": "Issued by", "anchor": "Trust anchor", "claimed": "Signing time (claimed)",
        "proven": "Proven time (timestamp)", "integrity": "Integrity", "validity": "Validity",
        "intact": "intact: the signed content is unchanged", "not_intact": "NOT intact: the content changed after signing",
        "unknown": "unknown", "none": "none", "why": "Why", "rule": "Rule not met", "error": "Cannot be verified",
        "register": "Register number (số chứng thực)", "changes": "Changes after signing",
        "revocation": "Revocation checked", "algorithms": "Algorithms",
        Indication.TOTAL_PASSED: "valid (TOTAL-PASSED)", Indication.TOTAL_FAILED: "NOT valid (TOTAL-FAILED)",
        Indication.INDETERMINATE: "cannot be confirmed (INDETERMINATE)",
    },
    "vi": {
        "document": "Tài liệu", "policy": "Chính sách kiểm tra", "result": "Kết quả", "signature": "Chữ ký",
        "signer": "Người ký", "issuer": "Tổ chức cung cấp dịch vụ chứng thực", "anchor": "Chứng thư gốc tin cậy",
        "claimed": "Thời gian ký (do người ký khai)", "proven": "Thời gian ký (dấu thời gian)",
        "integrity": "Tính toàn vẹn", "validity": "Hiệu lực",
        "intact": "toàn vẹn: nội dung đã ký không bị thay đổi",
        "not_intact": "KHÔNG toàn vẹn: nội dung đã bị thay đổi sau khi ký",
        "unknown": "không xác định", "none": "không có", "why": "Lý do", "rule": "Quy tắc không đạt",
        "error": "Không thể kiểm tra", "register": "Số chứng thực", "changes": "Thay đổi sau khi ký",
        "revocation": "Kiểm tra thu hồi", "algorithms": "Thuật toán",
        Indication.TOTAL_PASSED: "hợp lệ (TOTAL-PASSED)", Indication.TOTAL_FAILED: "KHÔNG hợp lệ (TOTAL-FAILED)",
        Indication.INDETERMINATE: "chưa xác định được (INDETERMINATE)",
    },
}
LANGUAGES = tuple(WORDS)
NOT_INTACT = {"HASH_FAILURE", "SIG_CRYPTO_FAILURE"}


def render(report: DocumentReport, language: str = "en") -> str:
    if language not in WORDS:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    words = WORDS[language]
    lines = [f"{words['document']}: {report.format.upper()}, {report.size_bytes} bytes, SHA-256 {report.document_sha256[:16]}…",
             f"{words['policy']}: {report.policy}",
             f"{words['result']}: {words[report.indication]}" + _sub(report.sub_indication)]
    if report.error:
        lines.append(f"{words['error']}: {report.error}")
    if report.register_number:
        lines.append(f"{words['register']}: {report.register_number}")
    for failure in report.rule_failures:
        lines.append(f"{words['rule']}: {failure.rule}: {failure.message}")
    for index, signature in enumerate(report.signatures, start=1):
        lines.append("")
        lines.extend(_signature(index, signature, words))
    return "\n".join(lines) + "\n"


def _signature(index: int, signature: SignatureReport, words: dict) -> list[str]:
    lines = [f"{words['signature']} {index} ({signature.kind}, {signature.name}): "
             f"{words[signature.indication]}" + _sub(signature.sub_indication)]
    signer = signature.signer
    lines.append(f"  {words['signer']}: {signer.subject if signer else words['unknown']}")
    lines.append(f"  {words['issuer']}: {signer.issuer if signer else words['unknown']}")
    if signature.trust_anchor:
        lines.append(f"  {words['anchor']}: {signature.trust_anchor.subject}")
    if signature.claimed_signing_time:
        lines.append(f"  {words['claimed']}: {_time(signature.claimed_signing_time)}")
    if signature.timestamp:
        lines.append(f"  {words['proven']}: {_time(signature.timestamp.time)} ({signature.timestamp.authority})")
    broken = (signature.sub_indication is not None and signature.sub_indication.value in NOT_INTACT) \
        or signature.modifications == "other"
    lines.append(f"  {words['integrity']}: {words['not_intact'] if broken else words['intact']}")
    if signature.modifications:
        lines.append(f"  {words['changes']}: {signature.modifications}")
    lines.append(f"  {words['validity']}: {words[signature.indication]}")
    if signature.revocation:
        lines.append(f"  {words['revocation']}: " + "; ".join(
            f"{item.kind.upper()}{' ' + item.status if item.status else ''} ({item.source})" for item in signature.revocation))
    if signature.digest_algorithm or signature.signature_algorithm:
        lines.append(f"  {words['algorithms']}: {signature.signature_algorithm or ''} {signature.digest_algorithm or ''}".rstrip())
    for reason in signature.reasons:
        lines.append(f"  {words['why']}: {reason}")
    return lines


def _sub(sub_indication) -> str:
    return f" / {sub_indication.value}" if sub_indication is not None else ""


def _time(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S (UTC+7)")
