"""Sample documents for signature tests and benchmarks, signed with a `TestPki`.

PDF (PAdES) and CMS signatures are made with pyHanko's async API only: its sync wrappers call
`asyncio.run()` and fail inside a running event loop. Other signers are independent
implementations on purpose, so the verifier is not only tested against pyHanko's own output:
`openssl cms -sign` for CMS, `xmlsec1 --sign` and signxml for XML-DSig / XAdES. Also here:
tampered, forged and hostile inputs (signature wrapping, entity expansion, external entities,
garbage, truncation, PDFs with huge object counts or deep nesting).
"""

from __future__ import annotations

import copy
import io
import random
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner
from signxml.xades import XAdESSigner

from gateway.signing.testing.pki import Issued, TestPki

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EFORM_NS = "urn:vn:gov:dvc:tokhai"
FEE = "50000"
"""The fee (LePhi) in `sample_eform`; `tamper_xml_value` and `wrap_attack` change it."""

_SUBPROCESS_TIMEOUT = 60
# A parser that neither expands entities nor touches the network or the file system.
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


# ---- PDF ---------------------------------------------------------------------------------------


def _pdf_text(text: str) -> bytes:
    """`text` as the body of a PDF literal string for the standard Helvetica font: its
    encoding has no Vietnamese letters, so diacritics are dropped (đ -> d) for display."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    raw = plain.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def plain_pdf(text: str = "Bản sao chứng thực / certified copy", pages: int = 1) -> bytes:
    """An unsigned PDF of `pages` A4 pages showing `text` in uncompressed content streams
    (so `flip_signed_byte` can find and change it). The full Unicode text is the /Title."""
    if pages < 1:
        raise ValueError("a PDF needs at least one page")
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
    }))
    resources = generic.DictionaryObject({
        pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font}),
    })
    for number in range(1, pages + 1):
        content = b"BT /F1 12 Tf 72 770 Td (%s) Tj 0 -18 Td (Page %d of %d) Tj ET" % (
            _pdf_text(text), number, pages,
        )
        page = PageObject(
            contents=writer.add_object(generic.StreamObject(stream_data=content)),
            media_box=[0, 0, 595, 842],
            resources=resources,
        )
        writer.insert_page(page)
    writer.set_info(generic.DictionaryObject({pdf_name("/Title"): pdf_string(text)}))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def _aclose(context: ValidationContext) -> None:
    # the context owns the aiohttp session it fetched with; older versions have no aclose
    close = getattr(context, "aclose", None)
    if close is not None:
        await close()


async def sign_pdf(
    pdf: bytes,
    pki: TestPki,
    signer: str = "valid",
    *,
    certify: bool = False,
    docmdp: MDPPerm = MDPPerm.NO_CHANGES,
    timestamp: bool = True,
    md_algorithm: str = "sha256",
    field_name: str = "Signature1",
    reason: str | None = None,
    location: str | None = None,
    embed_validation_info: bool = False,
    lta: bool = False,
    signer_obj: signers.Signer | None = None,
) -> bytes:
    """Sign `pdf` (PAdES, incremental update) with the leaf `signer`, or with `signer_obj` when
    given (e.g. `pki.mismatched_signer(...)`).

    certify: a certification (author) signature with DocMDP permission `docmdp`.
    timestamp: a signature time-stamp from the PKI's TSA (B-T; B-B without).
    reason: the /Reason entry, used to carry e.g. "Số chứng thực: 123/2026/SCT-BS".
    embed_validation_info: fetch OCSP/CRL now and store them in the DSS (B-LT).
    lta: B-LT plus a document time-stamp (B-LTA); implies embed_validation_info.
    """
    if lta and not timestamp:
        raise ValueError("PAdES B-LTA needs timestamp=True")
    embed = embed_validation_info or lta
    context = None
    if embed:
        # the revocation data to embed must come from our PKI alone, never OS trust
        context = ValidationContext(
            trust_roots=[pki.root.asn1_cert], allow_fetching=True, revocation_mode="require"
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=md_algorithm,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify,
        reason=reason,
        location=location,
        embed_validation_info=embed,
        use_pades_lta=lta,
        validation_context=context,
        # DocMDP permissions only mean something on a certification signature
        **({"docmdp_permissions": docmdp} if certify else {}),
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=signer_obj or pki.signer(signer),
        timestamper=HTTPTimeStamper(pki.tsa_url) if timestamp else None,
    )
    output = io.BytesIO()
    try:
        await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=output)
    finally:
        if context is not None:
            await _aclose(context)
    return output.getvalue()


async def add_document_timestamp(pdf: bytes, pki: TestPki) -> bytes:
    """Append a document time-stamp (/DocTimeStamp) from the PKI's TSA."""
    output = io.BytesIO()
    await PdfTimeStamper(HTTPTimeStamper(pki.tsa_url)).async_timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), md_algorithm="sha256", output=output
    )
    return output.getvalue()


