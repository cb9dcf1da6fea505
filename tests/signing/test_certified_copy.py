"""Electronic certified copies (policy "certified_copy"): a valid certification signature by a
configured certifying office, unchanged since, with its register number (số chứng thực)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.signing.report import Indication, SubIndication
from gateway.signing.testing import documents
from gateway.signing.testing.pki import CERTIFIER_ORGANIZATION, CERTIFIER_POLICY_OID, TestPki

from .conftest import MakeVerifier, assert_verdict

PLAIN = documents.plain_pdf("Bản sao chứng thực từ bản chính / certified copy")
REGISTER = "Số chứng thực: 123/2026/SCT-BS"
PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
S = SubIndication

BY_POLICY = {"authorities": [{"policy_oid": CERTIFIER_POLICY_OID}]}
BY_NAME = {"authorities": [{"issuer": "Test Intermediate CA", "subject": {"O": CERTIFIER_ORGANIZATION}}]}
AUTHORITY_CONFIGS = [pytest.param(BY_POLICY, id="authority-by-policy"),
                     pytest.param(BY_NAME, id="authority-by-issuer-and-subject")]


def rules(report) -> list[str]:
    return [failure.rule for failure in report.rule_failures]


async def certified(pki: TestPki, signer: str = "certifier", **options: Any) -> bytes:
    options.setdefault("reason", REGISTER)
    return await documents.sign_pdf(PLAIN, pki, signer, certify=True, **options)


@pytest.mark.parametrize("authorities", AUTHORITY_CONFIGS)
async def test_certified_copy_from_a_certifying_office_passes(
        pki: TestPki, make_verifier: MakeVerifier, authorities: dict) -> None:
    verifier = make_verifier(certified_copy=authorities)
    report = await verifier.verify(await certified(pki), policy="certified_copy")
    assert_verdict(report, PASSED)
    assert (report.policy, report.register_number, report.rule_failures) == ("certified_copy", "123/2026/SCT-BS", [])
    [signature] = report.signatures
    assert (signature.kind, signature.certification_level, signature.reason) == (
        "certification", "no_changes", REGISTER)


@pytest.mark.parametrize("authorities", AUTHORITY_CONFIGS)
async def test_a_signer_who_is_no_certifying_office_is_refused(
        pki: TestPki, make_verifier: MakeVerifier, authorities: dict) -> None:
    verifier = make_verifier(certified_copy=authorities)
    report = await verifier.verify(await certified(pki, "valid"), policy="certified_copy")
    assert_verdict(report, INDETERMINATE, S.CHAIN_CONSTRAINTS_FAILURE, "Test Signer valid")
    assert rules(report) == ["certified_copy.signer"]
    assert report.signatures[0].indication is PASSED  # the signature itself is good
    # the same document under the plain signature policy is fine
    assert_verdict(await verifier.verify(await certified(pki, "valid")), PASSED)


@pytest.mark.parametrize(("required", "indication", "sub_indication", "failed_rules"), [
    (True, INDETERMINATE, S.SIG_CONSTRAINTS_FAILURE, ["certified_copy.register_number"]),
    (False, PASSED, None, []),
])
async def test_register_number(pki: TestPki, make_verifier: MakeVerifier, required: bool,
                               indication: Indication, sub_indication: SubIndication | None,
                               failed_rules: list[str]) -> None:
    verifier = make_verifier(certified_copy={**BY_POLICY, "register_number_required": required})
    report = await verifier.verify(await certified(pki, reason=None), policy="certified_copy")
    assert_verdict(report, indication, sub_indication, "số chứng thực" if required else None)
    assert (rules(report), report.register_number) == (failed_rules, None)


@pytest.mark.parametrize(("change", "failed_rules"), [
    pytest.param(documents.modify_after_signing, ["certified_copy.unchanged"], id="content-replaced"),
    # pyHanko 0.38 classifies a sticky-note annotation as OTHER, not ANNOTATIONS
    pytest.param(documents.add_annotation_after_signing, ["certified_copy.unchanged"], id="annotation-added"),
])
async def test_a_copy_changed_after_certification_fails(
        pki: TestPki, make_verifier: MakeVerifier, change: Callable[[bytes], bytes], failed_rules: list[str]) -> None:
    report = await make_verifier(certified_copy=BY_POLICY).verify(change(await certified(pki)), policy="certified_copy")
    assert_verdict(report, FAILED, S.FORMAT_FAILURE, "changed after")
    assert rules(report) == failed_rules
    assert report.signatures[0].modifications == "other"


async def test_a_document_timestamp_after_certification_is_no_change(
        pki: TestPki, make_verifier: MakeVerifier) -> None:
    pdf = await documents.add_document_timestamp(await certified(pki), pki)
    report = await make_verifier(certified_copy=BY_POLICY).verify(pdf, policy="certified_copy")
    assert_verdict(report, PASSED)
    assert (report.register_number, report.rule_failures) == ("123/2026/SCT-BS", [])
    assert [s.kind for s in report.signatures] == ["certification", "document_timestamp"]


@pytest.mark.parametrize("shape", ["xml", "cms"])
async def test_only_a_pdf_can_be_a_certified_copy(
        pki: TestPki, make_verifier: MakeVerifier, tmp_path: Path, shape: str) -> None:
    content = documents.sample_eform()
    if shape == "xml":
        arguments: dict[str, Any] = {"data": documents.xmlsec1_sign(content, pki, "certifier", tmp_path)}
    else:
        arguments = {"data": content, "signature": documents.openssl_cms(content, pki, "certifier", tmp_path)}
    report = await make_verifier(certified_copy=BY_POLICY).verify(**arguments, policy="certified_copy")
    assert report.format == shape
    assert_verdict(report, FAILED, S.FORMAT_FAILURE, "signed PDF")
    assert rules(report) == ["certified_copy.format"]
    assert [s.indication for s in report.signatures] == [PASSED]  # the signature itself is good
