"""A ministry service's contract, read from its WSDL: the operations, the XSD that checks each
message, and the means to build or read a message offline. The connector, its simulator and
`gateway soap check` all start from here; nothing else reads a WSDL.

zeep loads the WSDL (hardened: no DTD, no entities, no external references); lxml compiles the
schemas it names (inline in wsdl:types, or imported .xsd files) so a message can be checked
against the ministry's own rules (lengths, patterns, enumerations), which zeep does not check.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import zeep
from lxml import etree
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy, ServiceProxy
from zeep.transports import AsyncTransport, Transport

from gateway.connectors.ministry.safe_xml import UnsafeXml, declares_dtd, parse, zeep_settings

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
_INLINE = "inline-schema:"


class ContractError(ValueError):
    """The WSDL or its schemas cannot be used: start-up stops and says why."""


class MessageInvalid(ValueError):
    """A message breaks the service's XSD (permanent: a dossier that cannot be sent as mapped, a bad callback)."""

    def __init__(self, operation: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{operation}: the message does not satisfy the WSDL's schema: " + "; ".join(problems))


@dataclass(frozen=True)
class OperationInfo:
    name: str
    input_element: str
    output_element: str
    soap_action: str
    signature: str  # zeep's description of the input, for people


class ServiceContract:
    """The WSDL of one ministry service, loaded once."""

    def __init__(self, location: str, service: str | None = None, port: str | None = None,
                 transport: Transport | None = None, wsse: Any = None) -> None:
        """With an AsyncTransport the contract can also call the service (`proxy`)."""
        self.location = location
        client_class = zeep.AsyncClient if isinstance(transport, AsyncTransport) else zeep.Client
        # A local WSDL never reaches the network; one given by URL may import its schemas from URLs.
        settings = zeep_settings(schemas_from_urls="://" in location)
        try:
            self.client = client_class(location, settings=settings, transport=transport or Transport(), wsse=wsse)
        except (OSError, etree.XMLSyntaxError, zeep.exceptions.Error, httpx.HTTPError) as error:
            raise ContractError(f"cannot load WSDL {location}: {type(error).__name__}: {error}") from None
        self.binding, self.address = self._port(service, port)
        self.schema = _compile_schemas(location)

    def _port(self, service_name: str | None, port_name: str | None):
        services = self.client.wsdl.services
        if service_name is None:
            if len(services) != 1:
                raise ContractError(f"{self.location} has {len(services)} services ({', '.join(services)}): "
                                    "set options.service")
            service = next(iter(services.values()))
        elif service_name not in services:
            raise ContractError(f"{self.location} has no service {service_name} (it has {', '.join(services)})")
        else:
            service = services[service_name]
        ports = {name: port for name, port in service.ports.items() if hasattr(port.binding, "process_reply")}
        if port_name is not None and port_name not in ports:
            raise ContractError(f"service {service.name} has no SOAP port {port_name} (it has {', '.join(ports)})")
        if not ports:
            raise ContractError(f"service {service.name} has no SOAP port")
        port = ports[port_name] if port_name else next(iter(ports.values()))
        return port.binding, port.binding_options.get("address")

    def proxy(self, endpoint: str):
        """The service at `endpoint` (not the WSDL's soap:address), for calls."""
        proxy_class = AsyncServiceProxy if isinstance(self.client, zeep.AsyncClient) else ServiceProxy
        return proxy_class(self.client, self.binding, address=endpoint)

    def operations(self) -> list[OperationInfo]:
        found = []
        for name, operation in sorted(self.binding._operations.items()):
            found.append(OperationInfo(
                name=name, input_element=_element_name(operation.input), output_element=_element_name(operation.output),
                soap_action=operation.soapaction or "", signature=operation.input.signature(as_output=False)))
        return found

    def operation(self, name: str):
        try:
            return self.binding._operations[name]
        except KeyError:
            raise ContractError(f"{self.location} has no operation {name} (it has "
                                f"{', '.join(sorted(self.binding._operations))})") from None

    def request_envelope(self, operation: str, values: dict[str, Any]) -> etree._Element:
        """The envelope zeep would send for `values` (no network)."""
        try:
            return self.operation(operation).input.serialize(**values).content
        except (TypeError, ValueError, zeep.exceptions.Error) as error:
            raise MessageInvalid(operation, [f"{type(error).__name__}: {error}"]) from None

    def check_request(self, operation: str, values: dict[str, Any]) -> etree._Element:
        """Build the request and check its body against the XSD; raises MessageInvalid naming each problem."""
        envelope = self.request_envelope(operation, values)
        self.check_body(operation, envelope)
        return envelope

    def check_body(self, operation: str, envelope: etree._Element) -> None:
        body = body_element(envelope)
        if body is None:
            raise MessageInvalid(operation, ["the envelope has an empty Body"])
        if not self.schema.validate(body):
            raise MessageInvalid(operation, [error.message for error in self.schema.error_log])

    def response_envelope(self, operation: str, values: dict[str, Any]) -> bytes:
        """An answer to `operation` with `values`, as a ministry would send it (for the simulator)."""
        envelope = self.operation(operation).output.serialize(**values).content
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def read_output(self, operation: str, content: bytes, *, what: str) -> dict[str, Any]:
        """An operation's output (a reply or a callback) from untrusted bytes, as plain data."""
        envelope = parse(content, what=what)
        if envelope.tag.rpartition("}")[0].lstrip("{") not in SOAP_ENVELOPES:
            raise ValueError(f"{what}: not a SOAP envelope (root element {envelope.tag})")
        self.check_body(operation, envelope)
        return plain(self.operation(operation).process_reply(envelope))

    def request_values(self, operation: str, envelope: etree._Element) -> dict[str, Any]:
        """The values of a request envelope (for the simulator)."""
        return plain(self.operation(operation).input.deserialize(envelope))

    def operation_of(self, envelope: etree._Element) -> str | None:
        """Which operation a request envelope calls, by its body element."""
        body = body_element(envelope)
        if body is None:
            return None
        for name, operation in self.binding._operations.items():
            if _element_qname(operation.input) == body.tag:
                return name
        return None


def async_transport(timeout_s: float) -> AsyncTransport:
    """zeep's async transport (httpx); the WSDL is already loaded, so its sync client stays idle."""
    return AsyncTransport(client=httpx.AsyncClient(timeout=timeout_s), wsdl_client=httpx.Client(timeout=timeout_s))


def body_element(envelope: etree._Element) -> etree._Element | None:
    for namespace in SOAP_ENVELOPES:
        body = envelope.find(f"{{{namespace}}}Body")
        if body is not None:
            return next(iter(body), None)
    return None


def plain(value: Any) -> Any:
    """zeep objects as dicts and lists; dates and numbers as JSON text would carry them."""
    data = serialize_object(value, dict)
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if not key.startswith("_")}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # Decimal and the like


