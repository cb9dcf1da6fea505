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

import aiohttp
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
ID_ATTRIBUTES = {"Id", "ID", "id"}  # and xml:id, whose local name is id: what signxml resolves "#x" by
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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableDocument("XML in UTF-16: the gateway reads signed XML in UTF-8 only")
    if re.search(rb"<!DOCTYPE|<!ENTITY", data, re.IGNORECASE):
        raise UnreadableDocument("XML with a DOCTYPE or entity declarations is refused "
                                 "(entity expansion and external entities are attack vectors)")
    try:
        root = etree.fromstring(data, etree.XMLParser(**PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        raise UnreadableDocument(f"not well-formed XML: {error}") from None
    if root is None:
        raise UnreadableDocument("empty XML document")
    # Canonicalisation without comments drops comments and a reference to the root ignores what
    # stands beside it: "5<!--x-->0000" reads as 5, a stylesheet instruction changes what is shown
    unsigned = [node for node in root.getroottree().iter() if isinstance(node, etree._Comment | etree._ProcessingInstruction)]
    unsigned += [node for node in root.itersiblings(preceding=True)] + list(root.itersiblings())
    if unsigned:
        raise UnreadableDocument("XML comments and processing instructions are not covered by a signature; "
                                 "signed XML holding them is refused")
    return root


def is_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") or data.startswith((b"\xff\xfe", b"\xfe\xff"))


async def verify_xml(data: bytes, validation: Validation) -> list[SignatureReport]:
    root = parse(data)
    signatures = root.findall(".//ds:Signature", NS) + ([root] if root.tag == f"{{{DS}}}Signature" else [])
    if not signatures:
        raise UnreadableDocument("the XML holds no ds:Signature")
    name = signatures[0].get("Id") or "Signature"
    if len(signatures) > 1:
        return [_failed(name, SubIndication.FORMAT_FAILURE,
                        f"{len(signatures)} ds:Signature elements: only one is accepted (signature wrapping guard)")]
    problem = _structure_problem(root, signatures[0])
    if problem:
        return [_failed(name, SubIndication.FORMAT_FAILURE, f"{problem} (signature wrapping guard)")]
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
        except (etree.LxmlError, TypeError, ValueError, KeyError, AttributeError) as error:
            return [_failed(name, SubIndication.FORMAT_FAILURE, f"malformed signature: {type(error).__name__}: {error}")]
        results = results if isinstance(results, list) else [results]
        return [await _judge(name, root, results, leaf, certificates, validation, xades)]
    return [_failed(name, failure.sub_indication, failure.reasons[0], failure.indication)]


async def _judge(name: str, root, results, leaf: asn1_x509.Certificate, certificates, validation: Validation,
                 xades: bool) -> SignatureReport:
    covered = [result for result in results if not _is_signature_part(result.signed_xml)]
    reasons: list[str] = []
    verdict: Verdict | None = None
    key_problem = key_size_problem(leaf.public_key.algorithm, leaf.public_key.bit_size, validation.settings.algorithms)
    if verdict is None and key_problem:
        verdict = Verdict(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, [key_problem])
    path = None
    if verdict is None:
        verdict, path = await _chain(leaf, certificates, validation)
    if verdict.indication is Indication.TOTAL_PASSED and validation.settings.require_timestamp:
        verdict = Verdict(Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE, [
            "the policy requires a signature timestamp and XML signature timestamps are not verified"])
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
    others = [c for c in certificates if c is not leaf]
    validator = CertificateValidator(leaf, intermediate_certs=others, validation_context=context)
    key_usage = KeyUsageConstraints(key_usage=set(validation.settings.key_usage), match_all_key_usages=False)

    async def validate():
        path = await validator.async_validate_path()
        key_usage.validate(leaf)
        return path

    try:
        path = await validate()
        return await validation.checked_further(Verdict(Indication.TOTAL_PASSED, None, []), leaf, others, None), path
    except (ValidationError, PathError) as error:
        failed = error
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        return Verdict(Indication.INDETERMINATE, SubIndication.TRY_LATER, [
            f"fetching revocation data failed: {type(error).__name__} {error}".strip()]), None
    # certvalidator's errors mapped to sub-indications exactly as pyHanko maps them for PDFs
    outcome = await handle_certvalidator_errors(leaf, _raise(failed))
    verdict = verdict_of(outcome.error_subindic, getattr(failed, "failure_msg", None) or str(failed))
    return await validation.checked_further(verdict, leaf, others, None), outcome.error_path


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
            certificate = asn1_x509.Certificate.load(base64.b64decode("".join((element.text or "").split())))
            certificate.native  # noqa: B018 - parse now (asn1crypto is lazy): a non-certificate fails here
            found.append(certificate)
        except (ValueError, TypeError, KeyError):
            continue
    return found


def _pem(cert: asn1_x509.Certificate) -> str:
    return pem.armor("CERTIFICATE", cert.dump()).decode()


def _structure_problem(root, signature) -> str | None:
    """Why the references cannot be trusted to cover the document, or None.

    signxml resolves "#x" to the element whose Id, ID, id or xml:id is x, wherever it is. So: no
    identifier twice, no external reference, and the document must be covered: URI="" (the
    whole document), a reference to the root element, or, for an enveloping signature (the root
    is the ds:Signature), every ds:Object a direct child of it and covered by a reference.
    """
    identified: dict[str, list] = {}
    for element in root.iter(tag=etree.Element):
        for attribute, value in element.attrib.items():
            if etree.QName(attribute).localname in ID_ATTRIBUTES:
                identified.setdefault(value, []).append(element)
    repeated = sorted(value for value, elements in identified.items() if len(elements) > 1)
    if repeated:
        return f"identifier(s) {', '.join(repeated)} used more than once: a reference could point at either"
    targets = []
    for reference in signature.iterfind("ds:SignedInfo/ds:Reference", NS):
        uri = reference.get("URI")
        if uri is None or uri.startswith("#xpointer"):
            return f"reference URI {uri!r} is not supported"
        if uri == "":
            targets.append(root)
        elif uri.startswith("#") and uri[1:] in identified:
            targets.append(identified[uri[1:]][0])
        else:
            return f"reference {uri!r} points outside the document or at nothing"
    inside = [target for target in targets if target is not root and signature in target.iterancestors()]
    document = [target for target in targets if target not in inside or root is signature]
    if root is signature:  # enveloping
        objects = root.findall(f"{{{DS}}}Object")
        if len(root.findall(f".//{{{DS}}}Object")) != len(objects):
            return "a ds:Object inside another ds:Object"
        unsigned = [obj for obj in objects if not any(target is obj or obj in target.iterancestors() or
                                                      target in obj.iterancestors() for target in targets)]
        if unsigned or not objects:
            return "an enveloping signature whose ds:Object is not covered by a reference"
        return None
    if not any(target is root for target in document):
        parts = ", ".join(etree.QName(target).localname for target in document) or "nothing"
        return f"the signature covers {parts}, not the whole document: content outside it is not protected"
    return None


def _is_signature_part(element) -> bool:
    if not isinstance(element, etree._Element):
        return False
    return element.tag in (f"{{{XADES}}}SignedProperties", f"{{{DS}}}KeyInfo")


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