def modify_after_signing(pdf: bytes, text: str = "Modified after signing") -> bytes:
    """An incremental update replacing page 1's /Contents with other text: every existing
    signature stays intact but pyHanko reports modification_level OTHER."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    content = b"BT /F1 12 Tf 72 770 Td (%s) Tj ET" % _pdf_text(text)
    page[pdf_name("/Contents")] = writer.add_object(generic.StreamObject(stream_data=content))
    writer.update_container(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def add_annotation_after_signing(pdf: bytes, comment: str = "Ghi chú sau khi ký") -> bytes:
    """An incremental update adding a sticky-note (/Text) annotation to page 1. pyHanko 0.38's
    default diff policy has no rule for non-widget annotations yet, so it reports this as
    modification_level OTHER (not ANNOTATIONS), even under a DocMDP ANNOTATE permission."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    annotation = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/Text"),
        pdf_name("/Rect"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (72, 600, 92, 620)]
        ),
        pdf_name("/Contents"): pdf_string(comment),
        pdf_name("/P"): page_ref,
        pdf_name("/F"): generic.NumberObject(4),  # print
    }))
    existing = page.get("/Annots")
    annotations = list(existing.get_object()) if existing is not None else []
    page[pdf_name("/Annots")] = generic.ArrayObject([*annotations, annotation])
    writer.update_container(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_SHOWN_TEXT = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj")


def flip_signed_byte(pdf: bytes) -> bytes:
    """Change one letter of page text inside the first signature's signed byte range (same
    length, so the file still parses and only the digest check fails)."""
    ranges = _BYTE_RANGE.search(pdf)
    if ranges is None:
        raise ValueError("no /ByteRange: the PDF is not signed")
    start, length = int(ranges.group(1)), int(ranges.group(2))
    signed = pdf[start:start + length]
    for shown in _SHOWN_TEXT.finditer(signed):
        for offset, value in enumerate(shown.group(1)):
            if chr(value).isalpha():
                at = start + shown.start(1) + offset
                replacement = b"X" if value != ord("X") else b"Y"
                return pdf[:at] + replacement + pdf[at + 1:]
    raise ValueError("no uncompressed page text in the signed byte range to change")


# ---- CMS ---------------------------------------------------------------------------------------


async def sign_cms(
    data: bytes,
    pki: TestPki,
    signer: str = "valid",
    *,
    detached: bool = True,
    timestamp: bool = True,
    md_algorithm: str = "sha256",
    signer_obj: signers.Signer | None = None,
) -> bytes:
    """A CAdES signature (DER ContentInfo) over `data` made by pyHanko: detached (.p7s) or
    with `data` encapsulated, with a signature time-stamp (CAdES-T) unless `timestamp=False`."""
    content_info = await (signer_obj or pki.signer(signer)).async_sign_general_data(
        data,
        md_algorithm,
        detached=detached,
        use_cades=True,
        timestamper=HTTPTimeStamper(pki.tsa_url) if timestamp else None,
    )
    return content_info.dump()


def _run(command: list[str], cwd: Path, what: str) -> None:
    if shutil.which(command[0]) is None:
        raise RuntimeError(f"{what}: {command[0]} is not installed")
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, timeout=_SUBPROCESS_TIMEOUT, check=False
    )
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {stderr}")