def _element_qname(message) -> str | None:
    element = getattr(getattr(message, "body", None), "qname", None)
    return element.text if element is not None else None


def _element_name(message) -> str:
    qname = _element_qname(message)
    return etree.QName(qname).localname if qname else "?"


def _compile_schemas(location: str) -> etree.XMLSchema:
    """One XMLSchema over every schema the WSDL carries or imports."""
    wsdl_bytes = _fetch(location)
    definitions = parse(wsdl_bytes, what=f"WSDL {location}")
    inline: dict[str, bytes] = {}
    imports: list[tuple[str, str]] = []
    for index, schema in enumerate(definitions.iterfind(f"{{{WSDL}}}types/{{{XSD}}}schema")):
        namespace = schema.get("targetNamespace")
        if namespace and len(schema):
            inline[f"{_INLINE}{index}"] = etree.tostring(schema)
            imports.append((namespace, f"{_INLINE}{index}"))
        for imported in schema.iterfind(f"{{{XSD}}}import"):
            if imported.get("schemaLocation") and imported.get("namespace") not in dict(imports):
                imports.append((imported.get("namespace"), urljoin(_as_url(location), imported.get("schemaLocation"))))
    if not imports:
        raise ContractError(f"{location} carries no schema (wsdl:types is empty)")
    master = (f'<xs:schema xmlns:xs="{XSD}">'
              + "".join(f'<xs:import namespace="{ns}" schemaLocation="{where}"/>' for ns, where in imports)
              + "</xs:schema>").encode()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_SchemaResolver(inline, location))
    try:
        return etree.XMLSchema(etree.fromstring(master, parser, base_url=_as_url(location)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as error:
        raise ContractError(f"the schemas of {location} do not compile: {error}") from None


class _SchemaResolver(etree.Resolver):
    """Serves inline schemas from memory, remote ones through httpx; nothing else leaves the process."""

    def __init__(self, inline: dict[str, bytes], location: str) -> None:
        super().__init__()
        self.inline = inline
        self.location = location

    def resolve(self, url, public_id, context):
        if url in self.inline:
            return self.resolve_string(self.inline[url], context, base_url=_as_url(self.location))
        content = _fetch(url)
        if declares_dtd(content):
            raise UnsafeXml(f"schema {url}: refused, it declares a DTD or entities", code="unsafe-xml")
        return self.resolve_string(content, context, base_url=url)


def _as_url(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def _fetch(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        response = httpx.get(location, timeout=30)
        response.raise_for_status()
        return response.content
    path = Path(location.removeprefix("file://")) if location.startswith("file://") else Path(location)
    try:
        return path.read_bytes()
    except OSError as error:
        raise ContractError(f"cannot read {location}: {error.strerror}") from None
