"""PDF signatures (PAdES) through `Verifier`: every ETSI verdict the gateway must tell apart, the
report's facts, proof of existence by timestamps, changes after signing and the revocation cache."""

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.signing.report import Indication, SubIndication
from gateway.signing.testing import documents
from gateway.signing.testing.pki import TestPki

from .conftest import MakeVerifier, assert_verdict

PLAIN = documents.plain_pdf()
PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
S = SubIndication

MakePdf = Callable[[TestPki], Awaitable[bytes]]


def signed(signer: str = "valid", *, key_of: str | None = None,
           then: Callable[[bytes], bytes] | None = None, **options: Any) -> MakePdf:
    """A maker of PLAIN signed by the leaf `signer` (with the key of `key_of` when given: the
    wrong-key case), transformed by `then` after signing."""
    async def make(pki: TestPki) -> bytes:
        extra = {"signer_obj": pki.mismatched_signer(signer, key_of)} if key_of else {}
        pdf = await documents.sign_pdf(PLAIN, pki, signer, **options, **extra)
        return then(pdf) if then else pdf
    return make


@pytest.mark.parametrize(("make", "settings", "indication", "sub_indication", "says"), [
    pytest.param(signed(timestamp=False), {}, PASSED, None, None, id="valid-without-timestamp"),
    pytest.param(signed(timestamp=False), {"require_timestamp": True},
                 INDETERMINATE, S.SIG_CONSTRAINTS_FAILURE, "requires a signature timestamp",
                 id="timestamp-required"),
    pytest.param(signed(then=documents.flip_signed_byte), {}, FAILED, S.HASH_FAILURE, None, id="signed-byte-flipped"),
    pytest.param(signed(key_of="revoked"), {}, FAILED, S.SIG_CRYPTO_FAILURE, None, id="wrong-key"),
    pytest.param(signed("other_leaf"), {}, INDETERMINATE, S.NO_CERTIFICATE_CHAIN_FOUND, None, id="untrusted-root"),
    pytest.param(signed("revoked"), {}, INDETERMINATE, S.REVOKED_NO_POE, "revoked", id="revoked"),
    pytest.param(signed("expired"), {}, INDETERMINATE, S.OUT_OF_BOUNDS_NO_POE, "expired", id="expired"),
    pytest.param(signed("wrong_ku"), {}, INDETERMINATE, S.CHAIN_CONSTRAINTS_FAILURE, "key usage", id="wrong-key-usage"),
    pytest.param(signed("rsa1024"), {}, INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "1024", id="rsa-1024"),
    pytest.param(signed("ec192"), {}, INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "192", id="ec-p192"),
    pytest.param(signed(md_algorithm="sha1"), {}, INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "sha1",
                 id="sha1-digest"),
    pytest.param(signed("sha1cert"), {}, INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "sha1",
                 id="sha1-certificate"),
    pytest.param(signed("no_revinfo"), {}, INDETERMINATE, S.TRY_LATER, "revocation status", id="no-revocation-info"),
    pytest.param(signed(then=documents.modify_after_signing), {}, FAILED, S.FORMAT_FAILURE,
                 "changed after this signature", id="modified-after-approval"),
    pytest.param(signed(certify=True, then=documents.modify_after_signing), {}, FAILED, S.FORMAT_FAILURE,
                 "changed after this signature", id="modified-after-certification"),
])
async def test_verdicts(pki: TestPki, make_verifier: MakeVerifier, make: MakePdf, settings: dict,
                        indication: Indication, sub_indication: SubIndication | None, says: str | None) -> None:
    report = await make_verifier(**settings).verify(await make(pki))
    assert report.format == "pdf"
    assert_verdict(report, indication, sub_indication, says)
    assert len(report.signatures) == 1
    assert_verdict(report.signatures[0], indication, sub_indication, says)


