"""The dossier (hồ sơ) and what happens to it, in the gateway's own words.

Partner field names (MaHoSo, TrangThaiHoSo, ...) appear only in descriptions here; turning
these models into a partner's format is the job of the mapping specs.
"""

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

DossierCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9.\-_/]+$"),
    Field(description="Dossier code (MaHoSo), carrying the receiving agency's identifier prefix"),
]


MAX_AMOUNT_VND = 10**13  # ten trillion đồng: far above any fee, far below what a database integer holds


class CanonicalModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DossierStatus(IntEnum):
    """Dossier status codes of the National Public Service Portal (TrangThaiHoSo 1-10)."""

    NEW = 1  # Mới đăng ký
    ACCEPTED = 2  # Được tiếp nhận
    REFUSED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT_REQUESTED = 5  # Yêu cầu bổ sung giấy tờ
    PAYMENT_REQUIRED = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7  # Công dân yêu cầu rút hồ sơ
    STOPPED = 8  # Dừng xử lý
    PROCESSED = 9  # Đã xử lý xong
    RESULT_RETURNED = 10  # Đã trả kết quả


class ApplicantKind(IntEnum):
    """Who submits the dossier (LoaiDoiTuong)."""

    CITIZEN = 1
    BUSINESS = 2
    STATE_AGENCY = 3
    OTHER = 4


class FeeKind(StrEnum):
    """Fee (phí) or charge (lệ phí)."""

    FEE = "fee"
    CHARGE = "charge"


class Applicant(CanonicalModel):
    """The dossier owner (chủ hồ sơ)."""

    full_name: str = Field(min_length=1, max_length=200, description="ChuHoSo")
    kind: ApplicantKind = Field(default=ApplicantKind.CITIZEN, description="LoaiDoiTuong")
    id_number: str | None = Field(
        default=None, max_length=30, description="Citizen ID or business code (SoGiayToChuHoSo)"
    )
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=20, description="SoDienThoai")
    address: str | None = Field(default=None, max_length=500)


class DossierDocument(CanonicalModel):
    """A document submitted with the dossier (tài liệu nộp)."""

    name: str = Field(min_length=1, max_length=500)
    code: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    signature_url: str | None = Field(default=None, max_length=2000,
                                      description="A detached CMS signature (.p7s) of the document, when it has one")
    certified_copy: bool = Field(default=False, description="An electronic certified copy (bản sao điện tử chứng "
                                                            "thực): verified under the certified-copy policy")


class Fee(CanonicalModel):
    """A fee or charge due for the procedure (DanhSachLePhi)."""

    code: str = Field(min_length=1, max_length=50, description="MaPhiLePhi")
    name: str = Field(min_length=1, max_length=500, description="TenPhiLePhi")
    amount_vnd: int = Field(ge=0, le=MAX_AMOUNT_VND, description="Amount in đồng (VND has no minor unit)")
    kind: FeeKind = FeeKind.CHARGE


class PostalAddress(CanonicalModel):
    """Where the post collects or delivers (địa chỉ bưu chính), with the administrative codes
    the postal service prices and routes by."""

    name: str = Field(min_length=1, max_length=200, description="Who hands over or receives the parcel")
    address: str = Field(min_length=1, max_length=500, description="Street address")
    phone: str = Field(min_length=9, max_length=20,
                       description="Phone the postman calls (SoDienThoai); kept as a national number of 9 to 11 digits "
                                   "(0912 345 678 and +84 912 345 678 become 0912345678)")
    email: str | None = Field(default=None, max_length=200)
    province_code: str = Field(pattern=r"^[0-9]{2}$", description="Province code (MaTinh), 2 digits")
    district_code: str = Field(pattern=r"^[0-9]{3}$", description="District code (MaHuyen), 3 digits")

    @field_validator("phone")
    @classmethod
    def _national_number(cls, value: str) -> str:
        digits = "".join(character for character in value if character.isdigit())
        if value.strip().startswith("+84"):
            digits = "0" + digits[2:]
        if not 9 <= len(digits) <= 11 or not digits.startswith("0"):
            raise ValueError(f"{value!r} is not a Vietnamese phone number (9 to 11 digits starting 0, or +84)")
        return digits


class PostalChoice(CanonicalModel):
    """The applicant chose the public postal service (dịch vụ bưu chính công ích): to hand the
    dossier over at home (nộp hồ sơ qua bưu chính), to receive the result at home (nhận kết quả
    qua bưu chính), or both."""

    pick_up_from: PostalAddress | None = Field(default=None, description="Collect the dossier here")
    return_to: PostalAddress | None = Field(default=None, description="Deliver the result here once processed")
    collect_on_delivery_vnd: int = Field(
        default=0, ge=0, le=100_000_000,
        description="Fees the postman collects from the applicant on delivering the result (CODAmount)")
    carrier: str | None = Field(
        default=None, max_length=100, pattern=r"^[a-z0-9_]+$",
        description="The postal partner (a partner name); empty: the configured default")

    @model_validator(mode="after")
    def _something_to_carry(self) -> "PostalChoice":
        if self.pick_up_from is None and self.return_to is None:
            raise ValueError("a postal choice needs pick_up_from, return_to or both")
        return self