def _write_signer_files(pki: TestPki, signer: str, directory: Path) -> tuple[str, str, str | None]:
    """Write LABEL.pem, LABEL.key and (when the chain has one) the intermediate CA."""
    leaf = pki.issued(signer)
    (directory / f"{signer}.pem").write_bytes(leaf.pem())
    (directory / f"{signer}.key").write_bytes(leaf.key_pem())
    intermediates = pki.chain(signer)[:-1]
    if not intermediates:
        return f"{signer}.pem", f"{signer}.key", None
    (directory / "inter.pem").write_bytes(b"".join(ca.pem() for ca in intermediates))
    return f"{signer}.pem", f"{signer}.key", "inter.pem"


def openssl_cms(
    data: bytes,
    pki: TestPki,
    signer: str,
    workdir: Path,
    *,
    attached: bool = False,
    cades: bool = False,
    pss: bool = False,
    md: str = "sha256",
) -> bytes:
    """A CMS signature (DER) over `data` made by `openssl cms -sign -binary` with the leaf
    `signer` and its intermediate: detached unless `attached`, `-cades` adds
    signingCertificateV2, `pss` uses RSASSA-PSS. Files go to a temporary folder in `workdir`."""
    if pss and not isinstance(pki.issued(signer).key, rsa.RSAPrivateKey):
        raise ValueError(f"RSASSA-PSS needs an RSA key; {signer!r} is not RSA")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="openssl-cms-") as folder:
        directory = Path(folder)
        cert, key, intermediates = _write_signer_files(pki, signer, directory)
        (directory / "doc.bin").write_bytes(data)
        command = ["openssl", "cms", "-sign", "-binary"]  # -binary: no S/MIME line endings
        if attached:
            command.append("-nodetach")
        if cades:
            command.append("-cades")
        command += ["-in", "doc.bin", "-signer", cert, "-inkey", key]
        if intermediates:
            command += ["-certfile", intermediates]
        command += ["-md", md]
        if pss:
            command += ["-keyopt", "rsa_padding_mode:pss"]
        command += ["-outform", "DER", "-out", "signed.p7s"]
        _run(command, directory, "openssl cms -sign")
        return (directory / "signed.p7s").read_bytes()


# ---- XML ---------------------------------------------------------------------------------------


def sample_eform() -> bytes:
    """A small e-form (tờ khai) of a public-service dossier, UTF-8 with an XML declaration."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ToKhai xmlns="{EFORM_NS}">'
        "<MaHoSo>000.00.00.H29-260101-0001</MaHoSo>"
        "<HoTen>Nguyễn Văn A</HoTen>"
        f"<LePhi>{FEE}</LePhi>"
        "</ToKhai>"
    ).encode()


def _parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, parser=_SAFE_PARSER)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


_DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _signature_method_uri(key: object, md: str) -> str:
    if md not in _DIGEST_URIS:
        raise ValueError(f"unsupported digest {md!r}; known: {', '.join(_DIGEST_URIS)}")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"http://www.w3.org/2001/04/xmldsig-more#ecdsa-{md}"
    if md == "sha1":
        return "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    return f"http://www.w3.org/2001/04/xmldsig-more#rsa-{md}"


def _ds(tag: str) -> str:
    return f"{{{DS_NS}}}{tag}"


def _signature_template(uri: str, transforms: list[str], method: str, digest: str):
    signature = etree.Element(_ds("Signature"), nsmap={"ds": DS_NS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=_EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=method)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI=uri)
    transforms_element = etree.SubElement(reference, _ds("Transforms"))
    for transform in transforms:
        etree.SubElement(transforms_element, _ds("Transform"), Algorithm=transform)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=digest)
    etree.SubElement(reference, _ds("DigestValue"))
    etree.SubElement(signature, _ds("SignatureValue"))
    # xmlsec1 fills X509Data with every certificate given after the key (leaf, intermediate)
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    etree.SubElement(key_info, _ds("X509Data"))
    return signature


def _id_target(root: etree._Element, reference_id: str) -> etree._Element:
    """The element with Id=`reference_id`; the root gets that Id when no element has it."""
    found = root.xpath("//*[@Id=$id]", id=reference_id)
    if len(found) > 1:
        raise ValueError(f"Id {reference_id!r} occurs {len(found)} times")
    if found:
        return found[0]
    root.set("Id", reference_id)
    return root


def _id_attr_options(element: etree._Element) -> list[str]:
    """xmlsec1's `--id-attr:Id [namespace:]name` for the element carrying the Id."""
    name = etree.QName(element)
    node = f"{name.namespace}:{name.localname}" if name.namespace else name.localname
    return ["--id-attr:Id", node]


