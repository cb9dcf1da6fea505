"""Time, revocation modes, DSS (offline) and AdES-with-time experiments."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation, ades_with_time_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.policy_decl import RevinfoOnlineFetchingRule
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

from e2e_pdf import CircularPolicy, ades_spec, blank_pdf, describe, make_signer, trust_only
from pki import NOW, TestPKI

logging.basicConfig(level=logging.CRITICAL)


async def sign(pki, pdf, label, *, timestamper=None, embed=False, lta=False, vc=None):
    meta = signers.PdfSignatureMetadata(field_name="Sig", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        embed_validation_info=embed, use_pades_lta=lta,
                                        validation_context=vc)
    out = io.BytesIO()
    await signers.PdfSigner(meta, make_signer(pki, label), timestamper=timestamper
                            ).async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


def first_sig(data):
    return PdfFileReader(io.BytesIO(data)).embedded_regular_signatures[0]


async def plain(label, sig, vc):
    try:
        st = await async_validate_pdf_signature(sig, vc, ts_validation_context=vc)
        print(f"  {label}: {describe(st)} validation_time={st.validation_time}")
        return st
    except Exception as e:  # noqa: BLE001
        print(f"  {label}: EXCEPTION {type(e).__name__}: {e}")
    finally:
        await vc.aclose()


async def with_time(label, sig, pki, fetch=RevinfoOnlineFetchingRule.ALWAYS_FETCH):
    spec = ades_spec(pki, fetch=fetch).signature_validation_spec
    sig.compute_integrity_info()
    res = await ades_with_time_validation(
        sig.signed_data, spec, raw_digest=sig.compute_digest(),
        extra_status_kwargs=sig.summarise_integrity_info(), status_cls=PdfSignatureStatus)
    print(f"  {label}: ades_with_time -> {res.ades_subindic.status.name}/{res.ades_subindic.standard_name}"
          f" best_signature_time={res.best_signature_time} msg={res.failure_msg!r}")
    return res


async def main():
    pki = TestPKI.generate()
    srv = pki.serve()
    base = blank_pdf()
    tsa = HTTPTimeStamper(f"{pki.base_url}/tsa")

    print("== revocation modes, signer without OCSP/CRL URLs (no_revinfo) ==")
    d = await sign(pki, base, "no_revinfo", timestamper=tsa)
    for mode in ("soft-fail", "hard-fail", "require"):
        await plain(f"revocation_mode={mode}", first_sig(d), trust_only(pki, mode=mode))

    print("== OCSP responder down (fetching to a closed port), signer 'valid' ==")
    d = await sign(pki, base, "valid", timestamper=tsa)
    srv.shutdown(); srv.server_close()
    for mode in ("soft-fail", "hard-fail", "require"):
        await plain(f"responder down, {mode}", first_sig(d), trust_only(pki, mode=mode))
    await with_time("responder down, AdES CRL_OR_OCSP_REQUIRED", first_sig(d), pki)
    srv = pki.serve()

    print("== validation time = timestamp time (moment=...) ==")
    sig = first_sig(d)
    st0 = await async_validate_pdf_signature(sig, trust_only(pki), ts_validation_context=trust_only(pki))
    t = st0.timestamp_validity.timestamp
    try:
        vc = ValidationContext(trust_roots=[pki.root.asn1_cert], moment=t, allow_fetching=True,
                               revocation_mode="require", algorithm_usage_policy=CircularPolicy())
        await plain(f"moment={t.isoformat()} allow_fetching=True", first_sig(d), vc)
    except Exception as e:  # noqa: BLE001
        print("  moment+fetch:", type(e).__name__, e)
    vc = ValidationContext(trust_roots=[pki.root.asn1_cert], moment=t, allow_fetching=False,
                           revocation_mode="require", algorithm_usage_policy=CircularPolicy(),
                           ocsps=[], crls=[])
    await plain("moment=ts, no fetching, no revinfo", first_sig(d), vc)

    print("== expired signer, timestamp (DummyTimeStamper fixed_dt) from when it was valid ==")
    past = NOW - dt.timedelta(days=500)
    past_tsa = DummyTimeStamper(pki.tsa.asn1_cert, pki.tsa.asn1_key, [pki.inter.asn1_cert], fixed_dt=past)
    d = await sign(pki, base, "expired", timestamper=past_tsa)
    await plain("expired, now", first_sig(d), trust_only(pki))
    await plain("expired, moment=ts time, require, revinfo fetched now",
                first_sig(d), ValidationContext(trust_roots=[pki.root.asn1_cert], moment=past,
                                                allow_fetching=True, revocation_mode="require"))
    await with_time("expired with past ts", first_sig(d), pki)

    print("== revoked signer, timestamp AFTER revocation vs BEFORE revocation ==")
    d = await sign(pki, base, "revoked", timestamper=tsa)
    await with_time("revoked, ts after revocation", first_sig(d), pki)
    before = NOW - dt.timedelta(days=2)
    d2 = await sign(pki, base, "revoked", timestamper=DummyTimeStamper(
        pki.tsa.asn1_cert, pki.tsa.asn1_key, [pki.inter.asn1_cert], fixed_dt=before))
    await with_time("revoked, ts BEFORE revocation", first_sig(d2), pki)
    await plain("revoked, ts before, plain now", first_sig(d2), trust_only(pki))

    print("== no timestamp at all, AdES with-time ==")
    d = await sign(pki, base, "valid")
    await with_time("valid, no ts", first_sig(d), pki)

    print("== B-LT / B-LTA: embed_validation_info, then validate OFFLINE from the DSS ==")
    vc_sign = trust_only(pki, mode="require")
    lt = await sign(pki, base, "valid", timestamper=tsa, embed=True, lta=True, vc=vc_sign)
    await vc_sign.aclose()
    open("/tmp/sigresearch/out/b_lta.pdf", "wb").write(lt)
    r = PdfFileReader(io.BytesIO(lt))
    dss = DocumentSecurityStore.read_dss(r)
    print(f"  DSS: certs={len(list(dss.load_certs()))} ocsps={len(dss.ocsps)} crls={len(dss.crls)};"
          f" signatures in file: {[(s.field_name, s.sig_object_type) for s in r.embedded_signatures]}")
    before_hits = (pki.ocsp_hits, pki.crl_hits)
    vc = dss.as_validation_context({"trust_roots": [pki.root.asn1_cert], "allow_fetching": False,
                                    "revocation_mode": "require",
                                    "algorithm_usage_policy": CircularPolicy()})
    await plain("B-LTA offline from DSS (plain)", r.embedded_regular_signatures[0], vc)
    spec = ades_spec(pki, fetch=RevinfoOnlineFetchingRule.LOCAL_ONLY)
    res = await ades_lta_validation(r.embedded_regular_signatures[0], spec)
    print(f"  B-LTA ades_lta_validation LOCAL_ONLY -> {res.ades_subindic.status.name}/"
          f"{res.ades_subindic.standard_name} best_sig_time={res.best_signature_time} "
          f"oldest_ER_ts={res.oldest_evidence_record_timestamp} msg={res.failure_msg!r}")
    print(f"  network hits during offline validation: ocsp {pki.ocsp_hits - before_hits[0]}, "
          f"crl {pki.crl_hits - before_hits[1]}")
    # future: as if the signer cert had expired (10 years later), LTA should still pass
    from pyhanko.sign.validation.ades import simulate_future_ades_lta_validation
    fut = await simulate_future_ades_lta_validation(
        r.embedded_regular_signatures[0], spec, future_validation_time=NOW + dt.timedelta(days=400))
    print(f"  simulate_future_ades_lta_validation(+400d) -> {fut.ades_subindic.status.name}/"
          f"{fut.ades_subindic.standard_name}")

    try:
        from pyhanko.sign.validation.report.tools import generate_report
        xml = generate_report(r.embedded_regular_signatures[0], res)
        open("/tmp/sigresearch/out/b_lta_report.xml", "w").write(xml)
        print("  generate_report (ETSI TS 119 102-2 XML):", len(xml), "chars; main indication line:",
              [ln.strip() for ln in xml.splitlines() if "MainIndication" in ln][:1])
    except Exception as e:  # noqa: BLE001
        print("  generate_report:", type(e).__name__, e)
    srv.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
