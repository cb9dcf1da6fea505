"""One ministry service, as configuration makes it: its WSDL contract, its mapping specs and
its operations (submit, status, result) as calls that take and give the gateway's own data.

    submit request spec   {"dossier": <canonical dossier>}               -> the operation's input
    submit reply spec     {"reply": <output>, "dossier_code"}            -> ministry/submit-reply
    status request spec   {"dossier_code", "receipt_number"}             -> the operation's input
    status reply spec     {"reply": <output>, "dossier_code"}            -> ministry/status-report
    (result: as status; its report's `result` is added to the status report)
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from zeep import exceptions as zeep_errors
from zeep.wsse.username import UsernameToken

from gateway.connectors.ministry.config import MinistryOptions, credential_or_fail, ministry_options
from gateway.connectors.ministry.safe_xml import MalformedXml, UnsafeXml, declares_dtd
from gateway.connectors.ministry.wsdl import ContractError, ServiceContract, async_transport, plain
from gateway.domain import Dossier, DossierStatus
from gateway.mappings.errors import SpecProblems
from gateway.mappings.spec import MappingSpec, load_spec, resolve_spec_folder
from gateway.reliability.errors import PermanentError, TransientError
from gateway.runtime.config import InvalidSettings, PartnerSettings

log = logging.getLogger(__name__)


class MinistryRefused(PermanentError):
    """The ministry answered, and refused (its reason is the message)."""


@dataclass(frozen=True)
class OperationSpecs:
    name: str
    request: MappingSpec
    reply: MappingSpec


class MinistryService:
    def __init__(self, name: str, settings: PartnerSettings, *, calls: bool = False) -> None:
        """Load the WSDL and the specs; `calls`: ready to call the service (async transport, WS-Security)."""
        self.name = name
        self.settings = settings
        self.options: MinistryOptions = ministry_options(name, settings)
        folder = resolve_spec_folder(settings.mapping)
        operations = self.options.operations
        self.submit_op = self._specs(folder, operations.submit)
        self.status_op = self._specs(folder, operations.status) if operations.status else None
        self.result_op = self._specs(folder, operations.result) if operations.result else None
        self._proxy = None
        transport = async_transport(settings.timeout_s) if calls else None
        try:
            self.contract = ServiceContract(self.options.wsdl_location(), self.options.service, self.options.port,
                                            transport=transport, wsse=self._wsse() if calls else None)
            for operation in (self.submit_op, self.status_op, self.result_op):
                if operation is not None:
                    self.contract.operation(operation.name)
        except ContractError as error:
            raise InvalidSettings([f"partners.{name}.options.wsdl: {error}"]) from None

    @property
    def title(self) -> str:
        return self.options.shown_name

    def _specs(self, folder: Path, operation) -> OperationSpecs:
        specs = {}
        for role in ("request", "reply"):
            path = folder / getattr(operation, role)
            try:
                specs[role] = load_spec(path)
            except SpecProblems as problems:
                raise InvalidSettings([f"partners.{self.name}.mapping ({path}): {problem}"
                                       for problem in problems.problems]) from None
        return OperationSpecs(operation.name, specs["request"], specs["reply"])

    def _wsse(self) -> UsernameToken | None:
        security = self.options.ws_security
        if security is None:
            return None
        password = credential_or_fail(self.name, self.settings, "password")
        return UsernameToken(security.username, password, use_digest=security.digest)

    @property
    def connected(self) -> bool:
        return self._proxy is not None

    def connect(self, endpoint: str) -> None:
        """Aim the calls at `endpoint` (the configured one, or the simulator's)."""
        self._proxy = self.contract.proxy(endpoint)

    # The three operations, in the gateway's words.

    def submit_values(self, dossier: Dossier) -> dict[str, Any]:
        values = self.submit_op.request.map({"dossier": dossier.model_dump(mode="json")})
        if self.options.validate_requests:
            self.contract.check_request(self.submit_op.name, values)
        return values

    async def submit(self, dossier: Dossier) -> tuple[dict[str, Any], dict[str, Any]]:
        """Send the dossier; returns (what was sent, the submit reply). A refusal raises MinistryRefused."""
        values = self.submit_values(dossier)
        output = await self.call(self.submit_op.name, values)
        reply = self.submit_op.reply.map({"reply": output, "dossier_code": dossier.code})
        if not reply["accepted"]:
            raise MinistryRefused(f"{self.title} từ chối hồ sơ: {reply.get('reason') or 'không nêu lý do'}",
                                  code=str(reply.get("code", "")))
        return values, reply

    async def status(self, dossier_code: str, receipt_number: str | None) -> dict[str, Any]:
        """The ministry's status report of the dossier (ok false: the ministry's error); once it is
        processed, with the result fetched by the result operation when there is one."""
        report = await self._ask(self.status_op, dossier_code, receipt_number)
        return await self.with_result(report, dossier_code, receipt_number)

    async def with_result(self, report: dict[str, Any], dossier_code: str, receipt_number: str | None) -> dict[str, Any]:
        """The report with its result document fetched, when it is processed and has none yet."""
        if self.awaits_result(report):
            result = await self._ask(self.result_op, dossier_code, receipt_number)
            if result.get("ok") and result.get("result"):
                report = {**report, "result": result["result"]}
        return report

    def awaits_result(self, report: dict[str, Any]) -> bool:
        """Processed, a result operation is configured, and the report has no result yet."""
        return bool(report.get("ok") and self.result_op and report.get("status") == DossierStatus.PROCESSED
                    and not report.get("result"))

    async def _ask(self, operation: OperationSpecs, dossier_code: str, receipt_number: str | None) -> dict[str, Any]:
        values = operation.request.map({"dossier_code": dossier_code, "receipt_number": receipt_number})
        if self.options.validate_requests:
            self.contract.check_request(operation.name, values)
        output = await self.call(operation.name, values)
        return operation.reply.map({"reply": output, "dossier_code": dossier_code})

    def read_callback(self, content: bytes) -> dict[str, Any]:
        """A status callback (the status operation's output in a SOAP envelope) as a status report."""
        output = self.contract.read_output(self.status_op.name, content, what=f"{self.name} callback")
        return self.status_op.reply.map({"reply": output, "dossier_code": None})

    async def call(self, operation: str, values: dict[str, Any]) -> Any:
        """One SOAP call; the answer as plain data. Unsafe or broken XML becomes a clear PartnerError;
        faults and HTTP errors go up as they are, for errors.classify and the partner's rules."""
        try:
            result = await getattr(self._proxy, operation)(**values)
        except (zeep_errors.DTDForbidden, zeep_errors.EntitiesForbidden, zeep_errors.ExternalReferenceForbidden) as error:
            raise UnsafeXml(f"{self.name} {operation}: answer refused, it declares a DTD or entities "
                            f"(XXE / entity expansion): {type(error).__name__}", code="unsafe-xml") from None
        except (zeep_errors.XMLSyntaxError, etree.XMLSyntaxError) as error:
            raise MalformedXml(f"{self.name} {operation}: the answer is not a SOAP envelope: {error}",
                               code="malformed-xml") from None
        except zeep_errors.Fault as fault:
            raise zeep_errors.Fault(f"{self.name} {operation}: SOAP fault {fault.code}: {fault.message}",
                                    code=fault.code, actor=fault.actor, detail=fault.detail,
                                    subcodes=fault.subcodes) from None
        except zeep_errors.TransportError as error:
            content = error.content or b""
            if declares_dtd(content):
                raise UnsafeXml(f"{self.name} {operation}: answer refused, it declares a DTD or entities "
                                "(XXE / entity expansion)", code="unsafe-xml") from None
            if error.status_code < 400:  # zeep's way of saying the answer did not parse
                raise MalformedXml(f"{self.name} {operation}: the answer is not well-formed XML: "
                                   f"{content[:200]!r}", code="malformed-xml") from None
            raise httpx.HTTPStatusError(
                f"{self.name} {operation}: HTTP {error.status_code}: {str(error.content or b'')[:200]}",
                request=httpx.Request("POST", "ministry"),
                response=httpx.Response(error.status_code)) from None
        except zeep_errors.ValidationError as error:
            # Requests were checked against the XSD before sending: this is the answer.
            raise TransientError(f"{self.name} {operation}: the answer does not match the WSDL: {error}",
                                 code="invalid-answer") from None
        return plain(result)

