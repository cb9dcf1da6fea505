"""The one-stop system simulator (một cửa điện tử): realistic dossiers, submitted through the
gateway's intake the way a provincial one-stop system would."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from gateway.domain import (
    Applicant,
    ApplicantKind,
    Dossier,
    DossierDocument,
    DossierStatus,
    DossierStatusChanged,
    DossierSubmitted,
    Fee,
    FeeKind,
    PostalAddress,
    PostalChoice,
    StatusChange,
)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
INTAKE_PATH = "/api/v1/dossiers/events"

# Sample procedures (thủ tục hành chính) with their sector; codes follow the national
# procedure database's numbering style but are examples, not a reference.
PROCEDURES = (
    ("1.001193", "Đăng ký khai sinh", "HT", "Hộ tịch", 0),
    ("1.000894", "Đăng ký kết hôn", "HT", "Hộ tịch", 0),
    ("2.000908", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", "LLTP", "Lý lịch tư pháp", 200_000),
    ("1.004227", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "XD", "Hoạt động xây dựng", 75_000),
    ("2.001035", "Đăng ký thành lập hộ kinh doanh", "DKKD", "Thành lập và hoạt động của hộ kinh doanh", 100_000),
    ("1.002809", "Cấp đổi giấy phép lái xe", "DB", "Đường bộ", 135_000),
    ("1.004873", "Chứng thực bản sao từ bản chính giấy tờ", "CT", "Chứng thực", 2_000),
)
AGENCIES = ("000.00.15.H12", "000.00.21.H12", "000.07.31.H12", "000.11.40.H12")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Thu")
GIVEN = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hùng", "Lan", "Linh", "Nam", "Phương", "Quân", "Tâm", "Yến")
STREETS = ("Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt", "Phan Chu Trinh")
WARDS = ("Phường Phú Hội", "Phường Vĩnh Ninh", "Xã Hương Vinh", "Phường Thuận Hòa", "Xã Phú Mậu")
CHANNELS = ("online", "counter", "postal")
# Districts of Thừa Thiên Huế (province 46) by their administrative codes, for postal addresses.
DISTRICTS = ("474", "476", "477", "478", "479", "480", "481")
RESULT_BY_POST_RATE = 0.25  # of dossiers not handed in by post, those whose result goes home by post
# What the agency does with a dossier until it is processed (status 9): received, processing, processed.
PROCESSING_STEPS = (DossierStatus.ACCEPTED, DossierStatus.PROCESSING, DossierStatus.PROCESSED)


class OneGateSimulator:
    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._run = self._random.randint(100, 999)

    def dossier(self, number: int) -> Dossier:
        pick = self._random.choice
        code, name, sector_code, sector_name, fee = pick(PROCEDURES)
        agency = pick(AGENCIES)
        received = datetime.now(VIETNAM).replace(microsecond=0)
        full_name = f"{pick(FAMILY)} {pick(MIDDLE)} {pick(GIVEN)}"
        phone = f"09{self._random.randint(0, 99_999_999):08d}"
        address = f"{self._random.randint(1, 300)} {pick(STREETS)}, {pick(WARDS)}, Thành phố Huế"
        channel = pick(CHANNELS)
        return Dossier(
            code=f"{agency}-{received:%y%m%d}-{self._run}{number:05d}",
            procedure_code=code,
            procedure_name=name,
            sector_code=sector_code,
            sector_name=sector_name,
            agency_code=agency,
            applicant=Applicant(
                full_name=full_name,
                kind=ApplicantKind.CITIZEN,
                id_number=f"0{self._random.randint(10, 96):02d}{self._random.randint(0, 999_999_999):09d}",
                phone=phone,
                email=None,
                address=address,
            ),
            summary=f"{name} cho {full_name}",
            channel=channel,
            received_at=received.astimezone(UTC),
            due_at=(received + timedelta(days=self._random.choice((1, 3, 5, 10)))).astimezone(UTC),
            online_payment=fee > 0,
            documents=(DossierDocument(name="Tờ khai (declaration form)", code="TK01"),),
            fees=(Fee(code="LP01", name="Lệ phí", amount_vnd=fee, kind=FeeKind.CHARGE),) if fee else (),
            postal=self._postal_choice(channel, full_name, phone, address),
        )

    def _postal_choice(self, channel: str, full_name: str, phone: str, address: str) -> PostalChoice | None:
        """Postal submission (channel postal) brings the result home by post too; some others ask for that alone."""
        by_post = channel == "postal"
        if not by_post and self._random.random() >= RESULT_BY_POST_RATE:
            return None
        home = PostalAddress(name=full_name, address=address, phone=phone, province_code="46",
                             district_code=self._random.choice(DISTRICTS))
        return PostalChoice(pick_up_from=home if by_post else None, return_to=home)

    def processing(self, dossier: Dossier) -> list[DossierStatusChanged]:
        """The agency's steps up to processed (status 9), one second apart."""
        start = datetime.now(UTC)
        return [DossierStatusChanged(status_change=StatusChange(
            dossier_code=dossier.code, sequence=number, status=status, changed_at=start + timedelta(seconds=number),
            handler_name="Lê Văn Tâm", department="Bộ phận một cửa"))
            for number, status in enumerate(PROCESSING_STEPS, start=1)]

    async def submit(self, client: httpx.AsyncClient, dossier: Dossier) -> httpx.Response:
        event = DossierSubmitted(dossier=dossier)
        return await client.post(INTAKE_PATH, json=event.model_dump(mode="json"),
                                 headers={"Idempotency-Key": f"onegate-{dossier.code}-submitted"})

    async def report(self, client: httpx.AsyncClient, step: DossierStatusChanged) -> httpx.Response:
        change = step.status_change
        return await client.post(INTAKE_PATH, json=step.model_dump(mode="json"),
                                 headers={"Idempotency-Key": f"onegate-{change.dossier_code}-{change.sequence}"})
