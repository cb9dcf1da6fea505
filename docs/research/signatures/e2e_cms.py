"""CMS (.p7s) detached and attached signatures made by `openssl cms -sign` and by pyHanko,
validated with pyHanko; plus a standalone RFC 3161 token (openssl ts -query + loopback TSA)."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import urllib.request
from pathlib import Path

from asn1crypto import cms, tsp
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import async_validate_cms_signature, async_validate_detached_cms
from pyhanko.sign.validation.ades import ades_with_time_validation
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import StandardCMSSignatureStatus, TimestampSignatureStatus
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy

from e2e_pdf import CircularPolicy, ades_spec, make_signer, trust_only
from pki import TestPKI

logging.basicConfig(level=logging.CRITICAL)
D = Path("/tmp/sigresearch/out/cms")
D.mkdir(parents=True, exist_ok=True)
DOC = b"%PDF-1.7 pretend this is a scanned birth certificate\n" * 100


def sh(cmd: str):
    print("  $", cmd.replace(str(D) + "/", ""))
    subprocess.run(cmd, shell=True, check=True, cwd=D)


def short(st) -> str:
    ts = st.timestamp_validity
    return (f"intact={st.intact} valid={st.valid} trusted={st.trusted} "
            f"trust_problem={getattr(st.trust_problem_indic, 'name', None)} md={st.md_algorithm} "
            f"mech={st.pkcs7_signature_mechanism} signer_reported_dt={st.signer_reported_dt} "
            f"ts={None if ts is None else (str(ts.timestamp), ts.trusted)} bottom_line={st.bottom_line}")


def load_sd(path: Path) -> cms.SignedData:
    ci = cms.ContentInfo.load(path.read_bytes())
    assert ci["content_type"].native == "signed_data"
    return ci["content"]


async def check(label, sd: cms.SignedData, content: bytes | None, pki, tamper=False):
    vc = trust_only(pki)
    vc2 = trust_only(pki)
    policy = CMSAlgorithmUsagePolicy.lift_policy(CircularPolicy())
    try:
        if content is None:   # attached: the content is inside encap_content_info
            eci = sd["encap_content_info"]
            inner = bytes(eci["content"])
            if tamper:
                inner = inner.replace(b"birth", b"death")
                sd = sd.copy()
                sd["encap_content_info"] = cms.ContentInfo(
                    {"content_type": eci["content_type"], "content": inner})
            st2 = await async_validate_cms_signature(sd, status_cls=StandardCMSSignatureStatus,
                                                     validation_context=vc2,
                                                     algorithm_policy=policy)
            print(f"  [{label}] validate_cms_sig {short(st2)}")
            # detached validator refuses encapsulated content: strip it and pass it separately
            detached = sd.copy()
            detached["encap_content_info"] = cms.ContentInfo(
                {"content_type": sd["encap_content_info"]["content_type"]})
            st = await async_validate_detached_cms(inner, detached, signer_validation_context=vc,
                                                   algorithm_policy=policy)
            print(f"  [{label}] stripped+detached {short(st)}")
        else:
            data = content.replace(b"birth", b"death") if tamper else content
            st = await async_validate_detached_cms(data, sd, signer_validation_context=vc,
                                                   algorithm_policy=policy)
            print(f"  [{label}] detached         {short(st)}")
    except Exception as e:  # noqa: BLE001
        print(f"  [{label}] EXCEPTION {type(e).__name__}: {e}")
    finally:
        await vc.aclose()
        await vc2.aclose()


async def main():
    pki = TestPKI.generate()
    srv = pki.serve()
    pki.write(D)
    (D / "doc.bin").write_bytes(DOC)

    print("== openssl cms -sign ==")
    sh("openssl cms -sign -binary -in doc.bin -signer valid.pem -inkey valid.key -certfile inter.pem"
       " -md sha256 -outform DER -out detached.p7s")
    sh("openssl cms -sign -binary -nodetach -in doc.bin -signer valid.pem -inkey valid.key"
       " -certfile inter.pem -md sha256 -outform DER -out attached.p7s")
    sh("openssl cms -sign -binary -cades -in doc.bin -signer valid.pem -inkey valid.key"
       " -certfile inter.pem -md sha256 -outform DER -out cades.p7s")
    sh("openssl cms -sign -binary -in doc.bin -signer valid.pem -inkey valid.key -certfile inter.pem"
       " -md sha256 -keyopt rsa_padding_mode:pss -outform DER -out pss.p7s")
    sh("openssl cms -sign -binary -in doc.bin -signer ec256.pem -inkey ec256.key -certfile inter.pem"
       " -md sha384 -outform DER -out ec.p7s")
    sh("openssl cms -sign -binary -in doc.bin -signer valid.pem -inkey valid.key -certfile inter.pem"
       " -md sha1 -outform DER -out sha1.p7s")
    sh("openssl cms -sign -binary -in doc.bin -signer revoked.pem -inkey revoked.key"
       " -certfile inter.pem -md sha256 -outform DER -out revoked.p7s")
    # openssl's own check, trusting only our root (for comparison)
    sh("openssl cms -verify -binary -inform DER -in detached.p7s -content doc.bin -CAfile root.pem"
       " -purpose any -out /dev/null")

    for name in ("detached", "cades", "pss", "ec", "sha1", "revoked"):
        await check(name, load_sd(D / f"{name}.p7s"), DOC, pki)
    await check("detached tampered", load_sd(D / "detached.p7s"), DOC, pki, tamper=True)
    await check("attached", load_sd(D / "attached.p7s"), None, pki)
    await check("attached tampered", load_sd(D / "attached.p7s"), None, pki, tamper=True)

    print("== pyHanko signer: detached CAdES with signature timestamp ==")
    signer = make_signer(pki, "valid")
    ci = await signer.async_sign_general_data(DOC, "sha256", detached=True, use_cades=True,
                                              timestamper=HTTPTimeStamper(f"{pki.base_url}/tsa"))
    (D / "pyhanko-cades-t.p7s").write_bytes(ci.dump())
    await check("pyhanko CAdES-T", ci["content"], DOC, pki)
    spec = ades_spec(pki).signature_validation_spec
    res = await ades_with_time_validation(ci["content"], spec, raw_digest=hashlib.sha256(DOC).digest())
    print(f"  [pyhanko CAdES-T] ades_with_time_validation -> {res.ades_subindic.status.name}/"
          f"{res.ades_subindic.standard_name} best_signature_time={res.best_signature_time}")
    res = await ades_with_time_validation(ci["content"], spec, raw_digest=hashlib.sha256(b"x").digest())
    print(f"  [pyhanko CAdES-T wrong digest] -> {res.ades_subindic.status.name}/{res.ades_subindic.standard_name}")

    print("== RFC 3161: openssl ts -query -> loopback TSA -> pyHanko validate_tst_signed_data ==")
    sh("openssl ts -query -data doc.bin -sha256 -cert -out req.tsq")
    req = urllib.request.Request(f"{pki.base_url}/tsa", data=(D / "req.tsq").read_bytes(),
                                 headers={"Content-Type": "application/timestamp-query"})
    (D / "resp.tsr").write_bytes(urllib.request.urlopen(req).read())
    sh("openssl ts -verify -data doc.bin -in resp.tsr -CAfile root.pem -untrusted inter.pem")
    resp = tsp.TimeStampResp.load((D / "resp.tsr").read_bytes())
    print("  status:", resp["status"]["status"].native)
    tst_sd = resp["time_stamp_token"]["content"]
    for label, data in (("good", DOC), ("other data", DOC + b"!")):
        vc = trust_only(pki)
        kw = await validate_tst_signed_data(tst_sd, vc, lambda algo: hashlib.new(algo, data).digest())
        st = TimestampSignatureStatus(**kw)
        print(f"  [tst {label}] intact={st.intact} valid={st.valid} trusted={st.trusted} "
              f"timestamp={st.timestamp} tsa={st.signing_cert.subject.human_friendly!r}")
        await vc.aclose()
    srv.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
