"""Certified-copy verifications/s for a batch signed by the same certifying office, beside
pyHanko's plain `validate_pdf_signature` on the same files, measured in the same run.

    .venv/bin/python -m bench.signing [--documents 100] [--concurrency 4]

A test PKI (gateway.signing.testing.pki) is generated and served on loopback: OCSP, CRLs and an
RFC 3161 TSA. N distinct certified copies ("Bản sao số i") are signed by its `certifier` leaf:
certification signature (DocMDP), signature timestamp from the TSA, reason carrying a register
number ("Số chứng thực: i/2026/SCT-BS"). Every mode then verifies the same N files, one after
another unless said otherwise, revocation required (OCSP or CRL fetched over loopback):

- plain (baseline): pyHanko as its documentation shows, a fresh
  `ValidationContext(trust_roots=[root], allow_fetching=True, revocation_mode="require")` per file
  and `async_validate_pdf_signature`; a file passes when the status's `bottom_line` is true.
- ours: one `gateway.signing.verifier.Verifier`, policy "certified_copy" (signature, chain,
  revocation, timestamp, no change after certification, certifying office by policy OID,
  register number); a file passes when its report is TOTAL-PASSED. Its revocation cache keeps
  fetched OCSP responses and CRLs (until nextUpdate, at most `revocation_cache_s`).
- ours, no revocation cache: the same with `revocation_cache_s=0`.
- ours via workers: `VerificationWorkers` (worker processes, spawn; how the gateway runs it),
  1 and 2 workers, CONCURRENCY requests in flight; worker start-up excluded (one warm-up
  document per worker first).

OCSP and CRL columns are the requests the loopback service answered during the phase. The PKI's
HTTP server runs in this process, so it shares a core with the in-process modes (all of them
alike). Exits non-zero when any file fails under "ours".
"""

import argparse
import asyncio
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from gateway.signing.report import DocumentReport, Indication
from gateway.signing.settings import SigningSettings
from gateway.signing.testing.documents import plain_pdf, sign_pdf
from gateway.signing.testing.pki import CERTIFIER_POLICY_OID, TestPki, running_pki
from gateway.signing.trust import TrustStore, load_trust_store
from gateway.signing.verifier import Verifier
from gateway.signing.workers import VerificationWorkers

SIGNING_CHUNK = 16


@dataclass
class Phase:
    mode: str
    seconds: float
    passed: int
    count: int
    ocsp: int
    crl: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def certified_copies(pki: TestPki, count: int) -> list[bytes]:
    async def one(number: int) -> bytes:
        return await sign_pdf(plain_pdf(f"Bản sao số {number}"), pki, "certifier", certify=True,
                              reason=f"Số chứng thực: {number}/2026/SCT-BS")

    documents: list[bytes] = []
    for start in range(0, count, SIGNING_CHUNK):
        chunk = range(start + 1, min(start + SIGNING_CHUNK, count) + 1)
        documents += await asyncio.gather(*(one(number) for number in chunk))
    return documents


async def measure(pki: TestPki, mode: str, count: int,
                  run: Callable[[], Awaitable[int]], note: str = "") -> Phase:
    ocsp, crl = pki.ocsp_hits, pki.crl_hits
    started = time.perf_counter()
    passed = await run()
    seconds = time.perf_counter() - started
    return Phase(mode, seconds, passed, count, pki.ocsp_hits - ocsp, pki.crl_hits - crl, note)


async def plain(pki: TestPki, documents: list[bytes]) -> int:
    passed = 0
    for data in documents:
        embedded = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
        context = ValidationContext(trust_roots=[pki.root.asn1_cert], allow_fetching=True,
                                    revocation_mode="require")
        try:
            status = await async_validate_pdf_signature(embedded, context)
        finally:
            await context.aclose()
        passed += bool(status.bottom_line)
    return passed


def certified_copy_settings(**values) -> SigningSettings:
    return SigningSettings(certified_copy={"authorities": [{"policy_oid": CERTIFIER_POLICY_OID}]},
                           **values)


def passed(report: DocumentReport) -> bool:
    return report.indication is Indication.TOTAL_PASSED and report.register_number is not None


async def in_process(verifier: Verifier, documents: list[bytes], failures: list[str]) -> int:
    count = 0
    for data in documents:
        report = await verifier.verify(data, policy="certified_copy")
        if passed(report):
            count += 1
        else:
            failures.append(_failure(report))
    return count


async def through_workers(workers: VerificationWorkers, documents: list[bytes], concurrency: int,
                          failures: list[str]) -> int:
    limit = asyncio.Semaphore(concurrency)

    async def one(data: bytes) -> bool:
        async with limit:
            report = await workers.verify(data, policy="certified_copy")
        if not passed(report):
            failures.append(_failure(report))
        return passed(report)

    return sum(await asyncio.gather(*(one(data) for data in documents)))


