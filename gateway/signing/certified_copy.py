"""Electronic certified copies (bản sao điện tử chứng thực từ bản chính, Decree 45/2020 art. 10).

Beyond a valid signature, a certified copy must be certified by a certifying office the
operator configured, be unchanged since it was certified, and carry its certification register
number (số chứng thực). Each rule that fails is named in the report.
"""

import re

from gateway.signing.report import Indication, RuleFailure, SignatureReport, SubIndication
from gateway.signing.settings import CertifiedCopyRules, CertifyingAuthority

UNCHANGED = {None, "none", "lta_updates"}  # adding revocation data and document timestamps is not a change


def certifying_signature(signatures: list[SignatureReport]) -> SignatureReport | None:
    """The certification (DocMDP) signature, else the first signature of the file."""
    regular = [report for report in signatures if report.kind != "document_timestamp"]
    certification = [report for report in regular if report.kind == "certification"]
    return (certification or regular or [None])[0]


def check(signatures: list[SignatureReport], texts: list[str],
          rules: CertifiedCopyRules) -> tuple[list[RuleFailure], str | None, tuple[Indication, SubIndication] | None]:
    """The failed rules, the register number found, and the verdict the failures impose."""
    certifying = certifying_signature(signatures)
    if certifying is None:
        failure = RuleFailure(rule="certified_copy.signature", message="the file holds no certifying signature")
        return [failure], None, (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    failures: list[RuleFailure] = []
    verdicts: list[tuple[Indication, SubIndication]] = []
    if certifying.signer is None or not any(_matches(certifying, authority) for authority in rules.authorities):
        who = certifying.signer.subject if certifying.signer else "an unknown signer"
        failures.append(RuleFailure(rule="certified_copy.signer", message=(
            f"signed by {who}, which is none of the {len(rules.authorities)} configured certifying authorities")))
        verdicts.append((Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE))
    if certifying.modifications not in UNCHANGED:
        failures.append(RuleFailure(rule="certified_copy.unchanged", message=(
            f"the copy changed after it was certified ({certifying.modifications})")))
        verdicts.append((Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE))
    number = _register_number(texts, rules.register_number_pattern)
    if rules.register_number_required and number is None:
        failures.append(RuleFailure(rule="certified_copy.register_number", message=(
            "no certification register number (số chứng thực) in the certifying signature's reason, location, "
            "contact info or name")))
        verdicts.append((Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE))
    return failures, number, (verdicts[0] if verdicts else None)


def _matches(report: SignatureReport, authority: CertifyingAuthority) -> bool:
    signer = report.signer
    if signer is None:
        return False
    if authority.issuer is not None and signer.issuer_attributes.get("CN") != authority.issuer:
        return False
    if any(signer.subject_attributes.get(key) != value for key, value in authority.subject.items()):
        return False
    if authority.policy_oid is not None and authority.policy_oid not in signer.policy_oids:
        return False
    return authority.issuer is not None or bool(authority.subject) or authority.policy_oid is not None


def _register_number(texts: list[str], pattern: str) -> str | None:
    for text in texts:
        if match := re.search(pattern, text):
            return match.group(1) if match.groups() else match.group(0)
    return None
