"""POST /api/v1/ministries/{name}/callback: a ministry service tells the gateway a dossier's
status. The body is a SOAP envelope whose Body holds the status operation's output element
(the same answer a status query gets), so one spec reads both. The answer is a SOAP envelope:

    200  <KetQuaNhan><KetQua>0</KetQua><MoTa>published|duplicate|stale</MoTa></KetQuaNhan>
    4xx/5xx  a SOAP 1.1 Fault (Client: the request is wrong, do not resend as is; Server: try again)

The ministry authenticates with `Authorization: Bearer <token>` (partners.NAME.credentials.
callback_token names the environment variable). The body is parsed with DTDs and entities
refused (XXE, billion laughs) and checked against the WSDL's XSD before anything is read.
"""

import hmac
import logging
import uuid
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from zeep import exceptions as zeep_errors

from gateway.connectors.ministry.config import callback_partners
from gateway.connectors.ministry.reports import StatusReports, UnknownDossier
from gateway.connectors.ministry.service import MinistryService
from gateway.mappings.errors import MappingFailure, OutputInvalid
from gateway.reliability.errors import PartnerError
from gateway.runtime.config import InvalidSettings
from gateway.runtime.roles import RoleContext

log = logging.getLogger(__name__)

CALLBACK_NAMESPACE = "urn:provincial-gateway:ministry-callback:v1"
MAX_BODY_BYTES = 1_000_000
SOAP_XML = "text/xml; charset=utf-8"


def callback_router(context: RoleContext, reports: StatusReports | None) -> APIRouter:
    """`reports` None: no service takes callbacks in this process (every name answers 404)."""
    router = APIRouter(tags=["ministries"])
    services = {} if reports is None else {
        name: MinistryService(name, settings, calls=bool(settings.options.get("operations", {}).get("result")))
        for name, settings in callback_partners(context.settings).items()}
    for name, service in services.items():
        if not _token(service):
            raise InvalidSettings([f"partners.{name}.credentials.{service.options.callback.bearer_credential} must "
                                   "name an environment variable holding the callback token (set, not empty)"])
        if service.result_op is not None:  # a processed dossier's result is fetched, as polling does
            try:
                service.connect(context.endpoint(name))
            except ValueError as error:
                raise InvalidSettings([str(error)]) from None

    @router.post("/api/v1/ministries/{name}/callback", summary="A ministry service reports a dossier's status",
                 response_class=Response,
                 responses={200: {"content": {"text/xml": {}}, "description": "Taken (published, duplicate or stale)"},
                            400: {"description": "SOAP Fault (Client): unsafe, malformed or invalid XML"},
                            401: {"description": "SOAP Fault (Client): missing or wrong bearer token"},
                            404: {"description": "SOAP Fault (Client): no such service, or callbacks are off"},
                            503: {"description": "SOAP Fault (Server): the dossier is not known yet, or Kafka or "
                                                 "the database failed; send again later"}})
    async def ministry_callback(name: str, request: Request) -> Response:
        service = services.get(name)
        if service is None:
            return fault(404, "Client", f"no ministry service '{name}' takes callbacks here")
        expected = _token(service)
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if expected is None or not hmac.compare_digest(offered.encode(), expected.encode()):
            return fault(401, "Client", "missing or wrong bearer token")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return fault(413, "Client", f"the body is larger than {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return fault(413, "Client", f"the body is larger than {MAX_BODY_BYTES} bytes")
        message_id = str(uuid.uuid4())
        try:
            report = service.read_callback(body)
            code = report.get("dossier_code")
            if not code:
                raise ValueError("the callback names no dossier (the status reply spec maps no dossier_code)")
            if not report.get("ok"):
                raise ValueError(f"the callback reports an error: {report.get('reason')}")
            report = await _with_result(service, report, code)
            accepted = await reports.accept(name, service.title, report, dossier_code=code, channel="callback")
        except UnknownDossier as error:
            # Perhaps the ministry answers faster than the gateway noted the submission: send again later.
            await _log(context, name, message_id, body, f"not yet known: {error}")
            return fault(503, "Server", str(error))
        except (PartnerError, MappingFailure, OutputInvalid, ValueError, zeep_errors.Error) as error:
            await _log(context, name, message_id, body, f"refused: {error}")
            return fault(400, "Client", str(error))
        except Exception as error:  # Kafka or the database: nothing was noted, the ministry sends again
            log.exception("%s: callback could not be recorded", name)
            return fault(503, "Server", f"the gateway could not record the callback now ({type(error).__name__}); "
                                        "send it again")
        if accepted.outcome != "published":
            await _log(context, name, message_id, body, f"callback: {accepted.outcome}")
        return Response(_envelope(f"<gw:KetQuaNhan xmlns:gw=\"{CALLBACK_NAMESPACE}\"><gw:KetQua>0</gw:KetQua>"
                                  f"<gw:MoTa>{accepted.outcome}</gw:MoTa></gw:KetQuaNhan>"), media_type=SOAP_XML)

    return router


async def _with_result(service: MinistryService, report: dict, code: str) -> dict:
    """Fetch the result of a processed dossier; when that fails the status goes on without it."""
    try:
        return await service.with_result(report, code, report.get("receipt_number"))
    except Exception as error:  # the status itself is good news the one-stop system should not wait for
        log.warning("%s: result of %s not fetched: %s", service.name, code, error)
        return report


def fault(status: int, code: str, message: str) -> Response:
    """A SOAP 1.1 Fault; `code` Client (do not resend as is), Server (try again) or a full faultcode."""
    code = code if ":" in code else f"soap:{code}"
    return Response(_envelope(f"<soap:Fault><faultcode>{escape(code)}</faultcode><faultstring>{escape(message[:1000])}"
                              "</faultstring></soap:Fault>"), status_code=status, media_type=SOAP_XML)


def _envelope(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            f'envelope/"><soap:Body>{body}</soap:Body></soap:Envelope>').encode()


def _token(service: MinistryService) -> str | None:
    try:
        return service.settings.credential(service.options.callback.bearer_credential) or None
    except (KeyError, LookupError):
        return None


async def _log(context: RoleContext, name: str, message_id: str, body: bytes, outcome: str) -> None:
    await context.message_log.record(direction="in", channel="soap", partner=name, message_id=message_id,
                                     dossier_code="-", payload=body, outcome=outcome)
