"""XML signatures (XML-DSig, XAdES): signed e-forms (tờ khai điện tử).

signxml checks the cryptography and the references; it trusts the web's CAs when given none
and checks neither revocation nor time (research memo §5), so it is given the signer's own
certificate and pyhanko-certvalidator judges the chain, revocation and key usage under the
same policy as PDFs. Guards:
- hostile input: one hardened parser, no DOCTYPE at all (entity bombs, external entities);
- signature wrapping: exactly one ds:Signature, no duplicate Id attributes, and the signature
  must cover the whole document (URI="" or the root element, or an enveloping signature's
  own object); otherwise what a reader sees may not be what was signed.
"""

import base64
import re
from datetime import UTC, datetime

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from lxml import etree
from pyhanko.sign.validation.generic_cms import handle_certvalidator_errors
from pyhanko.sign.validation.policy_decl import bootstrap_validation_data_handlers
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.xades import XAdESVerifier

from gateway.signing.algorithms import key_size_problem
from gateway.signing.certificates import describe
from gateway.signing.report import Indication, SignatureReport, SubIndication, UnreadableDocument
from gateway.signing.validation import Validation, Verdict, verdict_of

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}
PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                      remove_comments=False)


def digest_of(uri: str) -> str | None:
    """The digest an XML-DSig algorithm URI uses, named as in signing.algorithms.digests."""
    fragment = uri.rsplit("#", 1)[-1].lower()
    if match := re.search(r"sha3-(224|256|384|512)", fragment):
        return f"sha3_{match.group(1)}"
    if match := re.search(r"sha(1|224|256|384|512)(?!\d)", fragment):
        return f"sha{match.group(1)}"
    return "md5" if "md5" in fragment else None


