"""End-to-end: generate PKI, serve OCSP/CRL/TSA on loopback, sign PDFs with pyHanko, validate
trusting only the generated root, show passing and failing cases (plain API and AdES API)."""
from __future__ import annotations

import asyncio
import io
import sys
import time
import logging
from pathlib import Path

from asn1crypto import keys as asn1_keys
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter, PageObject
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import (
    async_validate_pdf_signature, async_validate_pdf_timestamp, validate_pdf_signature,
)
from pyhanko.sign.validation.ades import ades_basic_validation, ades_lta_validation, ades_with_time_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec, RevocationInfoGatheringSpec, RevinfoOnlineFetchingRule,
    SignatureValidationSpec, CertificateFetchingRule,
)
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    AlgorithmUsageConstraint, CertRevTrustPolicy, DisallowWeakAlgorithmsPolicy,
    RevocationCheckingPolicy, RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager, SimpleCertificateStore

from pki import TestPKI

logging.basicConfig(level=logging.ERROR)
OUT = Path("/tmp/sigresearch/out")
OUT.mkdir(exist_ok=True)


# ---------------------------------------------------------------- algorithm policy
class CircularPolicy(DisallowWeakAlgorithmsPolicy):
    """Circular 15/2025: RSA >= 2048, ECDSA >= 256, SHA-2/SHA-3 only."""
    ALLOWED_DIGESTS = frozenset({"sha224", "sha256", "sha384", "sha512", "sha512_224",
                                 "sha512_256", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
                                 "shake256"})

    def __init__(self, rsa_min=2048, ec_min=256):
        super().__init__(weak_hash_algos=frozenset({"md2", "md5", "sha1"}),
                         rsa_key_size_threshold=rsa_min)
        self.ec_min = ec_min

    def digest_algorithm_allowed(self, algo, moment):
        name = algo["algorithm"].native
        if name not in self.ALLOWED_DIGESTS:
            return AlgorithmUsageConstraint(False, failure_reason=f"digest {name} not allowed")
        return AlgorithmUsageConstraint(True)

    def signature_algorithm_allowed(self, algo, moment, public_key):
        res = super().signature_algorithm_allowed(algo, moment, public_key)
        if not res:
            return res
        if public_key is not None and public_key.algorithm == "ec" and public_key.bit_size < self.ec_min:
            return AlgorithmUsageConstraint(
                False, failure_reason=f"EC key of {public_key.bit_size} bits < {self.ec_min}")
        return res


# ---------------------------------------------------------------- PDF helpers
def blank_pdf(text=b"Ban sao dien tu chung thuc - So chung thuc: 123/2026") -> bytes:
    w = PdfFileWriter()
    font = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")})
    res = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
        {pdf_name("/F1"): w.add_object(font)})})
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET")
    w.insert_page(PageObject(contents=w.add_object(stream), media_box=[0, 0, 595, 842],
                             resources=res))
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def make_signer(pki: TestPKI, label: str):
    leaf = pki.leaves[label] if label in pki.leaves else label
    return signers.SimpleSigner(
        signing_cert=leaf.asn1_cert, signing_key=leaf.asn1_key,
        cert_registry=SimpleCertificateStore.from_certs([pki.inter.asn1_cert, pki.root.asn1_cert]))


async def sign_pdf(pki, pdf: bytes, label="valid", *, md="sha256", certify=False, ts=True,
             embed_revinfo=False, vc=None, field="Signature1") -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm=md, subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify, docmdp_permissions=fields.MDPPerm.NO_CHANGES if certify else fields.MDPPerm.FILL_FORMS,
        embed_validation_info=embed_revinfo, validation_context=vc,
        reason="Chung thuc ban sao", location="Ha Noi")
    signer = make_signer(pki, label) if isinstance(label, str) else label
    pdf_signer = signers.PdfSigner(meta, signer=signer,
                                   timestamper=HTTPTimeStamper(f"{pki.base_url}/tsa") if ts else None)
    out = io.BytesIO()
    await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


# ---------------------------------------------------------------- validation contexts
def trust_only(pki, roots=None, *, mode="hard-fail", fetch=True, policy=None, **kw):
    return ValidationContext(
        trust_roots=roots or [pki.root.asn1_cert],          # ONLY these; never OS roots
        allow_fetching=fetch, revocation_mode=mode,
        algorithm_usage_policy=policy or CircularPolicy(), **kw)


def ades_spec(pki, roots=None, fetch=RevinfoOnlineFetchingRule.ALWAYS_FETCH):
    policy = CircularPolicy()
    cvp = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=roots or [pki.root.asn1_cert]),
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(
            ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
            intermediate_ca_cert_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED)),
        algorithm_usage_policy=policy)
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=cvp,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=fetch,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH),
        signature_algorithm_policy=CMSAlgorithmUsagePolicy.lift_policy(policy)))