async def test_valid_timestamped_signature_report(pki: TestPki, make_verifier: MakeVerifier) -> None:
    pdf = await documents.sign_pdf(PLAIN, pki, "valid", reason="Đồng ý")
    report = await make_verifier().verify(pdf)
    assert_verdict(report, PASSED)
    assert (report.policy, report.size_bytes, report.rule_failures, report.error) == ("signature", len(pdf), [], None)
    [signature] = report.signatures
    assert (signature.kind, signature.name, signature.reason) == ("signature", "Signature1", "Đồng ý")
    assert "valid" in signature.signer.subject
    assert signature.signer.sha256 == pki.leaves["valid"].asn1_cert.sha256.hex()
    assert [c.sha256 for c in signature.chain] == [
        issued.asn1_cert.sha256.hex() for issued in (pki.leaves["valid"], pki.inter, pki.root)]
    assert signature.trust_anchor == signature.chain[-1]
    assert signature.timestamp is not None and signature.timestamp.trusted and signature.timestamp.intact
    assert "Test TSA" in signature.timestamp.authority
    assert signature.best_signature_time == signature.timestamp.time
    assert signature.revocation, "the report must show the revocation evidence used"
    assert {evidence.source for evidence in signature.revocation} == {"fetched"}
    assert (signature.digest_algorithm, signature.coverage, signature.modifications) == (
        "sha256", "entire_file", "none")
    assert signature.certification_level is None


async def test_without_timestamp_the_best_time_is_the_validation_time(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    report = await make_verifier().verify(await documents.sign_pdf(PLAIN, pki, timestamp=False))
    assert_verdict(report, PASSED)
    [signature] = report.signatures
    assert signature.timestamp is None
    assert abs(signature.best_signature_time - report.validation_time) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(("signer", "proven_at"), [
    pytest.param("revoked", lambda pki: pki.now - dt.timedelta(days=1), id="revoked-later"),
    pytest.param("expired", lambda pki: pki.leaves["expired"].cert.not_valid_after_utc - dt.timedelta(days=100),
                 id="expired-later"),
])
async def test_timestamp_proves_the_signature_existed_while_the_certificate_was_good(
        pki: TestPki, make_verifier: MakeVerifier, signer: str, proven_at: Callable[[TestPki], dt.datetime]) -> None:
    """A signature time-stamped before its certificate was revoked, or while it was valid,
    passes (ETSI EN 319 102-1 validation with time)."""
    time = proven_at(pki)
    assert pki.leaves[signer].cert.not_valid_before_utc < time
    pki.tsa_time = time
    try:
        pdf = await documents.sign_pdf(PLAIN, pki, signer)
    finally:
        pki.tsa_time = None
    report = await make_verifier().verify(pdf)
    assert_verdict(report, PASSED)
    assert report.signatures[0].best_signature_time == time


async def test_unreachable_revocation_services_mean_try_later(pki: TestPki, make_verifier: MakeVerifier) -> None:
    pdf = await documents.sign_pdf(PLAIN, pki, timestamp=False)
    pki.revocation_down = True
    try:
        report = await make_verifier().verify(pdf)  # a fresh verifier: nothing cached
    finally:
        pki.revocation_down = False
    assert_verdict(report, INDETERMINATE, S.TRY_LATER, "revocation status")


async def test_document_timestamp_after_a_signature_is_an_accepted_update(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    pdf = await documents.add_document_timestamp(await documents.sign_pdf(PLAIN, pki), pki)
    report = await make_verifier().verify(pdf)
    assert_verdict(report, PASSED)
    signature, timestamp = report.signatures
    assert (signature.kind, signature.modifications, signature.indication) == ("signature", "lta_updates", PASSED)
    assert (timestamp.kind, timestamp.modifications, timestamp.indication) == ("document_timestamp", "none", PASSED)
    assert "Test TSA" in timestamp.signer.subject


async def test_lta_document_verifies_from_its_own_validation_data(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    pdf = await documents.sign_pdf(PLAIN, pki, lta=True)
    hits = pki.ocsp_hits + pki.crl_hits
    report = await make_verifier(fetch_revocation=False).verify(pdf)
    assert_verdict(report, PASSED)
    assert pki.ocsp_hits + pki.crl_hits == hits, "nothing may be fetched when fetch_revocation is off"
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    evidence = [item for signature in report.signatures for item in signature.revocation]
    assert evidence and {item.source for item in evidence} == {"embedded"}


@pytest.mark.parametrize(("cache_s", "fetching_verifications"), [(300, 1), (0, 3)])
async def test_revocation_cache(pki: TestPki, make_verifier: MakeVerifier, cache_s: float,
                                fetching_verifications: int) -> None:
    pdf = await documents.sign_pdf(PLAIN, pki)
    verifier = make_verifier(revocation_cache_s=cache_s)
    fetched = []
    for _ in range(3):
        before = pki.ocsp_hits + pki.crl_hits
        assert_verdict(await verifier.verify(pdf), PASSED)
        fetched.append(pki.ocsp_hits + pki.crl_hits - before)
    assert [count > 0 for count in fetched] == [True] * fetching_verifications + [False] * (3 - fetching_verifications)