def xmlsec1_sign(
    xml: bytes,
    pki: TestPki,
    signer: str,
    workdir: Path,
    *,
    enveloping: bool = False,
    md: str = "sha256",
    algorithm: str | None = None,
    reference_id: str | None = None,
) -> bytes:
    """XML-DSig made by `xmlsec1 --sign` with the leaf `signer`; KeyInfo/X509Data holds the
    leaf and its intermediate; exclusive c14n; RSA or ECDSA with `md` (`md="sha1"` gives an
    RSA-SHA1 signature with a SHA-1 digest, which signxml refuses to make).

    Enveloped (default): a ds:Signature appended to the root, Reference URI="" with the
    enveloped-signature transform, or URI="#`reference_id`" (the element with that Id, the root
    when none has it). Enveloping: the document inside ds:Object Id=`reference_id` (default
    "obj") referenced by URI="#...". `algorithm` overrides the SignatureMethod URI.
    """
    leaf = pki.issued(signer)
    method = algorithm or _signature_method_uri(leaf.key, md)
    digest = _DIGEST_URIS[md]
    document = _parse(xml)
    options: list[str] = []
    if enveloping:
        object_id = reference_id or "obj"
        template = _signature_template(f"#{object_id}", [_EXC_C14N], method, digest)
        data_object = etree.SubElement(template, _ds("Object"), Id=object_id)
        data_object.append(copy.deepcopy(document))
        options += ["--id-attr:Id", f"{DS_NS}:Object"]
        root = template
    else:
        uri = ""
        if reference_id:
            target = _id_target(document, reference_id)
            options += _id_attr_options(target)
            uri = f"#{reference_id}"
        document.append(_signature_template(uri, [_ENVELOPED, _EXC_C14N], method, digest))
        root = document
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="xmlsec1-") as folder:
        directory = Path(folder)
        cert, key, intermediates = _write_signer_files(pki, signer, directory)
        (directory / "template.xml").write_bytes(_serialize(root))
        key_files = ",".join(f for f in (key, cert, intermediates) if f)
        command = ["xmlsec1", "--sign", "--privkey-pem", key_files, *options,
                   "--output", "signed.xml", "template.xml"]
        _run(command, directory, "xmlsec1 --sign")
        return (directory / "signed.xml").read_bytes()


def _signxml_method(leaf: Issued, digest: str) -> SignatureMethod:
    family = "ECDSA" if isinstance(leaf.key, ec.EllipticCurvePrivateKey) else "RSA"
    try:
        return SignatureMethod[f"{family}_{digest.upper()}"]
    except KeyError:
        raise ValueError(f"signxml has no {family} signature method with {digest!r}") from None


def _signxml_certs(pki: TestPki, signer: str) -> list[str]:
    """Leaf and intermediate certificates (PEM) for KeyInfo; the root stays out."""
    chain = [pki.issued(signer), *pki.chain(signer)[:-1]]
    return [issued.pem().decode() for issued in chain]