def describe(status) -> str:
    ts = status.timestamp_validity
    return (f"intact={status.intact} valid={status.valid} trusted={status.trusted} "
            f"revoked={status.revoked} trust_problem={getattr(status.trust_problem_indic, 'name', None)} "
            f"coverage={getattr(status.coverage, 'name', None)} "
            f"modification_level={getattr(status.modification_level, 'name', None)} "
            f"docmdp_ok={status.docmdp_ok} ts={'-' if ts is None else (ts.timestamp.isoformat(), ts.trusted)} "
            f"bottom_line={status.bottom_line}")


async def validate_all(pki, data: bytes, label: str, vc_factory):
    r = PdfFileReader(io.BytesIO(data))
    for sig in r.embedded_signatures:
        vc = vc_factory()
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                st = await async_validate_pdf_timestamp(sig, validation_context=vc)
                print(f"  [{label}] doc-ts {sig.field_name}: intact={st.intact} trusted={st.trusted} "
                      f"coverage={st.coverage.name}")
            else:
                st = await async_validate_pdf_signature(sig, vc, ts_validation_context=vc)
                print(f"  [{label}] plain {sig.field_name}: {describe(st)}")
                print(f"      summary={st.summary()}")
        except Exception as e:  # noqa: BLE001
            print(f"  [{label}] plain {sig.field_name}: EXCEPTION {type(e).__name__}: {e}")
        finally:
            await vc.aclose()


async def ades_all(pki, data: bytes, label: str, roots=None):
    r = PdfFileReader(io.BytesIO(data))
    spec = ades_spec(pki, roots)
    for sig in r.embedded_regular_signatures:
        res = await ades_lta_validation(sig, spec)
        st = res.api_status
        print(f"  [{label}] ades-lta {sig.field_name}: {res.ades_subindic.status.name}/"
              f"{res.ades_subindic.standard_name} best_sig_time={getattr(res, 'best_signature_time', None)} "
              f"msg={res.failure_msg!r}")
        if st is not None:
            print(f"      api_status: {describe(st)}")


async def main():
    pki = TestPKI.generate()
    srv = pki.serve()
    pki.write(OUT / "pki")
    base = blank_pdf()
    (OUT / "unsigned.pdf").write_bytes(base)

    t = time.perf_counter()
    good = await sign_pdf(pki, base, "valid", certify=True)
    print(f"signed good.pdf in {time.perf_counter() - t:.2f}s ({len(good)} bytes)")
    (OUT / "good.pdf").write_bytes(good)

    cases = {"good": good}
    # tampered: change one byte in the signed content stream
    i = good.index(b"So chung thuc: 123")
    cases["tampered"] = good[:i] + b"So chung thuc: 923" + good[i + 18:]
    # incremental update after a certification signature (NO_CHANGES): change page content
    w = IncrementalPdfFileWriter(io.BytesIO(good))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    new = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (So chung thuc: 999) Tj ET")
    page[pdf_name("/Contents")] = w.add_object(new)
    w.update_container(page)
    buf = io.BytesIO(); w.write(buf)
    cases["modified_after"] = buf.getvalue()
    # approval signature with a later allowed change: a document timestamp added afterwards
    appr = await sign_pdf(pki, base, "valid", certify=False)
    out = io.BytesIO()
    await PdfTimeStamper(HTTPTimeStamper(f"{pki.base_url}/tsa")).async_timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(appr)), md_algorithm="sha256", output=out)
    cases["approval+docts"] = out.getvalue()
    for label in ("revoked", "expired", "wrong_ku", "rsa1024", "sha1cert", "ec256", "ec192",
                  "no_revinfo"):
        try:
            cases[label] = await sign_pdf(pki, base, label)
        except Exception as e:  # noqa: BLE001
            print(f"signing with {label} failed: {type(e).__name__}: {e}")
    cases["sha1_digest"] = await sign_pdf(pki, base, "valid", md="sha1")
    cases["untrusted_root"] = await sign_pdf(pki, base, signers.SimpleSigner(
        signing_cert=pki.other_leaf.asn1_cert, signing_key=pki.other_leaf.asn1_key,
        cert_registry=SimpleCertificateStore.from_certs([pki.other_root.asn1_cert])), ts=False)
    for k, v in cases.items():
        (OUT / f"{k}.pdf").write_bytes(v)

    print("\n== plain API: validate_pdf_signature, trust_roots=[generated root], hard-fail, fetching ==")
    for label, data in cases.items():
        await validate_all(pki, data, label, lambda: trust_only(pki))
    print(f"OCSP hits so far: {pki.ocsp_hits}, CRL hits: {pki.crl_hits}")

    print("\n== AdES API: ades_lta_validation, CRL_OR_OCSP_REQUIRED, ALWAYS_FETCH ==")
    for label, data in cases.items():
        await ades_all(pki, data, label)

    srv.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
