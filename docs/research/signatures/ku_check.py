"""AdES API and key usage: KeyUsageConstraints must be set explicitly in SignatureValidationSpec."""
import asyncio, dataclasses, io, logging
logging.basicConfig(level=logging.CRITICAL)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import ades_with_time_validation
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus
from e2e_pdf import ades_spec, blank_pdf, sign_pdf
from pki import TestPKI

async def main():
    pki = TestPKI.generate(); srv = pki.serve()
    d = await sign_pdf(pki, blank_pdf(), "wrong_ku")
    base = ades_spec(pki).signature_validation_spec
    for label, spec in (("default KeyUsageConstraints()", base),
                        ("key_usage={'non_repudiation'}", dataclasses.replace(
                            base, key_usage_settings=KeyUsageConstraints(key_usage={"non_repudiation"}))),
                        ("key_usage={'digital_signature','non_repudiation'} match_all_key_usages=False",
                         dataclasses.replace(base, key_usage_settings=KeyUsageConstraints(
                             key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)))):
        sig = PdfFileReader(io.BytesIO(d)).embedded_signatures[0]
        sig.compute_integrity_info()
        res = await ades_with_time_validation(sig.signed_data, spec, raw_digest=sig.compute_digest(),
                                              extra_status_kwargs=sig.summarise_integrity_info(),
                                              status_cls=PdfSignatureStatus)
        print(f"wrong_ku, {label}: {res.ades_subindic.status.name}/{res.ades_subindic.standard_name}")
    srv.shutdown()
asyncio.run(main())

async def wrong_key():
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from pyhanko.sign.validation.ades import ades_basic_validation
    pki = TestPKI.generate(); srv = pki.serve()
    wrong = signers.SimpleSigner(signing_cert=pki.leaves["valid"].asn1_cert,
                                 signing_key=pki.leaves["revoked"].asn1_key,
                                 cert_registry=SimpleCertificateStore.from_certs([pki.inter.asn1_cert]))
    d = await sign_pdf(pki, blank_pdf(), wrong, ts=False)
    sig = PdfFileReader(io.BytesIO(d)).embedded_signatures[0]
    res = await ades_basic_validation(sig.signed_data, ades_spec(pki).signature_validation_spec,
                                      raw_digest=sig.compute_digest())
    print(f"wrong key, ades_basic_validation: {res.ades_subindic.status.name}/{res.ades_subindic.standard_name}")
    srv.shutdown()
asyncio.run(wrong_key())
