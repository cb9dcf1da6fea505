"""Payments without Kafka: signatures, configuration errors, references, statement reading."""

import hashlib

import pytest
import yaml

from gateway.webhooks import signing
from gateway.connectors.payment.config import PaymentProvider, load_providers
from gateway.connectors.payment.ledger import reference_for
from gateway.connectors.payment.reconcile import StatementInvalid, read_statement
from gateway.runtime.config import InvalidSettings, PartnerSettings, Settings

from .conftest import REPO


def shipped(name: str) -> dict:
    return yaml.safe_load((REPO / "deploy/payments.yaml").read_text())["partners"][name]


def test_the_dvcqg_checksum_is_sha256_of_the_pipe_joined_fields_with_the_secret_appended() -> None:
    values = {"LoaiBanTin": "QUERY", "PhienBan": "2.0.0", "MaDoiTac": "H12", "MaThamChieu": "GW1", "SoTien": 70000}
    fields = ["LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD", "SoTien"]
    expected = hashlib.sha256("QUERY|2.0.0|H12|GW1||70000|s3cret".encode()).hexdigest()
    assert signing.checksum(values, fields, "s3cret") == expected  # an absent field is empty


def test_the_hmac_covers_timestamp_and_exact_bytes() -> None:
    signature = signing.hmac_signature("k", "1700000000", b'{"a":1}')
    assert signing.same(signature, signing.hmac_signature("k", "1700000000", b'{"a":1}'))
    assert not signing.same(signature, signing.hmac_signature("k", "1700000001", b'{"a":1}'))
    assert not signing.same(signature, signing.hmac_signature("k", "1700000000", b'{"a": 1}'))
    assert not signing.same(None, signature) and not signing.same(signature[:-1], signature)


def test_same_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever differs, the whole of both values goes to hmac.compare_digest (no early `==`)."""
    seen = []
    monkeypatch.setattr(signing.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or a == b)
    assert not signing.same("x" + "a" * 63, "b" * 64)
    assert not signing.same("b" * 63 + "x", "b" * 64)
    assert seen == [(b"x" + b"a" * 63, b"b" * 64), (b"b" * 63 + b"x", b"b" * 64)]


def test_the_reference_is_one_per_status_step() -> None:
    first = reference_for("000.00.15.H12-261123-0001:status:3")
    assert first == reference_for("000.00.15.H12-261123-0001:status:3")
    assert first != reference_for("000.00.15.H12-261123-0001:status:4")  # a new assessment, a new attempt
    assert len(first) == 20 and first.isalnum()


def test_the_shipped_providers_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAYMENT_DVCQG_SECRET", "PAYMENT_BANK_SECRET", "PAYMENT_POST_OFFICE_SECRET"):
        monkeypatch.setenv(name, "generated")
    partners = yaml.safe_load((REPO / "deploy/payments.yaml").read_text())["partners"]
    providers = load_providers(Settings(partners=partners))
    assert sorted(providers) == ["payment_bank", "payment_dvcqg", "payment_post_office"]
    assert [name for name, provider in providers.items() if provider.options.default] == ["payment_dvcqg"]


@pytest.mark.parametrize(("change", "expected"), [
    (lambda p: p["options"]["signature"]["fields"].pop("answer"), "signature.fields for answer"),
    (lambda p: p["options"]["answer"]["codes"].pop("replayed"), "missing: replayed"),
    (lambda p: p["options"]["operations"]["create"].pop("spec"), "a POST needs a spec"),
    (lambda p: p["options"]["operations"]["create"].update(spec="nowhere.mapping.yaml"), "no such file"),
    (lambda p: p.update(mapping="no_such_folder"), "no spec folder no_such_folder"),
    (lambda p: p["credentials"].update(secret="NOT_SET_ANYWHERE"), "NOT_SET_ANYWHERE, which is not set"),
    (lambda p: p["options"].update(kind="cheque"), "options.kind"),
    (lambda p: p["options"].update(payment_ttl_s=5 * 86400), "must be at least payment_ttl_s"),
])
def test_a_bad_provider_entry_stops_start_up_naming_the_setting(monkeypatch, change, expected) -> None:
    monkeypatch.setenv("PAYMENT_DVCQG_SECRET", "generated")
    partner = shipped("payment_dvcqg")
    change(partner)
    with pytest.raises(InvalidSettings) as error:
        PaymentProvider("payment_dvcqg", PartnerSettings(**partner))
    assert expected in str(error.value)


def test_two_default_providers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_DVCQG_SECRET", "generated")
    monkeypatch.setenv("PAYMENT_BANK_SECRET", "generated")
    bank = shipped("payment_bank")
    bank["options"]["default"] = True
    with pytest.raises(InvalidSettings, match="only one payment provider may set options.default"):
        load_providers(Settings(partners={"payment_dvcqg": shipped("payment_dvcqg"), "payment_bank": bank}))


def test_a_statement_is_read_as_configured_and_every_bad_row_is_named() -> None:
    statement = PaymentProvider("payment_post_office", PartnerSettings(**shipped("payment_post_office")),
                                needs_secret=False).options.statement
    lines = read_statement("\ufeffMaGiaoDich,MaDonHang,SoTienThu,ThoiGianThu,BuuCuc\n"
                           "VNP1,GW1,70.000,23/11/2026 21:27:03,700000\n", statement)
    assert (lines[0].reference, lines[0].amount, lines[0].transaction_id) == ("GW1", 70000, "VNP1")
    amounts = read_statement("MaGiaoDich,MaDonHang,SoTienThu,ThoiGianThu\nV1,G1,70000,\nV2,G2,70.000,\n"
                             "V3,G3,\"1,234,000\",\nV4,G4,150000.00,\n", statement)
    assert [line.amount for line in amounts] == [70000, 70000, 1234000, 150000]
    assert lines[0].paid_at.isoformat() == "2026-11-23T21:27:03+07:00"
    with pytest.raises(StatementInvalid) as error:
        read_statement("MaGiaoDich,MaDonHang,SoTienThu,ThoiGianThu\nV1,,1,23/11/2026 10:00:00\n"
                       "V2,GW2,70.5,23/11/2026 10:00:00\nV3,GW3,5,yesterday\n", statement)
    assert "line 2: no reference" in str(error.value) and "line 3" in str(error.value) \
        and "line 4" in str(error.value)
    with pytest.raises(StatementInvalid, match="no column SoTienThu"):
        read_statement("MaGiaoDich,MaDonHang\nV1,GW1\n", statement)


def test_blank_fields_of_a_provider_are_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from gateway.connectors.payment.client import PaymentClient

    provider = PaymentProvider("payment_post_office", PartnerSettings(**shipped("payment_post_office")),
                               needs_secret=False)
    client = PaymentClient(provider, "http://127.0.0.1:9", httpx.AsyncClient())
    pending = client.read({"MaDonHang": "GW1", "TrangThai": "0", "SoTienThu": 70000, "MaGiaoDich": "",
                           "ThoiGianThu": " "}, "confirmation")
    assert pending == {"ok": True, "reference": "GW1", "outcome": "pending", "amount": 70000, "currency": "VND"}