def signxml_xades(xml: bytes, pki: TestPki, signer: str = "valid") -> bytes:
    """XAdES-BES (enveloped) made by signxml, with leaf and intermediate in KeyInfo. The default
    canonicalisation (C14N 1.1) is kept: with exclusive c14n signxml 5.2 writes a
    SignedProperties digest that neither signxml nor xmlsec1 verifies."""
    leaf = pki.issued(signer)
    xades_signer = XAdESSigner(signature_algorithm=_signxml_method(leaf, "sha256"))
    signed = xades_signer.sign(
        _parse(xml), key=leaf.key_pem(), cert=_signxml_certs(pki, signer)
    )
    return _serialize(signed)


def signxml_enveloped(
    xml: bytes,
    pki: TestPki,
    signer: str,
    *,
    digest: str = "sha256",
    method: SignatureMethod | None = None,
    reference_id: str | None = None,
) -> bytes:
    """Enveloped XML-DSig made by signxml's XMLSigner (C14N 1.1), leaf and intermediate in
    KeyInfo; Reference URI="" or "#`reference_id`" (that Id is put on the root when no element
    has it). signxml refuses SHA-1: use `xmlsec1_sign(..., md="sha1")` for that case."""
    leaf = pki.issued(signer)
    method = method or _signxml_method(leaf, digest)
    if digest.lower() == "sha1" or "SHA1" in method.name:
        raise ValueError("signxml refuses to sign with SHA-1; use xmlsec1_sign(..., md='sha1')")
    document = _parse(xml)
    reference_uri = None
    if reference_id:
        _id_target(document, reference_id)
        reference_uri = f"#{reference_id}"
    xml_signer = XMLSigner(
        signature_algorithm=method, digest_algorithm=DigestAlgorithm[digest.upper()]
    )
    signed = xml_signer.sign(
        document, key=leaf.key_pem(), cert=_signxml_certs(pki, signer),
        reference_uri=reference_uri,
    )
    return _serialize(signed)


def wrap_attack(signed_xml: bytes, forged_fee: str = "0") -> bytes:
    """Signature wrapping (XSW) against a signature whose single Reference points at an Id:
    the signed element is moved, unchanged, into a <PhuLuc> (attachments) element and a forged
    copy without the Id and with LePhi=`forged_fee` takes its place. The result still verifies
    cryptographically (the reference resolves to the moved original), but a reader that looks
    at the document instead of the verifier's signed data sees the forged fee."""
    root = _parse(signed_xml)
    signature = root if etree.QName(root) == etree.QName(DS_NS, "Signature") else root.find(
        f".//{_ds('Signature')}"
    )
    if signature is None:
        raise ValueError("no ds:Signature in the document")
    uris = [r.get("URI", "") for r in signature.iterfind(f"{_ds('SignedInfo')}/{_ds('Reference')}")]
    if len(uris) != 1 or not uris[0].startswith("#"):
        raise ValueError(
            f"wrapping needs exactly one Reference to an Id (URI='#...'), found {uris}; sign "
            "with reference_id=..."
        )
    target = _id_target_existing(root, uris[0][1:])
    forged = copy.deepcopy(target)
    del forged.attrib["Id"]
    for nested in forged.findall(f".//{_ds('Signature')}"):
        nested.getparent().remove(nested)
    fees = forged.xpath(".//*[local-name()='LePhi']")
    if not fees:
        raise ValueError("the signed element has no LePhi to forge")
    for fee in fees:
        fee.text = forged_fee
    namespace = etree.QName(target).namespace
    wrapper_tag = f"{{{namespace}}}PhuLuc" if namespace else "PhuLuc"
    parent = target.getparent()
    if parent is None:  # the signed element is the root: the forged copy becomes the root
        etree.SubElement(forged, wrapper_tag).append(target)
        return _serialize(forged)
    parent.replace(target, forged)
    etree.SubElement(root, wrapper_tag).append(target)
    return _serialize(root)


