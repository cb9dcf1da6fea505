"""XML from outside, parsed safely: no DTD, no entity expansion, no network, no huge trees.

A ministry's answers and callbacks are parsed here before anything reads them. A document with
a DOCTYPE is refused outright: that is where billion-laughs (entity expansion) and XXE
(external entities) payloads live, and SOAP forbids a DTD anyway (SOAP 1.1 §3, SOAP 1.2 §5).
"""

from lxml import etree
from zeep.settings import Settings as ZeepSettings

from gateway.reliability.errors import PermanentError, TransientError

def zeep_settings(*, schemas_from_urls: bool = False) -> ZeepSettings:
    """What zeep parses every WSDL, XSD and answer with: DTDs and entities refused (zeep raises
    DTDForbidden, EntitiesForbidden); imports from URLs only for a WSDL that came from a URL."""
    return ZeepSettings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=not schemas_from_urls,
                        xml_huge_tree=False)

_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "dtd_validation": False,
                   "huge_tree": False, "remove_comments": True, "remove_pis": True}


class UnsafeXml(PermanentError):
    """The document declares a DTD or entities: refused, never expanded."""


class MalformedXml(TransientError):
    """The document is not well-formed XML (often a cut-off answer): worth another try."""


def declares_dtd(content: bytes) -> bool:
    """Whether the document declares a DTD or entities, in UTF-8 or (by its BOM) UTF-16/32."""
    text = content
    for bom, encoding in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                          (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if content.startswith(bom):
            text = content.decode(encoding, errors="replace").encode()
            break
    upper = text.upper()
    return b"<!DOCTYPE" in upper or b"<!ENTITY" in upper


def parse(content: bytes, *, what: str) -> etree._Element:
    """The root element of `content`; raises UnsafeXml or MalformedXml naming `what`."""
    if declares_dtd(content):
        raise UnsafeXml(f"{what}: refused, the document declares a DTD or entities (XXE / entity expansion)",
                        code="unsafe-xml")
    try:
        root = etree.fromstring(content, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        if any(word in str(error).lower() for word in ("entity", "amplification", "dtd", "doctype")):
            raise UnsafeXml(f"{what}: refused, entity expansion or a DTD ({error})", code="unsafe-xml") from None
        raise MalformedXml(f"{what}: not well-formed XML: {error}", code="malformed-xml") from None
    if root.getroottree().docinfo.doctype:
        raise UnsafeXml(f"{what}: refused, the document declares a DTD", code="unsafe-xml")
    return root