def parse(data: bytes) -> etree._Element:
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:65536], re.IGNORECASE):
        raise UnreadableDocument("XML with a DOCTYPE or entity declarations is refused "
                                 "(entity expansion and external entities are attack vectors)")
    try:
        root = etree.fromstring(data, etree.XMLParser(**PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        raise UnreadableDocument(f"not well-formed XML: {error}") from None
    if root is None:
        raise UnreadableDocument("empty XML document")
    return root


def is_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


async def verify_xml(data: bytes, validation: Validation) -> list[SignatureReport]:
    root = parse(data)
    signatures = root.findall(".//ds:Signature", NS) + ([root] if root.tag == f"{{{DS}}}Signature" else [])
    if not signatures:
        raise UnreadableDocument("the XML holds no ds:Signature")
    name = signatures[0].get("Id") or "Signature"
    if len(signatures) > 1:
        return [_failed(name, SubIndication.FORMAT_FAILURE,
                        f"{len(signatures)} ds:Signature elements: only one is accepted (signature wrapping guard)")]
    ids = [element.get("Id") for element in root.iter() if isinstance(element.tag, str) and element.get("Id")]
    if len(ids) != len(set(ids)):
        return [_failed(name, SubIndication.FORMAT_FAILURE,
                        "duplicate Id attributes: a reference could point at either (signature wrapping)")]
    weak = _algorithm_problem(signatures[0], validation)
    if weak:
        return [_failed(name, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, weak, Indication.INDETERMINATE)]
    certificates = _key_info_certificates(signatures[0])
    if not certificates:
        return [_failed(name, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                        "the signature's KeyInfo holds no X509Certificate", Indication.INDETERMINATE)]
    xades = signatures[0].find(".//xades:SignedProperties", NS) is not None
    verifier = XAdESVerifier() if xades else XMLVerifier()
    failure: Verdict | None = None
    for leaf in certificates:
        config = SignatureConfiguration(
            expect_references=True, location=".//" if root.tag != f"{{{DS}}}Signature" else "./",
            # the certificate's validity is judged below with revocation; signxml would refuse an
            # expired certificate before even checking the signature
            verification_time=leaf.not_valid_before,
            signature_methods=frozenset(SignatureMethod), digest_algorithms=frozenset(DigestAlgorithm))
        try:
            results = verifier.verify(data, x509_cert=_pem(leaf), expect_config=config)
        except InvalidDigest as error:
            failure = Verdict(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, [f"content changed after signing: {error}"])
            break
        except (InvalidSignature, InvalidCertificate) as error:
            failure = failure or Verdict(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE,
                                         [f"the signature does not verify with the signer's key: {error}"])
            continue
        except InvalidInput as error:
            return [_failed(name, SubIndication.FORMAT_FAILURE, f"malformed signature: {error}")]
        except etree.LxmlError as error:
            return [_failed(name, SubIndication.FORMAT_FAILURE, f"malformed signature: {error}")]
        results = results if isinstance(results, list) else [results]
        return [await _judge(name, root, results, leaf, certificates, validation, xades)]
    return [_failed(name, failure.sub_indication, failure.reasons[0], failure.indication)]


async def _judge(name: str, root, results, leaf: asn1_x509.Certificate, certificates, validation: Validation,
                 xades: bool) -> SignatureReport:
    covered = [result for result in results if not _is_signature_part(result.signed_xml)]
    reasons: list[str] = []
    verdict: Verdict | None = None
    whole = [result for result in covered if _covers_document(result.signed_xml, root)]
    if not whole:
        parts = ", ".join(etree.QName(result.signed_xml).localname for result in covered) or "nothing"
        verdict = Verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, [(
            f"the signature covers {parts}, not the whole document: content outside it is not protected "
            "(signature wrapping guard)")])
    key_problem = key_size_problem(leaf.public_key.algorithm, leaf.public_key.bit_size, validation.settings.algorithms)
    if verdict is None and key_problem:
        verdict = Verdict(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, [key_problem])
    path = None
    if verdict is None:
        verdict, path = await _chain(leaf, certificates, validation)
    signing_time = _xades_signing_time(root) if xades else None
    if root.find(".//xades:SignatureTimeStamp", NS) is not None:
        reasons.append("the XAdES signature timestamp is not verified: the signature is judged at the validation time")
    chain = [describe(cert) for cert in path.iter_certs(include_root=True)][::-1] if path is not None else []
    return SignatureReport(
        kind="signature", name=name, indication=verdict.indication, sub_indication=verdict.sub_indication,
        reasons=[*verdict.reasons, *reasons], signer=describe(leaf), chain=chain,
        trust_anchor=chain[-1] if chain else None, claimed_signing_time=signing_time,
        best_signature_time=datetime.now(UTC),
        digest_algorithm=", ".join(sorted({str(digest_of(m.get("Algorithm") or ""))
                                          for m in root.iter(f"{{{DS}}}DigestMethod")})),
        signature_algorithm=", ".join((m.get("Algorithm") or "").rsplit("#", 1)[-1]
                                      for m in root.iter(f"{{{DS}}}SignatureMethod")),
        coverage=", ".join(_describe_element(result.signed_xml) for result in covered))


async def _chain(leaf: asn1_x509.Certificate, certificates, validation: Validation):
    spec = validation.spec()
    context: ValidationContext = spec.cert_validation_policy.build_validation_context(
        timing_info=ValidationTimingInfo.now(), handlers=bootstrap_validation_data_handlers(spec))
    validator = CertificateValidator(leaf, intermediate_certs=[c for c in certificates if c is not leaf],
                                     validation_context=context)
    key_usage = KeyUsageConstraints(key_usage=set(validation.settings.key_usage), match_all_key_usages=False)

    async def validate():
        path = await validator.async_validate_path()
        key_usage.validate(leaf)
        return path

    try:
        return Verdict(Indication.TOTAL_PASSED, None, []), await validate()
    except (ValidationError, PathError) as error:
        failed = error
    # certvalidator's errors mapped to sub-indications exactly as pyHanko maps them for PDFs
    outcome = await handle_certvalidator_errors(leaf, _raise(failed))
    return verdict_of(outcome.error_subindic, getattr(failed, "failure_msg", None) or str(failed)), outcome.error_path


async def _raise(error: Exception):
    raise error


def _algorithm_problem(signature, validation: Validation) -> str | None:
    allowed = set(validation.settings.algorithms.digests)
    for element in [*signature.iter(f"{{{DS}}}SignatureMethod"), *signature.iter(f"{{{DS}}}DigestMethod")]:
        uri = element.get("Algorithm") or ""
        digest = digest_of(uri)
        if digest is None:
            return f"unknown algorithm {uri}"
        if digest not in allowed:
            return f"algorithm {uri} is not allowed ({digest})"
    return None


def _key_info_certificates(signature) -> list[asn1_x509.Certificate]:
    found = []
    for element in signature.iterfind("./ds:KeyInfo//ds:X509Certificate", NS):
        try:
            found.append(asn1_x509.Certificate.load(base64.b64decode("".join((element.text or "").split()))))
        except ValueError:
            continue
    return found


def _pem(cert: asn1_x509.Certificate) -> str:
    return pem.armor("CERTIFICATE", cert.dump()).decode()


def _is_signature_part(element) -> bool:
    if not isinstance(element, etree._Element):
        return False
    return element.tag in (f"{{{XADES}}}SignedProperties", f"{{{DS}}}KeyInfo")


def _covers_document(signed, root) -> bool:
    if not isinstance(signed, etree._Element):
        return False
    if root.tag == f"{{{DS}}}Signature":  # enveloping: the signed data is the signature's own ds:Object
        return signed.tag == f"{{{DS}}}Object" or _local_path(signed) == _local_path(root)
    return _local_path(signed) == _local_path(root) and signed.get("Id") == root.get("Id")


def _local_path(element) -> str:
    return etree.QName(element).text


def _describe_element(element) -> str:
    if not isinstance(element, etree._Element):
        return "binary data"
    identifier = element.get("Id")
    return etree.QName(element).localname + (f" (Id {identifier})" if identifier else "")


def _xades_signing_time(root) -> datetime | None:
    element = root.find(".//xades:SigningTime", NS)
    if element is None or not element.text:
        return None
    try:
        return datetime.fromisoformat(element.text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _failed(name: str, sub: SubIndication | None, reason: str, indication: Indication = Indication.TOTAL_FAILED) -> SignatureReport:
    return SignatureReport(kind="signature", name=name, indication=indication, sub_indication=sub, reasons=[reason])