def _id_target_existing(root: etree._Element, reference_id: str) -> etree._Element:
    found = root.xpath("//*[@Id=$id]", id=reference_id)
    if len(found) != 1:
        raise ValueError(f"expected one element with Id {reference_id!r}, found {len(found)}")
    return found[0]


_FEE_ELEMENT = re.compile(rb"(<(?:[\w.-]+:)?LePhi>)" + FEE.encode() + rb"(</(?:[\w.-]+:)?LePhi>)")


def tamper_xml_value(signed_xml: bytes, new_fee: str = "90000") -> bytes:
    """Change the fee LePhi 50000 -> `new_fee` in place (bytes), leaving the signature as is."""
    tampered, count = _FEE_ELEMENT.subn(rb"\g<1>" + new_fee.encode() + rb"\g<2>", signed_xml)
    if count == 0:
        raise ValueError(f"no <LePhi>{FEE}</LePhi> in the document")
    return tampered


# ---- hostile inputs ----------------------------------------------------------------------------


def xml_bomb(levels: int = 10) -> bytes:
    """Billion laughs: `levels` nested entities, each ten references to the previous one."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE ToKhai [{''.join(entities)}]>\n"
        f'<ToKhai xmlns="{EFORM_NS}"><HoTen>&lol{levels - 1};</HoTen></ToKhai>'
    ).encode()


def xml_external_entity(path: str = "/etc/passwd") -> bytes:
    """An e-form whose HoTen is an external entity: a local file (`path`) or any URL."""
    uri = path if "://" in path else Path(path).absolute().as_uri()
    if '"' in uri:
        raise ValueError("the entity URI cannot contain a double quote")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE ToKhai [<!ENTITY xxe SYSTEM "{uri}">]>\n'
        f'<ToKhai xmlns="{EFORM_NS}"><HoTen>&xxe;</HoTen><LePhi>{FEE}</LePhi></ToKhai>'
    ).encode()


def garbage(n: int = 4096, seed: int = 7) -> bytes:
    """`n` pseudo-random bytes, the same for the same seed."""
    return random.Random(seed).randbytes(n)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` fraction of `data` (a cut-off upload)."""
    if not 0 <= keep <= 1:
        raise ValueError("keep must be between 0 and 1")
    return data[: int(len(data) * keep)]


def _raw_pdf(bodies: Iterable[bytes]) -> bytes:
    """A PDF written byte by byte: object N is the N-th body (object 1 must be the catalog),
    with a classic xref table whose offsets are exact."""
    chunks = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    position = len(chunks[0])
    offsets = []
    for number, body in enumerate(bodies, start=1):
        chunk = b"%d 0 obj\n%s\nendobj\n" % (number, body)
        offsets.append(position)
        chunks.append(chunk)
        position += len(chunk)
    # each xref entry is exactly 20 bytes, including its two-byte end of line
    chunks.append(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    chunks.append(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    chunks.append(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(offsets) + 1, position)
    )
    return b"".join(chunks)


def _one_page(catalog_extra: bytes = b"") -> list[bytes]:
    content = b"BT /F1 12 Tf 72 770 Td (Hostile sample) Tj ET"
    return [
        b"<< /Type /Catalog /Pages 2 0 R%s >>" % catalog_extra,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def huge_object_count_pdf(objects: int = 300_000) -> bytes:
    """A valid one-page PDF with `objects` indirect objects (all but five are null) and an xref
    table to match: about 46 bytes per object, ~14 MB for the default."""
    page = _one_page()
    if objects < len(page):
        raise ValueError(f"objects must be at least {len(page)}")
    return _raw_pdf([*page, *(b"null" for _ in range(objects - len(page)))])


def deeply_nested_pdf(depth: int = 100_000) -> bytes:
    """A valid one-page PDF whose catalog holds an array nested `depth` levels deep."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    return _raw_pdf(_one_page(b" /Nested " + b"[" * depth + b"]" * depth))
