"""The one-stop system simulator (một cửa điện tử): realistic dossiers, submitted through the
gateway's intake the way a provincial one-stop system would."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from gateway.domain import Applicant, ApplicantKind, Dossier, DossierDocument, DossierSubmitted, Fee, FeeKind

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
                phone=f"09{self._random.randint(0, 99_999_999):08d}",
                email=None,
                address=f"{self._random.randint(1, 300)} {pick(STREETS)}, {pick(WARDS)}, Thành phố Huế",
            ),
            summary=f"{name} cho {full_name}",
            channel=pick(CHANNELS),
            received_at=received.astimezone(UTC),
            due_at=(received + timedelta(days=self._random.choice((1, 3, 5, 10)))).astimezone(UTC),
            online_payment=fee > 0,
            documents=(DossierDocument(name="Tờ khai (declaration form)", code="TK01"),),
            fees=(Fee(code="LP01", name="Lệ phí", amount_vnd=fee, kind=FeeKind.CHARGE),) if fee else (),
        )

    async def submit(self, client: httpx.AsyncClient, dossier: Dossier) -> httpx.Response:
        event = DossierSubmitted(dossier=dossier)
        return await client.post(INTAKE_PATH, json=event.model_dump(mode="json"),
                                 headers={"Idempotency-Key": f"onegate-{dossier.code}-submitted"})