def _failure(report: DocumentReport) -> str:
    reasons = [reason for signature in report.signatures for reason in signature.reasons]
    rules = [failure.message for failure in report.rule_failures]
    return (f"{report.indication.value} {report.sub_indication and report.sub_indication.value}: "
            f"{'; '.join([*reasons, *rules, report.error or ''])[:300]}")


async def ours_in_process(pki: TestPki, trust: TrustStore, documents: list[bytes], mode: str,
                          cache_s: float, failures: list[str]) -> Phase:
    verifier = Verifier(certified_copy_settings(revocation_cache_s=cache_s), trust)
    try:
        phase = await measure(pki, mode, len(documents),
                              lambda: in_process(verifier, documents, failures))
        cache = verifier.validation.cache
        phase.note = f"revocation cache {cache.hits} hits, {cache.fetches} fetches"
        return phase
    finally:
        await verifier.aclose()


async def ours_in_workers(pki: TestPki, anchors: Path, documents: list[bytes], count: int,
                          concurrency: int, failures: list[str]) -> Phase:
    workers = VerificationWorkers(certified_copy_settings(trust_anchors=[anchors], workers=count))
    try:
        warm_up: list[str] = []
        await through_workers(workers, documents[:count], count, warm_up)
        if warm_up:
            raise SystemExit(f"warm-up document failed in the workers: {warm_up[0]}")
        return await measure(pki, f"ours via {count} worker{'s' * (count > 1)}", len(documents),
                             lambda: through_workers(workers, documents, concurrency, failures),
                             f"{concurrency} in flight, warmed up")
    finally:
        await asyncio.to_thread(workers.close)


async def main(count: int, concurrency: int, worker_counts: list[int]) -> None:
    with running_pki() as pki, tempfile.TemporaryDirectory(prefix="signing-bench-") as workdir:
        started = time.perf_counter()
        documents = await certified_copies(pki, count)
        preparation_s = time.perf_counter() - started
        anchors = pki.write(Path(workdir)) / "root.pem"
        trust = load_trust_store([anchors])
        print(f"{count} certified copies signed by the certifying office's leaf (certification + "
              f"timestamp, register number in /Reason), {min(map(len, documents))}–"
              f"{max(map(len, documents))} bytes each, prepared in {preparation_s:.1f} s "
              f"({SIGNING_CHUNK} at a time); revocation required, OCSP/CRL over loopback; "
              f"{os.cpu_count()} CPUs")
        failures: list[str] = []
        phases = [await measure(pki, "plain pyHanko (fresh context)", count,
                                lambda: plain(pki, documents), "bottom_line")]
        phases.append(await ours_in_process(pki, trust, documents, "ours in-process", 300.0,
                                            failures))
        phases.append(await ours_in_process(pki, trust, documents, "ours, no revocation cache",
                                            0.0, failures))
        for workers in worker_counts:
            phases.append(await ours_in_workers(pki, anchors, documents, workers, concurrency,
                                                failures))

    baseline = phases[0].rate
    print(f"{'mode':32}{'docs/s':>8}{'passed':>9}{'OCSP':>6}{'CRL':>6}{'vs plain':>10}  note")
    for phase in phases:
        print(f"{phase.mode:32}{phase.rate:8.1f}{f'{phase.passed}/{phase.count}':>9}"
              f"{phase.ocsp:6}{phase.crl:6}{phase.rate / baseline:10.2f}  {phase.note}")
    by_mode = {phase.mode: phase for phase in phases}
    ours, uncached = by_mode["ours in-process"], by_mode["ours, no revocation cache"]
    ratios = [("ours in-process / plain", ours.rate / baseline),
              ("ours in-process / ours without cache", ours.rate / uncached.rate)]
    worker_phases = [phase for phase in phases if "worker" in phase.mode]
    ratios += [(f"{phase.mode} / ours in-process", phase.rate / ours.rate)
               for phase in worker_phases]
    if len(worker_phases) > 1:
        ratios.append((f"{worker_phases[-1].mode} / {worker_phases[0].mode}",
                       worker_phases[-1].rate / worker_phases[0].rate))
    print("ratios (machine-independent):")
    for name, ratio in ratios:
        print(f"  {name:44}{ratio:6.2f}")
    print("  OCSP+CRL requests per document: " + ", ".join(
        f"{phase.mode} {(phase.ocsp + phase.crl) / count:.2f}" for phase in phases))
    if failures:
        print(f"{len(failures)} verification(s) by ours did not pass; first: {failures[0]}",
              file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100, help="certified copies in the batch")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="requests in flight to the worker processes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker-process counts to measure (default: 1 2)")
    arguments = parser.parse_args()
    if arguments.documents < max(arguments.workers):
        parser.error("--documents must be at least the largest --workers")
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main(arguments.documents, arguments.concurrency, arguments.workers))
