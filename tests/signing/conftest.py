"""Shared by the signature tests: one test PKI (with its OCSP, CRL and TSA services) for the whole
session, its trust store, verifiers closed after each test, and the assertion every verdict test
makes.

A `Verifier` belongs to the event loop it first fetched revocation data in, so tests make their
own with `make_verifier` (each test has its own loop) instead of sharing one.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.signing.report import DocumentReport, Indication, SignatureReport
from gateway.signing.settings import SigningSettings
from gateway.signing.testing.pki import TestPki, running_pki
from gateway.signing.trust import TrustStore
from gateway.signing.verifier import Verifier

MakeVerifier = Callable[..., Verifier]


@pytest.fixture(scope="session")
def pki() -> Iterator[TestPki]:
    with running_pki() as generated:
        yield generated


@pytest.fixture(scope="session")
def pki_files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root.pem, inter.pem, LABEL.pem / LABEL.key ... (see TestPki.write)."""
    return pki.write(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def trust(pki: TestPki) -> TrustStore:
    """The test root as the only trust anchor."""
    return TrustStore(anchors=(pki.root.asn1_cert,), sources=("test",))


@pytest.fixture
async def make_verifier(trust: TrustStore) -> AsyncIterator[MakeVerifier]:
    """`make_verifier(**signing_settings)`: a Verifier trusting the test root, closed after the test."""
    made: list[Verifier] = []

    def make(**settings: Any) -> Verifier:
        verifier = Verifier(SigningSettings(**settings), trust)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


@pytest.fixture
def verifier(make_verifier: MakeVerifier) -> Verifier:
    """A Verifier with the default settings."""
    return make_verifier()


def explanation(report: DocumentReport | SignatureReport) -> str:
    """Everything a report says about why: its error, the rules that failed, every reason."""
    if isinstance(report, SignatureReport):
        return "\n".join(report.reasons)
    parts = [report.error or ""]
    parts += [f"{failure.rule}: {failure.message}" for failure in report.rule_failures]
    parts += [reason for signature in report.signatures for reason in signature.reasons]
    return "\n".join(part for part in parts if part)


def summary(report: DocumentReport | SignatureReport) -> str:
    verdict = f"{report.indication}/{report.sub_indication}"
    if isinstance(report, DocumentReport):
        signatures = [f"{s.kind} {s.name}: {s.indication}/{s.sub_indication} {s.reasons}" for s in report.signatures]
        return f"{verdict} error={report.error!r} rules={report.rule_failures} signatures={signatures}"
    return f"{verdict} reasons={report.reasons}"


def assert_verdict(report: DocumentReport | SignatureReport, indication: Indication,
                   sub_indication: str | None = None, says: str | None = None) -> None:
    """The (indication, sub-indication) pair, and for anything but a pass an explanation that
    contains `says` (case-insensitive) when given."""
    assert (report.indication, report.sub_indication) == (indication, sub_indication), summary(report)
    if indication is not Indication.TOTAL_PASSED:
        assert explanation(report).strip(), f"{indication} without a word of why: {summary(report)}"
    if says is not None:
        assert says.lower() in explanation(report).lower(), summary(report)
