"""Hostile and broken documents through `VerificationWorkers` (real worker processes with a
memory cap and a time limit), and broken trust anchor files.

Every refusal is a TOTAL-FAILED/FORMAT_FAILURE report with an error saying why; verification
always returns. Durations are never asserted: only that a limit was hit and said so.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.signing.report import DocumentReport, Indication, SubIndication
from gateway.signing.settings import SigningSettings
from gateway.signing.testing import documents
from gateway.signing.testing.pki import TestPki
from gateway.signing.trust import TrustStoreError, load_trust_store
from gateway.signing.workers import VerificationWorkers

from .conftest import assert_verdict

FAILED, S = Indication.TOTAL_FAILED, SubIndication
PASSWD = Path("/etc/passwd").read_text().splitlines()[0]


def refused(report: DocumentReport, says: str) -> None:
    assert_verdict(report, FAILED, S.FORMAT_FAILURE, says)
    assert report.error and report.signatures == []


@contextmanager
def workers(pki_files: Path, **settings) -> Iterator[VerificationWorkers]:
    """A worker pool trusting the test root, with these signing settings; closed at the end."""
    pool = VerificationWorkers(SigningSettings(trust_anchors=[pki_files / "root.pem"], **settings))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def pool(pki_files: Path) -> Iterator[VerificationWorkers]:
    with workers(pki_files, timeout_s=30) as started:
        yield started


@pytest.fixture
async def good_pdf(pki: TestPki) -> bytes:
    return await documents.sign_pdf(documents.plain_pdf(), pki)


@pytest.fixture(scope="module")
def huge_pdf() -> bytes:
    """A million objects: about 45 MB, under the default max_document_bytes, seconds to parse."""
    return documents.huge_object_count_pdf(objects=1_000_000)


@pytest.mark.parametrize(("make", "says"), [
    pytest.param(documents.xml_bomb, "DOCTYPE", id="xml-bomb"),
    pytest.param(documents.xml_external_entity, "DOCTYPE", id="xml-external-entity"),
    pytest.param(documents.garbage, "not a PDF, an XML document or a CMS signature", id="garbage"),
    pytest.param(bytes, "not a PDF, an XML document or a CMS signature", id="empty"),
    pytest.param(documents.huge_object_count_pdf, "holds no signature", id="huge-object-count-pdf"),
    pytest.param(documents.deeply_nested_pdf, "nested too deeply", id="deeply-nested-pdf"),
])
async def test_hostile_documents_are_refused(pool: VerificationWorkers, make, says: str) -> None:
    report = await pool.verify(make())
    refused(report, says)
    assert "root:x:0:0" not in report.model_dump_json() and PASSWD not in report.model_dump_json()


async def test_truncated_signed_pdf_is_refused(pool: VerificationWorkers, good_pdf: bytes) -> None:
    refused(await pool.verify(documents.truncated(good_pdf)), "not a readable PDF")


async def test_a_document_over_max_document_bytes_is_refused(pki_files: Path, good_pdf: bytes) -> None:
    with workers(pki_files, max_document_bytes=1024) as small:
        refused(await small.verify(good_pdf), "signing.max_document_bytes")
        # a small document is read (and refused for another reason)
        assert_verdict(await small.verify(documents.sample_eform()), FAILED, S.FORMAT_FAILURE, "no ds:Signature")


async def test_memory_limit(pki_files: Path, huge_pdf: bytes, good_pdf: bytes) -> None:
    with workers(pki_files, worker_memory_mb=300, timeout_s=60) as small:
        refused(await small.verify(huge_pdf), "signing.worker_memory_mb")
        assert_verdict(await small.verify(good_pdf), Indication.TOTAL_PASSED)


async def test_time_limit_stops_the_worker_and_a_new_one_takes_over(
        pki_files: Path, huge_pdf: bytes, good_pdf: bytes) -> None:
    with workers(pki_files, timeout_s=1) as slow:
        refused(await slow.verify(huge_pdf), "signing.timeout_s")
        assert slow.killed == 1
        # starting a worker alone takes about a second: allow it before checking the replacement
        slow.settings.timeout_s = 30
        assert_verdict(await slow.verify(good_pdf), Indication.TOTAL_PASSED)
        assert (slow.killed, slow.verified) == (1, 1)


def test_trust_store_loads_every_root_of_a_bundle(pki: TestPki, tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pki.root.pem() + pki.other_root.pem())
    store = load_trust_store([bundle])
    assert {anchor.sha256 for anchor in store.anchors} == {pki.root.asn1_cert.sha256, pki.other_root.asn1_cert.sha256}
    assert store.sources == (str(bundle),)


@pytest.mark.parametrize(("name", "content", "says"), [
    pytest.param("missing.pem", None, "does not exist", id="missing-file"),
    pytest.param("leaf.pem", "leaf", "not a CA certificate", id="not-a-ca"),
    pytest.param("empty-dir", "dir", "holds no .pem", id="directory-without-certificates"),
    pytest.param("junk.pem", b"no certificate here", "not a certificate", id="not-a-certificate"),
    pytest.param("key.pem", "key", "holds no certificate", id="pem-without-certificate"),
])
def test_bad_trust_anchor_files_are_named(pki: TestPki, pki_files: Path, tmp_path: Path, name: str,
                                          content: bytes | str | None, says: str) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
        (path / "README.txt").write_text("certificates go here")
    elif content == "leaf":
        path.write_bytes(pki.leaves["valid"].pem())
    elif content == "key":
        path.write_bytes(pki.leaves["valid"].key_pem())
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(TrustStoreError, match=says) as raised:
        load_trust_store([pki_files / "root.pem", path])
    assert str(path) in str(raised.value)
    with pytest.raises(TrustStoreError):  # a bad anchor stops the workers' start-up, not the first document
        VerificationWorkers(SigningSettings(trust_anchors=[path]))
