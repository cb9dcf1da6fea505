"""The validation every CMS-based signature shares (PDF signatures, .p7s files): pyHanko's AdES
processes (ETSI EN 319 102-1), configured from `signing.*`, turned into a `SignatureReport`.

One `Validation` lives in one event loop: its fetcher backend opens an aiohttp session there.
"""

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from asn1crypto import cms
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.errors import PathError, ValidationError
from pyhanko_certvalidator.ltv.poe import ValidationObjectType
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

from gateway.signing.algorithms import CircularAlgorithmPolicy
from gateway.signing.certificates import describe, purpose_problem
from gateway.signing.report import (
    Indication,
    RevocationEvidence,
    SignatureReport,
    SubIndication,
    TimestampInfo,
)
from gateway.signing.revocation import CachingFetcherBackend, RevocationCache
from gateway.signing.settings import SigningSettings
from gateway.signing.trust import TrustStore

# Why a validation failed is often only in pyHanko's log (its AdES results carry no message for
# chain and algorithm failures): those records are collected into the report of the signature
# being validated, and kept out of the gateway's log, where each would come with a traceback.
_collected: ContextVar[list[str] | None] = ContextVar("pyhanko_failures", default=None)


class _CollectFailures(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        bucket = _collected.get()
        if bucket is not None:
            error = record.exc_info[1] if record.exc_info else None
            bucket.append(f"{record.getMessage()}: {error}" if error is not None else record.getMessage())


for _name in ("pyhanko.sign.validation.generic_cms", "pyhanko_certvalidator"):
    _logger = logging.getLogger(_name)
    _logger.setLevel(logging.WARNING)
    _logger.propagate = False
    _logger.addHandler(_CollectFailures())
logging.getLogger("pyhanko.sign.diff_analysis").setLevel(logging.CRITICAL)  # reported as modifications

# For failures pyHanko gives no words for at all
PLAIN_REASONS = {
    SubIndication.HASH_FAILURE: "the digest of the signed content does not match: the content changed after signing",
    SubIndication.SIG_CRYPTO_FAILURE: "the signature value does not verify with the public key of the signer's "
                                      "certificate",
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: "no chain leads from the signer's certificate to a configured trust "
                                              "anchor (signing.trust_anchors)",
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE: "an algorithm or key size the policy forbids (signing.algorithms)",
    SubIndication.CHAIN_CONSTRAINTS_FAILURE: "the signer's certificate does not meet the policy (key usage: "
                                             "signing.key_usage)",
    SubIndication.REVOKED_NO_POE: "the signer's certificate is revoked and nothing proves the signature existed "
                                  "before the revocation",
    SubIndication.OUT_OF_BOUNDS_NO_POE: "the signer's certificate was not valid at the time the signature is judged",
}


@dataclass
class Verdict:
    indication: Indication
    sub_indication: SubIndication | None
    reasons: list[str]


class Validation:
    """Trust, algorithm, key-usage and revocation policy for one worker's verifications."""

    def __init__(self, settings: SigningSettings, trust: TrustStore) -> None:
        self.settings = settings
        self.trust = trust
        self.algorithms = CircularAlgorithmPolicy(settings.algorithms)
        self.cache = RevocationCache(ttl_s=settings.revocation_cache_s)
        self._backend: CachingFetcherBackend | None = None

    def spec(self, local_knowledge: LocalKnowledge | None = None) -> SignatureValidationSpec:
        # Revocation data is required for the signer and every CA: pyHanko's soft-fail and
        # hard-fail modes accept a certificate that declares no OCSP/CRL at all
        required = RevocationCheckingPolicy(ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                                            intermediate_ca_cert_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED)
        # always a trust manager of our anchors, even empty: without one pyHanko trusts the OS roots
        trust_manager = SimpleTrustManager.build(trust_roots=[CertTrustAnchor(a) for a in self.trust.anchors])
        policy = CertValidationPolicySpec(trust_manager=trust_manager,
                                          revinfo_policy=CertRevTrustPolicy(required),
                                          algorithm_usage_policy=self.algorithms)
        fetching = (RevinfoOnlineFetchingRule.ALWAYS_FETCH if self.settings.fetch_revocation
                    else RevinfoOnlineFetchingRule.LOCAL_ONLY)
        gathering = RevocationInfoGatheringSpec(online_fetching_rule=fetching,
                                                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
                                                fetcher_backend=self.backend if self.settings.fetch_revocation else None)
        return SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=gathering,
            key_usage_settings=KeyUsageConstraints(key_usage=set(self.settings.key_usage),
                                                   match_all_key_usages=False),
            signature_algorithm_policy=CMSAlgorithmUsagePolicy.lift_policy(self.algorithms),
            local_knowledge=local_knowledge or LocalKnowledge(),
        )

    @property
    def backend(self) -> CachingFetcherBackend:
        if self._backend is None:
            self._backend = CachingFetcherBackend(self.cache, per_request_timeout=self.settings.fetch_timeout_s)
        return self._backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.close()
            self._backend = None

    async def signature(self, signed_data: cms.SignedData, *, kind: str, name: str,
                        raw_digest: bytes | None, spec: SignatureValidationSpec,
                        status_cls: type = StandardCMSSignatureStatus,
                        extra_status_kwargs: dict[str, Any] | None = None) -> SignatureReport:
        """AdES validation of one CMS signature: with time when it carries a signature timestamp."""
        token = _collected.set([])
        try:
            return await self._signature(signed_data, kind=kind, name=name, raw_digest=raw_digest, spec=spec,
                                         status_cls=status_cls, extra_status_kwargs=extra_status_kwargs)
        finally:
            _collected.reset(token)

    async def _signature(self, signed_data: cms.SignedData, *, kind: str, name: str, raw_digest: bytes | None,
                         spec: SignatureValidationSpec, status_cls: type,
                         extra_status_kwargs: dict[str, Any] | None) -> SignatureReport:
        timestamped = has_signature_timestamp(signed_data)
        try:
            if timestamped:
                result = await ades.ades_with_time_validation(signed_data, spec, raw_digest=raw_digest,
                                                              status_cls=status_cls,
                                                              extra_status_kwargs=extra_status_kwargs)
                best_time = result.best_signature_time
            else:
                # pyHanko's basic process builds its passing status as a plain CMS status, which
                # refuses PDF keyword arguments; the PDF facts are judged by pdf.py anyway
                result = await ades.ades_basic_validation(signed_data, spec, raw_digest=raw_digest)
                best_time = None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            # a responder that hangs or breaks the connection escapes pyHanko's fetch handling
            return SignatureReport(kind=kind, name=name, indication=Indication.INDETERMINATE,
                                   sub_indication=SubIndication.TRY_LATER,
                                   reasons=[f"fetching revocation data failed: {type(error).__name__} {error}".strip()])
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            # pyHanko reading a malformed structure (an unsigned attribute holding garbage)
            return SignatureReport(kind=kind, name=name, indication=Indication.TOTAL_FAILED,
                                   sub_indication=SubIndication.FORMAT_FAILURE,
                                   reasons=[f"the signature's structure is malformed: {type(error).__name__}: {error}"])
        verdict = verdict_of(result.ades_subindic, result.failure_msg)
        status = result.api_status
        signer = getattr(status, "signing_cert", None)
        others = [c.chosen for c in signed_data["certificates"] or [] if c.name == "certificate"]
        if signer is not None:
            verdict = await self.checked_further(verdict, signer, others, best_time)
        if not timestamped and self.settings.require_timestamp and verdict.indication is Indication.TOTAL_PASSED:
            verdict = Verdict(Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE,
                              ["the policy requires a signature timestamp (RFC 3161) and there is none"])
        return SignatureReport(
            kind=kind, name=name, indication=verdict.indication, sub_indication=verdict.sub_indication,
            reasons=verdict.reasons, **certificate_fields(status),
            claimed_signing_time=getattr(status, "signer_reported_dt", None),
            best_signature_time=best_time or getattr(status, "validation_time", None),
            timestamp=timestamp_info(getattr(status, "timestamp_validity", None)),
            revocation=evidence(result.validation_objects, spec.local_knowledge),
            digest_algorithm=getattr(status, "md_algorithm", None),
            signature_algorithm=getattr(status, "pkcs7_signature_mechanism", None),
        )

    async def checked_further(self, verdict: Verdict, signer, others: list, best_time: datetime | None) -> Verdict:
        """What pyHanko's verdict misses, for CMS and XML signers alike."""
        if verdict.sub_indication is SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE \
                and await self._fine_without_revocation(signer, others):
            # pyHanko reports missing or unreachable revocation data as a general chain
            # failure; ETSI's name for "cannot be known now, ask again later" is TRY_LATER
            return Verdict(Indication.INDETERMINATE, SubIndication.TRY_LATER, [
                *verdict.reasons, ("the revocation status of the signer's chain could not be determined: "
                                   "no OCSP response or CRL could be obtained (fetched or embedded)")])
        if verdict.indication is not Indication.TOTAL_PASSED:
            return verdict
        if best_time is not None and best_time > signer.not_valid_after:
            # pyHanko's with-time process does not compare the proven time with the expiry
            # (its own note: "we can't process expiration here"); ETSI EN 319 102-1 5.5 does
            return Verdict(Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE, [(
                f"the signer's certificate expired on {signer.not_valid_after:%Y-%m-%d %H:%M} UTC and the earliest "
                f"proof of the signature (its timestamp) is {best_time:%Y-%m-%d %H:%M} UTC")])
        if best_time is not None and best_time < signer.not_valid_before:
            return Verdict(Indication.TOTAL_FAILED, SubIndication.NOT_YET_VALID, [(
                f"the signature is proven at {best_time:%Y-%m-%d %H:%M} UTC, before the signer's certificate "
                f"was issued ({signer.not_valid_before:%Y-%m-%d %H:%M} UTC)")])
        if problem := purpose_problem(signer):
            return Verdict(Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE, [problem])
        return verdict

    async def _fine_without_revocation(self, signer, others: list) -> bool:
        """Whether the signer's chain validates when revocation is not checked at all."""
        no_check = RevocationCheckingPolicy(ee_certificate_rule=RevocationCheckingRule.NO_CHECK,
                                            intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK)
        policy = CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[CertTrustAnchor(a) for a in self.trust.anchors]),
            revinfo_policy=CertRevTrustPolicy(no_check), algorithm_usage_policy=self.algorithms)
        context = policy.build_validation_context(timing_info=ValidationTimingInfo.now(), handlers=None)
        try:
            await CertificateValidator(signer, intermediate_certs=others, validation_context=context).async_validate_path()
        except (PathError, ValidationError, TimeoutError, OSError):
            return False
        return True


