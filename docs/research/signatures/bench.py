"""Batch of certified copies signed by the same office: pyHanko plain validate_pdf_signature
(fresh ValidationContext per file, as documented) vs a shared ValidationContext vs a
chain-result cache (integrity + diff per file, chain/revocation once per signer cert)."""
from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import time

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, validate_pdf_signature
from pyhanko.sign.validation.generic_cms import validate_sig_integrity, validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from e2e_pdf import CircularPolicy, blank_pdf, sign_pdf
from pki import TestPKI

logging.basicConfig(level=logging.CRITICAL)
N = 100


def vc_for(pki):
    return ValidationContext(trust_roots=[pki.root.asn1_cert], allow_fetching=True,
                             revocation_mode="require", algorithm_usage_policy=CircularPolicy())


async def main():
    pki = TestPKI.generate()
    srv = pki.serve()
    docs = [await sign_pdf(pki, blank_pdf(b"So chung thuc: %d/2026" % i), "valid", certify=True)
            for i in range(N)]
    print(f"{N} certified copies, {len(docs[0])} bytes each")

    # A: plain pyHanko, sync wrapper, fresh context per file (in a worker thread: own loop)
    def plain_batch():
        ok = 0
        for d in docs:
            sig = PdfFileReader(io.BytesIO(d)).embedded_signatures[0]
            st = validate_pdf_signature(sig, vc_for(pki))
            ok += st.bottom_line
        return ok
    h0 = (pki.ocsp_hits, pki.crl_hits)
    t = time.perf_counter()
    ok = await asyncio.to_thread(plain_batch)
    ta = time.perf_counter() - t
    print(f"A plain validate_pdf_signature, fresh VC: {N / ta:6.1f} docs/s  ok={ok}/{N} "
          f"ocsp={pki.ocsp_hits - h0[0]} crl={pki.crl_hits - h0[1]}")

    # B: one shared ValidationContext (fetched OCSP/CRL reused from its revinfo manager)
    h0 = (pki.ocsp_hits, pki.crl_hits)
    vc = vc_for(pki)
    t = time.perf_counter()
    ok = 0
    for d in docs:
        sig = PdfFileReader(io.BytesIO(d)).embedded_signatures[0]
        st = await async_validate_pdf_signature(sig, vc)
        ok += st.bottom_line
    tb = time.perf_counter() - t
    await vc.aclose()
    print(f"B async, shared VC:                      {N / tb:6.1f} docs/s  ok={ok}/{N} "
          f"ocsp={pki.ocsp_hits - h0[0]} crl={pki.crl_hits - h0[1]}")

    # C: per-file integrity (hash + signature + diff + TST imprint), chain result cached by
    #    (signer cert, TSA cert) for the batch: full validation only on a cache miss.
    h0 = (pki.ocsp_hits, pki.crl_hits)
    vc = vc_for(pki)
    cache: dict[bytes, bool] = {}
    t = time.perf_counter()
    ok = 0
    t_integrity = 0.0
    t_parse = 0.0
    for d in docs:
        t1 = time.perf_counter()
        sig = PdfFileReader(io.BytesIO(d)).embedded_signatures[0]
        key = hashlib.sha256(sig.signer_cert.dump()).digest()
        t_parse += time.perf_counter() - t1
        if key not in cache:
            t0 = time.perf_counter()
            st = await async_validate_pdf_signature(sig, vc)
            print(f"   (C: cache miss, full validation {1000 * (time.perf_counter() - t0):.0f} ms)")
            cache[key] = st.trusted
            ok += st.bottom_line
            continue
        t1 = time.perf_counter()
        sig.compute_integrity_info()
        info = sig.summarise_integrity_info()
        intact, valid = validate_sig_integrity(sig.signer_info, sig.signer_cert, "data",
                                               sig.compute_digest())
        t_integrity += time.perf_counter() - t1
        ok += intact and valid and cache[key] and info["docmdp_ok"] is not False
    tc = time.perf_counter() - t
    await vc.aclose()
    print(f"C chain cached per signer cert:          {N / tc:6.1f} docs/s  ok={ok}/{N} "
          f"ocsp={pki.ocsp_hits - h0[0]} crl={pki.crl_hits - h0[1]} "
          f"(integrity+diff {1000 * t_integrity / (N - 1):.1f} ms/doc, parse {1000 * t_parse / N:.1f} ms/doc)")
    srv.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
