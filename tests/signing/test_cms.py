"""CMS / CAdES signatures (.p7s), detached and attached, made by `openssl cms` and by pyHanko."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from gateway.signing.report import Indication, SubIndication
from gateway.signing.testing import documents
from gateway.signing.testing.pki import TestPki

from .conftest import MakeVerifier, assert_verdict

CONTENT = "Đơn đề nghị cấp bản sao trích lục / application\n".encode() * 40
PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
S = SubIndication

Arguments = dict[str, Any]
MakeArguments = Callable[[TestPki, Path], Awaitable[Arguments]]


def openssl(signer: str = "valid", *, attached: bool = False, **options: Any) -> MakeArguments:
    """`Verifier.verify` arguments for an `openssl cms -sign` signature over CONTENT."""
    async def make(pki: TestPki, workdir: Path) -> Arguments:
        signature = documents.openssl_cms(CONTENT, pki, signer, workdir, attached=attached, **options)
        return {"data": signature} if attached else {"data": CONTENT, "signature": signature}
    return make


def signed_attribute_changed(make: MakeArguments) -> MakeArguments:
    """The signature file changed after signing: its signed signing time moved by a second, the
    signature value kept."""
    async def changed(pki: TestPki, workdir: Path) -> Arguments:
        arguments = await make(pki, workdir)
        signed_data = cms.ContentInfo.load(arguments["signature"])["content"]
        attributes = signed_data["signer_infos"][0]["signed_attrs"]
        time = next(a for a in attributes if a["type"].native == "signing_time")["values"][0].dump()
        at = arguments["signature"].index(time) + len(time) - 2  # the last digit of the seconds
        altered = bytearray(arguments["signature"])
        altered[at] = ord("0") + (altered[at] - ord("0") + 1) % 10
        return arguments | {"signature": bytes(altered)}
    return changed


def pyhanko(signer: str = "valid", *, detached: bool = True, key_of: str | None = None,
            content: bytes = CONTENT, **options: Any) -> MakeArguments:
    """`Verifier.verify` arguments for a pyHanko CAdES signature over CONTENT (then given with
    `content`, to make the detached signature and its file disagree)."""
    async def make(pki: TestPki, workdir: Path) -> Arguments:
        extra = {"signer_obj": pki.mismatched_signer(signer, key_of)} if key_of else {}
        signature = await documents.sign_cms(CONTENT, pki, signer, detached=detached, **options, **extra)
        return {"data": content, "signature": signature} if detached else {"data": signature}
    return make


@pytest.mark.parametrize(("make", "indication", "sub_indication", "says"), [
    pytest.param(openssl(), PASSED, None, None, id="openssl-detached"),
    pytest.param(openssl(attached=True), PASSED, None, None, id="openssl-attached"),
    pytest.param(openssl(cades=True), PASSED, None, None, id="openssl-cades"),
    pytest.param(openssl(pss=True), PASSED, None, None, id="openssl-rsassa-pss"),
    pytest.param(openssl("ec256", md="sha384"), PASSED, None, None, id="openssl-ecdsa-sha384"),
    pytest.param(pyhanko(content=CONTENT + b"!"), FAILED, S.HASH_FAILURE, None, id="content-altered"),
    pytest.param(openssl(md="sha1"), INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "sha1", id="sha1-digest"),
    pytest.param(pyhanko("revoked"), INDETERMINATE, S.REVOKED_NO_POE, "revoked", id="revoked"),
    pytest.param(openssl("other_leaf"), INDETERMINATE, S.NO_CERTIFICATE_CHAIN_FOUND, None, id="untrusted-root"),
    pytest.param(pyhanko("expired"), INDETERMINATE, S.OUT_OF_BOUNDS_NO_POE, "expired", id="expired"),
    pytest.param(openssl("wrong_ku"), INDETERMINATE, S.CHAIN_CONSTRAINTS_FAILURE, "key usage", id="wrong-key-usage"),
    pytest.param(pyhanko(key_of="revoked"), FAILED, S.SIG_CRYPTO_FAILURE, None, id="wrong-key"),
    pytest.param(openssl("rsa1024"), INDETERMINATE, S.CRYPTO_CONSTRAINTS_FAILURE, "1024", id="rsa-1024"),
    pytest.param(signed_attribute_changed(openssl()), FAILED, S.SIG_CRYPTO_FAILURE, None,
                 id="signature-file-modified-after-signing"),
])
async def test_verdicts(pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path, make: MakeArguments,
                        indication: Indication, sub_indication: SubIndication | None, says: str | None) -> None:
    report = await make_verifier().verify(**await make(pki, tmp_path))
    assert report.format == "cms"
    assert_verdict(report, indication, sub_indication, says)
    [signature] = report.signatures
    assert_verdict(signature, indication, sub_indication, says)
    assert (signature.kind, signature.name, signature.coverage) == ("signature", "signer 1", "the whole signed file")


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
async def test_pyhanko_cades_t_is_judged_with_its_timestamp(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path, detached: bool) -> None:
    report = await make_verifier().verify(**await pyhanko(detached=detached)(pki, tmp_path))
    assert_verdict(report, PASSED)
    [signature] = report.signatures
    assert signature.timestamp is not None and signature.timestamp.trusted
    assert signature.best_signature_time == signature.timestamp.time
    assert "Test Signer valid" in signature.signer.subject
    assert len(signature.chain) == 3 and signature.trust_anchor.subject == signature.chain[-1].subject
    assert signature.revocation and signature.digest_algorithm == "sha256"


async def test_a_detached_signature_without_its_file_is_refused(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path) -> None:
    report = await make_verifier().verify(documents.openssl_cms(CONTENT, pki, "valid", tmp_path))
    assert report.format == "cms"
    assert_verdict(report, FAILED, S.FORMAT_FAILURE, "detached signature")
    assert report.signatures == []


async def test_an_attached_signature_given_with_another_file_is_refused(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path) -> None:
    signature = documents.openssl_cms(CONTENT, pki, "valid", tmp_path, attached=True)
    report = await make_verifier().verify(CONTENT + b"changed", signature=signature)
    assert_verdict(report, FAILED, S.FORMAT_FAILURE, "differs from the file given")
    # the same file as the one inside is fine
    assert_verdict(await make_verifier().verify(CONTENT, signature=signature), PASSED)