def verdict_of(subindication, failure_message: str | None) -> Verdict:
    reasons = [failure_message] if failure_message else list(dict.fromkeys(_collected.get() or []))
    status = subindication.status
    if status is AdESStatus.PASSED:  # what pyHanko logged on the way (a revocation after the POE) is no reason
        return Verdict(Indication.TOTAL_PASSED, None, [failure_message] if failure_message else [])
    sub = SubIndication(subindication.standard_name)
    indication = Indication.TOTAL_FAILED if status is AdESStatus.FAILED else Indication.INDETERMINATE
    return Verdict(indication, sub, reasons or [PLAIN_REASONS.get(sub, f"pyHanko's verdict: {sub.value}")])


def has_signature_timestamp(signed_data: cms.SignedData) -> bool:
    signer_info = signed_data["signer_infos"][0]
    attributes = signer_info["unsigned_attrs"]
    if not attributes or attributes.native is None:
        return False
    return any(attribute["type"].native == "signature_time_stamp_token" for attribute in attributes)


def certificate_fields(status: Any) -> dict[str, Any]:
    if status is None:
        return {}
    signer = getattr(status, "signing_cert", None)
    path = getattr(status, "validation_path", None)
    fields: dict[str, Any] = {"signer": describe(signer) if signer is not None else None}
    if path is not None:
        chain = [describe(cert) for cert in path.iter_certs(include_root=True)]
        fields["chain"] = list(reversed(chain))
        anchor = path.trust_anchor.certificate if hasattr(path.trust_anchor, "certificate") else None
        fields["trust_anchor"] = describe(anchor) if anchor is not None else None
    return fields