class Dossier(CanonicalModel):
    """A dossier received by the provincial one-stop system."""

    code: DossierCode
    procedure_code: str = Field(min_length=1, max_length=100, description="MaTTHC")
    procedure_name: str = Field(min_length=1, max_length=1000, description="TenTTHC")
    sector_code: str | None = Field(default=None, max_length=100, description="MaLinhVuc")
    sector_name: str | None = Field(default=None, max_length=500, description="TenLinhVuc")
    agency_code: str = Field(min_length=1, max_length=100, description="Receiving agency (DonViXuLy)")
    applicant: Applicant
    summary: str | None = Field(
        default=None, max_length=4000,
        description="TrichYeuHoSo. Partners with a shorter limit (DVCQG: 1000) get it truncated by their mapping",
    )
    channel: str = Field(default="online", max_length=30, description="KenhThucHien")
    status: DossierStatus = DossierStatus.NEW
    received_at: AwareDatetime = Field(description="NgayTiepNhan")
    due_at: AwareDatetime | None = Field(default=None, description="NgayHenTra")
    online_payment: bool = Field(default=False, description="DuocThanhToanTrucTuyen")
    documents: tuple[DossierDocument, ...] = ()
    fees: tuple[Fee, ...] = ()
    postal: PostalChoice | None = Field(default=None, description="Pick-up and/or return by post, when chosen")


class SupplementRequest(CanonicalModel):
    """What the agency asks the applicant to add (yêu cầu bổ sung giấy tờ), with status 5."""

    requested_documents: tuple[Annotated[str, StringConstraints(min_length=1, max_length=500)], ...] = Field(
        min_length=1, description="The documents to add")
    reason: str | None = Field(default=None, max_length=1000, description="Why they are needed")
    deadline: AwareDatetime | None = Field(default=None, description="By when")


class FeeAssessment(CanonicalModel):
    """What the applicant must pay (nghĩa vụ tài chính), with status 6 (payment required)."""

    fees: tuple[Fee, ...] = Field(min_length=1, description="The fees and charges due (DanhSachLePhi)")
    provider: str | None = Field(
        default=None, max_length=100, pattern=r"^[a-z0-9_]+$",
        description="The payment provider the applicant chose (a partner name); empty: the configured default")
    payer_name: str | None = Field(default=None, max_length=200, description="Who pays (HoTenNguoiNop)")
    # For the receipt (biên lai): the status change alone does not say what the dossier is.
    procedure_code: str | None = Field(default=None, max_length=100, description="MaTTHC")
    procedure_name: str | None = Field(default=None, max_length=1000, description="TenTTHC")
    agency_code: str | None = Field(default=None, max_length=100, description="The collecting agency (MaDonVi)")

    @model_validator(mode="after")
    def _something_to_pay(self) -> "FeeAssessment":
        if not 0 < self.total_vnd <= MAX_AMOUNT_VND:
            raise ValueError(f"the fees must add up to more than 0 and at most {MAX_AMOUNT_VND} đồng, "
                             f"not {self.total_vnd}")
        return self

    @property
    def total_vnd(self) -> int:
        return sum(fee.amount_vnd for fee in self.fees)


class StatusChange(CanonicalModel):
    """One step of processing (tiến độ xử lý). `sequence` orders steps and keys idempotency."""

    dossier_code: DossierCode
    sequence: int = Field(ge=1, description="1, 2, 3 ... per dossier; with the code, the idempotency key")
    status: DossierStatus
    changed_at: AwareDatetime = Field(description="ThoiDiemXuLy")
    handler_name: str | None = Field(default=None, max_length=50, description="NguoiXuLy")
    handler_title: str | None = Field(default=None, max_length=200, description="ChucDanh")
    department: str | None = Field(default=None, max_length=300, description="PhongBanXuLy")
    note: str | None = Field(default=None, max_length=2000, description="NoiDungXuLy")
    due_at: datetime | None = Field(default=None, description="NgayKetThucTheoQuyDinh")
    supplement: SupplementRequest | None = Field(
        default=None, description="With status 5 (supplement requested): what the applicant must add")
    fee_assessment: FeeAssessment | None = Field(
        default=None, description="With status 6 (payment required): the fees to pay online, and where")
    reported_by: str | None = Field(
        default=None, max_length=100, pattern=r"^[a-z0-9_]+$",
        description="Empty: a step of the one-stop system. Else the partner (a ministry service) that reported it; "
                    "its sequence then counts that partner's reports, not the one-stop system's steps")
