"""Where verification runs, end to end: the Kafka flow (a submitted dossier's documents fetched
from a file store over real HTTP, verified in worker processes, reports on the real embedded
broker), POST /api/v1/signatures/verify, and `gateway verify` as a user runs it."""

import asyncio
import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from gateway.domain import DossierDocument, DossierSubmitted
from gateway.domain.signature_check import SignatureCheck
from gateway.runtime.app import Plan
from gateway.runtime.roles import select_roles
from gateway.signing.testing import documents
from gateway.signing.testing.pki import CERTIFIER_POLICY_OID, TestPki
from gateway.topics import DEAD_LETTERS, SIGNATURE_CHECKS

from ..conftest import REPO, StartGateway, read_topic, sample_dossier, topic_size, wait_for

FAST = {"retry": {"attempts": 2, "initial_delay_s": 0.05, "max_delay_s": 0.1, "deadline_s": 5,
                  "parked_attempts": 5, "parked_delay_s": 0.2, "parked_max_delay_s": 0.5}}


class FileStore:
    """The one-stop system's file store: serves documents by path, can fail the first requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.failures_left: dict[str, int] = {}
        self.requests: list[str] = []
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                store.requests.append(self.path)
                if store.failures_left.get(self.path, 0) > 0:
                    store.failures_left[self.path] -= 1
                    status, body = 503, b"busy"
                elif self.path in store.files:
                    status, body = 200, store.files[self.path]
                else:
                    status, body = 404, b"no such file"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def put(self, name: str, data: bytes) -> str:
        self.files[f"/files/{name}"] = data
        return f"{self.url}/files/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def anchors(pki_files: Path) -> Path:
    return pki_files / "root.pem"


@pytest.fixture(scope="module")
def samples(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("samples")

    async def make() -> dict[str, bytes]:
        signed = await documents.sign_pdf(documents.plain_pdf(), pki, "valid")
        content = b"Don de nghi / application form"
        return {
            "signed.pdf": signed,
            "tampered.pdf": documents.flip_signed_byte(signed),
            "copy.pdf": await documents.sign_pdf(documents.plain_pdf("Ban sao so 7"), pki, "certifier", certify=True,
                                                 reason="Số chứng thực: 7/2026/SCT-BS"),
            "not-a-copy.pdf": await documents.sign_pdf(documents.plain_pdf("Ban sao so 8"), pki, "valid",
                                                       certify=True, reason="Số chứng thực: 8/2026/SCT-BS"),
            "tokhai.xml": documents.xmlsec1_sign(documents.sample_eform(), pki, "valid", work),
            "form.bin": content,
            "form.p7s": documents.openssl_cms(content, pki, "valid", work),
        }

    return asyncio.run(make())


def signing_settings(anchors: Path, store: FileStore, **changes) -> dict:
    return {"trust_anchors": [str(anchors)], "document_url_prefixes": [f"{store.url}/files/"],
            "certified_copy": {"authorities": [{"policy_oid": CERTIFIER_POLICY_OID}]}, "timeout_s": 60} | changes


def by_name(records) -> dict[str, SignatureCheck]:
    checks = [SignatureCheck.model_validate_json(record.value) for record in records]
    return {check.document_name: check for check in checks}


async def test_submitted_documents_are_verified_and_reported(start_gateway: StartGateway, anchors: Path,
                                                             samples: dict[str, bytes]) -> None:
    store = FileStore()
    try:
        docs = [DossierDocument(name=name, url=store.put(name, samples[name]))
                for name in ("signed.pdf", "tampered.pdf", "tokhai.xml")]
        docs += [DossierDocument(name="copy.pdf", url=store.put("copy.pdf", samples["copy.pdf"]), certified_copy=True),
                 DossierDocument(name="not-a-copy.pdf", url=store.put("not-a-copy.pdf", samples["not-a-copy.pdf"]),
                                 certified_copy=True),
                 DossierDocument(name="form.bin", url=store.put("form.bin", samples["form.bin"]),
                                 signature_url=store.put("form.p7s", samples["form.p7s"])),
                 DossierDocument(name="elsewhere.pdf", url="http://198.51.100.7/files/elsewhere.pdf"),
                 DossierDocument(name="missing.pdf", url=f"{store.url}/files/missing.pdf"),
                 DossierDocument(name="paper only")]  # no URL: nothing to verify
        # the second dossier's file store is busy at first: its dossier is retried, not dropped
        busy = DossierDocument(name="busy.pdf", url=store.put("busy.pdf", samples["signed.pdf"]))
        store.failures_left["/files/busy.pdf"] = 3
        gateway = await start_gateway(Plan(roles=select_roles(["ledger", "signatures"])),
                                      signing=signing_settings(anchors, store),
                                      partners={"signatures": FAST}, kafka={"consumers_per_subscription": 1})
        first = DossierSubmitted(dossier=sample_dossier("000.00.15.H12-261123-0001", documents=tuple(docs)))
        second = DossierSubmitted(dossier=sample_dossier("000.00.15.H12-261123-0002", documents=(busy,)))
        async with httpx.AsyncClient(base_url=gateway.running.http_url) as client:
            for event in (first, second, first):  # the first dossier comes twice
                response = await client.post("/api/v1/dossiers/events", json=event.model_dump(mode="json"))
                assert response.status_code == 202, response.text
        bootstrap = gateway.running.kafka_bootstrap

        async def all_checked() -> bool:
            return await topic_size(bootstrap, SIGNATURE_CHECKS.name) >= 9

        await wait_for(all_checked, timeout_s=90, what="nine signature checks")
        records = await read_topic(bootstrap, SIGNATURE_CHECKS.name, 20, timeout_s=3)
        checks = by_name(records)
        verdicts = {name: (check.outcome.value, check.report.indication.value if check.report else None,
                           check.report.sub_indication.value if check.report and check.report.sub_indication else None)
                    for name, check in checks.items()}
        assert verdicts == {
            "signed.pdf": ("verified", "TOTAL-PASSED", None),
            "tampered.pdf": ("verified", "TOTAL-FAILED", "HASH_FAILURE"),
            "tokhai.xml": ("verified", "TOTAL-PASSED", None),
            "copy.pdf": ("verified", "TOTAL-PASSED", None),
            "not-a-copy.pdf": ("verified", "INDETERMINATE", "CHAIN_CONSTRAINTS_FAILURE"),
            "form.bin": ("verified", "TOTAL-PASSED", None),
            "elsewhere.pdf": ("not_downloaded", None, None),
            "missing.pdf": ("not_downloaded", None, None),
            "busy.pdf": ("verified", "TOTAL-PASSED", None),
        }
        assert "document_url_prefixes" in checks["elsewhere.pdf"].detail
        assert "404" in checks["missing.pdf"].detail
        assert checks["copy.pdf"].report.register_number == "7/2026/SCT-BS"
        assert checks["copy.pdf"].report.policy == "certified_copy"
        assert [f.rule for f in checks["not-a-copy.pdf"].report.rule_failures] == ["certified_copy.signer"]
        assert "/files/elsewhere.pdf" not in store.requests  # never fetched from outside the prefixes
        assert store.requests.count("/files/busy.pdf") >= 4  # 3 refusals, then the document
        # The first dossier came twice: every check it caused has one message id, however often published
        ids: dict[str, set[str]] = {}
        for record in records:
            headers = dict(record.headers)
            ids.setdefault(SignatureCheck.model_validate_json(record.value).document_name, set()).add(
                headers["message_id"].decode())
        assert all(len(message_ids) == 1 for message_ids in ids.values()), ids
        assert await topic_size(bootstrap, DEAD_LETTERS.name) == 0
        flows = (await httpx.AsyncClient().get(f"{gateway.running.http_url}/api/v1/flows")).json()
        assert flows["signatures"]["delivered"] == 2, flows
    finally:
        store.close()


async def test_http_verification(start_gateway: StartGateway, anchors: Path, samples: dict[str, bytes]) -> None:
    store = FileStore()
    try:
        gateway = await start_gateway(Plan(roles=[]), signing=signing_settings(anchors, store))
    finally:
        store.close()
    url = f"{gateway.running.http_url}/api/v1/signatures/verify"
    async with httpx.AsyncClient(timeout=60) as client:
        passed = await client.post(url, content=samples["signed.pdf"], headers={"content-type": "application/pdf"})
        copy = await client.post(url, params={"policy": "certified_copy", "language": "en"}, content=samples["copy.pdf"])
        detached = await client.post(url, json={"document": base64.b64encode(samples["form.bin"]).decode(),
                                                "signature": base64.b64encode(samples["form.p7s"]).decode()})
        altered = await client.post(url, json={"document": base64.b64encode(b"altered").decode(),
                                               "signature": base64.b64encode(samples["form.p7s"]).decode()})
        garbage = await client.post(url, content=documents.garbage())
        empty = await client.post(url, content=b"")
        bad_json = await client.post(url, content=b'{"document": "%%%"}', headers={"content-type": "application/json"})
        bad_policy = await client.post(url, params={"policy": "notary"}, content=samples["signed.pdf"])
    assert passed.status_code == 200, passed.text
    assert passed.json()["report"]["indication"] == "TOTAL-PASSED"
    assert "Người ký" in passed.json()["text"] and "Tính toàn vẹn" in passed.json()["text"]
    assert copy.json()["report"]["register_number"] == "7/2026/SCT-BS"
    assert "Register number" in copy.json()["text"]
    assert detached.json()["report"]["indication"] == "TOTAL-PASSED"
    assert (altered.json()["report"]["indication"], altered.json()["report"]["sub_indication"]) == (
        "TOTAL-FAILED", "HASH_FAILURE")
    assert (garbage.status_code, garbage.json()["report"]["sub_indication"]) == (200, "FORMAT_FAILURE")
    assert garbage.json()["report"]["error"]
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    assert bad_json.status_code == 400
    assert bad_policy.status_code == 422


def run_verify(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "verify", *arguments], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)


def test_cli_exit_status_follows_the_indication(anchors: Path, samples: dict[str, bytes], tmp_path: Path) -> None:
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
    passed = run_verify(str(tmp_path / "signed.pdf"), "--trust-anchor", str(anchors), "--language", "vi")
    failed = run_verify(str(tmp_path / "tampered.pdf"), "--trust-anchor", str(anchors), "--json")
    untrusted = run_verify(str(tmp_path / "signed.pdf"))  # no anchor at all
    detached = run_verify(str(tmp_path / "form.bin"), "--signature", str(tmp_path / "form.p7s"),
                          "--trust-anchor", str(anchors))
    bad_anchor = run_verify(str(tmp_path / "signed.pdf"), "--trust-anchor", str(tmp_path / "form.bin"))
    bad_policy = run_verify(str(tmp_path / "signed.pdf"), "--policy", "notary")
    assert passed.returncode == 0, passed.stderr
    assert "hợp lệ (TOTAL-PASSED)" in passed.stdout and "Người ký" in passed.stdout
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["sub_indication"] == "HASH_FAILURE"
    assert untrusted.returncode == 3 and "NO_CERTIFICATE_CHAIN_FOUND" in untrusted.stdout
    assert "no trust anchors" in untrusted.stderr
    assert detached.returncode == 0, detached.stdout + detached.stderr
    assert bad_anchor.returncode == 4 and "not a certificate" in bad_anchor.stderr
    assert bad_policy.returncode == 4 and "certified_copy" in bad_policy.stderr