def timestamp_info(status: Any) -> TimestampInfo | None:
    if status is None:
        return None
    authority = status.signing_cert.subject.human_friendly if status.signing_cert is not None else "unknown"
    return TimestampInfo(time=status.timestamp, authority=authority, intact=bool(status.intact),
                         trusted=bool(status.trusted))


def evidence(validation_objects: Any, local: LocalKnowledge | None) -> list[RevocationEvidence]:
    embedded = {container.ocsp_response_data.dump() for container in (local.known_ocsps if local else [])}
    embedded |= {container.crl_data.dump() for container in (local.known_crls if local else [])}
    found: list[RevocationEvidence] = []
    for item in validation_objects or []:
        if item.object_type is ValidationObjectType.OCSP_RESPONSE:
            response = item.value.ocsp_response_data
            basic = response["response_bytes"]["response"].parsed["tbs_response_data"]
            single = basic["responses"][0]
            found.append(RevocationEvidence(
                kind="ocsp", about=format(single["cert_id"]["serial_number"].native, "x"),
                produced_at=basic["produced_at"].native, next_update=single["next_update"].native,
                status=single["cert_status"].name,
                source="embedded" if response.dump() in embedded else "fetched"))
        elif item.object_type is ValidationObjectType.CRL:
            tbs = item.value.crl_data["tbs_cert_list"]
            found.append(RevocationEvidence(
                kind="crl", about=tbs["issuer"].human_friendly, produced_at=tbs["this_update"].native,
                next_update=tbs["next_update"].native,
                source="embedded" if item.value.crl_data.dump() in embedded else "fetched"))
    return found
