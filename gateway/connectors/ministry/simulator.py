"""A ministry service to rehearse against, for any WSDL: it serves the WSDL, checks every
request against its XSD (a SOAP Fault names what is wrong), answers with the values configured
in partners.NAME.options.simulator, walks each dossier through the ministry's statuses over
time, and can call the gateway back with each new status.

Scripts make it misbehave on purpose, per dossier or for any call (POST /_sim/script):
  ok, transient_fault, permanent_fault, refuse, malformed, xxe, billion_laughs, timeout, http_500
Routes:
  POST /                     the service (SOAP 1.1)
  GET  /?wsdl                the WSDL (the schemas it imports beside it: /NAME.xsd)
  GET  /_sim/dossiers        what it holds: receipt, submissions, current status
  POST /_sim/script          {"dossier_code": "X" or "*", "actions": ["transient_fault", "ok"]}
"""

import asyncio
import itertools
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jmespath
from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response

from gateway.connectors.ministry.callback import fault
from gateway.connectors.ministry.safe_xml import MalformedXml, UnsafeXml, parse
from gateway.connectors.ministry.service import MinistryService
from gateway.connectors.ministry.wsdl import MessageInvalid
from gateway.runtime.config import PartnerSettings
from gateway.simulators.faults import FaultProfile
from gateway.runtime.templates import filled
from gateway.simulators.framework import Simulator

log = logging.getLogger(__name__)

SOAP_XML = "text/xml; charset=utf-8"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ACTIONS = {"ok", "transient_fault", "permanent_fault", "refuse", "malformed", "xxe", "billion_laughs", "timeout",
           "http_500"}
XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&x;</soap:Body></soap:Envelope>')
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'.encode()
                             for n in range(1, 10))
                  + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol9;'
                    b'</soap:Body></soap:Envelope>')


@dataclass
class SimulatedDossier:
    code: str
    receipt: str
    submitted_at: float  # monotonic
    submitted_wall: datetime
    submissions: int = 1
    called_back: int = -1  # index of the last status sent back


@dataclass
class Scripts:
    """Actions to play, per dossier code ('*': any call), one per call, in order."""

    queues: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))

    def next_for(self, code: str | None) -> str:
        for key in (code, "*"):
            if key is not None and self.queues.get(key):
                return self.queues[key].popleft()
        return "ok"


class SoapMinistrySimulator(Simulator):
    description = "A ministry service over SOAP, played from its WSDL and partners.NAME.options.simulator."

    def __init__(self, name: str, settings: PartnerSettings, faults: FaultProfile | None = None) -> None:
        super().__init__(faults)
        self.name = name
        self.service = MinistryService(name, settings)
        self.play = self.service.options.simulator
        if self.play is None:
            raise ValueError(f"partners.{name}.options.simulator is needed to simulate this service")
        self._dossier_code = jmespath.compile(self.play.dossier_code)
        self.dossiers: dict[str, SimulatedDossier] = {}
        self.scripts = Scripts()
        self.received: list[tuple[str, str | None]] = []  # (operation, dossier code) in order
        self.rejected: list[str] = []  # why requests were refused (XSD, unsafe XML)
        self._numbers = itertools.count(1)
        self._prefix = "".join(word[0] for word in name.split("_") if word).upper()  # civil_status_birth: CSB
        self._callbacks: asyncio.Task | None = None
        try:  # the ministry's password is set once, as at a real service
            self._password: str | None = settings.credential("password")
        except (KeyError, LookupError):
            self._password = None  # then any password is taken

    # Serving

    def partner_routes(self, router: APIRouter) -> None:
        @router.get("/")
        async def wsdl() -> Response:
            return Response(Path(self.service.contract.location).read_bytes(), media_type=SOAP_XML)

        @router.get("/{name}")
        async def schema(name: str) -> Response:
            """The files the WSDL imports by relative name (Service.xsd), and nothing else."""
            path = Path(self.service.contract.location).parent / Path(name).name
            if path.suffix not in (".xsd", ".wsdl") or not path.is_file():
                return Response(status_code=404)
            return Response(path.read_bytes(), media_type=SOAP_XML)

        @router.post("/")
        async def call(request: Request) -> Response:
            return await self._answer(await request.body())

        @router.get("/_sim/dossiers")
        async def dossiers() -> dict[str, Any]:
            return {code: {"receipt": d.receipt, "submissions": d.submissions, "status": self._status(d)[1]}
                    for code, d in self.dossiers.items()}

        @router.post("/_sim/script")
        async def script(body: dict = Body(...)) -> dict[str, Any]:
            actions = [str(action) for action in body.get("actions", [])]
            unknown = sorted(set(actions) - ACTIONS)
            if unknown:
                raise HTTPException(422, detail=f"unknown actions {unknown}; known: {sorted(ACTIONS)}")
            self.scripts.queues[str(body.get("dossier_code") or "*")].extend(actions)
            return {"queued": len(actions)}

    async def _answer(self, content: bytes) -> Response:
        contract = self.service.contract
        try:
            envelope = parse(content, what="request")
            operation = contract.operation_of(envelope)
            if operation is None:
                raise MessageInvalid("?", ["the Body names no operation of this service"])
            contract.check_body(operation, envelope)
            values = contract.request_values(operation, envelope)
        except (UnsafeXml, MalformedXml, MessageInvalid) as error:
            self.rejected.append(str(error))
            return fault(500, "Client", str(error))
        if problem := self._unauthenticated(envelope):
            self.rejected.append(problem)
            return fault(500, "Client", problem)
        code = self._dossier_code.search(values)
        self.received.append((operation, code))
        action = self.scripts.next_for(code)
        if scripted := await self._misbehave(action):
            return scripted
        if operation == self.service.submit_op.name:
            return self._submit(operation, code, refuse=action == "refuse")
        dossier = self.dossiers.get(code)
        if dossier is None:
            return fault(500, "Client", f"không tìm thấy hồ sơ {code} (no such dossier)")
        return self._respond(operation, self._values(dossier))

    def _unauthenticated(self, envelope) -> str | None:
        """Why the WS-Security UsernameToken is missing or wrong, when the service requires one."""
        security = self.service.options.ws_security
        if security is None:
            return None
        token = envelope.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return "xác thực thất bại: thiếu WS-Security UsernameToken (authentication required)"
        username, password = token.findtext(f"{{{WSSE}}}Username"), token.find(f"{{{WSSE}}}Password")
        expected = self._password
        if username != security.username or password is None:
            return "xác thực thất bại: sai tên đăng nhập (wrong user)"
        if not security.digest and expected is not None and password.text != expected:
            return "xác thực thất bại: sai mật khẩu (wrong password)"
        return None

    async def _misbehave(self, action: str) -> Response | None:
        codes = self.play.fault_codes
        if action == "transient_fault":
            return self._fault(codes["transient"], "Hệ thống đang bận, vui lòng thử lại sau (system busy)")
        if action == "permanent_fault":
            return self._fault(codes["permanent"], "Dữ liệu hồ sơ không hợp lệ: thiếu giấy tờ bắt buộc")
        if action == "malformed":
            return Response(b"<soap:Envelope><soap:Body><unfinished", media_type=SOAP_XML)
        if action == "xxe":
            return Response(XXE, media_type=SOAP_XML)
        if action == "billion_laughs":
            return Response(BILLION_LAUGHS, media_type=SOAP_XML)
        if action == "http_500":
            return Response(b"Internal Server Error", status_code=500, media_type="text/plain")
        if action == "timeout":  # hangs, then gives up without doing anything
            await asyncio.sleep(self.dice.profile.hang_s)
            return Response(b"Gateway Timeout", status_code=504, media_type="text/plain")
        return None

    def _fault(self, code: str, message: str) -> Response:
        return fault(500, code, message)

    def _submit(self, operation: str, code: str | None, *, refuse: bool) -> Response:
        if refuse:
            return self._respond(operation, {"dossier_code": code, "reason": "Hồ sơ không thuộc thẩm quyền giải quyết"},
                                 template=self.play.refusal)
        duplicate = self.stats.record_key(str(code))
        dossier = self.dossiers.get(code)
        if dossier is None:
            number = next(self._numbers)
            dossier = self.dossiers[code] = SimulatedDossier(
                code=code, receipt=f"{self._prefix}-{number:06d}", submitted_at=time.monotonic(),
                submitted_wall=datetime.now(UTC).replace(microsecond=0))
        elif duplicate:
            dossier.submissions += 1
        return self._respond(operation, self._values(dossier))

    def _status(self, dossier: SimulatedDossier) -> tuple[int, str]:
        steps = self.play.statuses
        index = min(len(steps) - 1, int((time.monotonic() - dossier.submitted_at) / self.play.step_s))
        return index, steps[index]

    def _values(self, dossier: SimulatedDossier) -> dict[str, Any]:
        index, status = self._status(dossier)
        changed_at = dossier.submitted_wall + timedelta(seconds=index * self.play.step_s)
        return {"dossier_code": dossier.code, "receipt": dossier.receipt, "status": status, "step": index + 1,
                "changed_at": changed_at.isoformat(), "reason": ""}

    def _respond(self, operation: str, values: dict[str, Any], template: dict[str, Any] | None = None) -> Response:
        template = self.play.responses.get(operation, {}) if template is None else template
        body = self.service.contract.response_envelope(operation, filled(template, values))
        return Response(body, media_type=SOAP_XML)

    # Calling back

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        if self.play.callback:
            self._callbacks = asyncio.create_task(self._call_back_forever(), name=f"{self.name} callbacks")

    async def stop(self) -> None:
        if self._callbacks is not None:
            self._callbacks.cancel()
            await asyncio.gather(self._callbacks, return_exceptions=True)
        await super().stop()

    async def _call_back_forever(self) -> None:
        status_op = self.service.status_op
        bearer_credential = self.service.options.callback.bearer_credential
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                await asyncio.sleep(min(self.play.step_s / 2, 1.0))
                if self.gateway_url is None or status_op is None:
                    continue
                try:
                    token = self.service.settings.credential(bearer_credential)
                except (KeyError, LookupError):
                    token = ""
                url = f"{self.gateway_url}/api/v1/ministries/{self.name}/callback"
                for dossier in list(self.dossiers.values()):
                    index, _ = self._status(dossier)
                    if index <= dossier.called_back:
                        continue
                    body = self.service.contract.response_envelope(
                        status_op.name, filled(self.play.responses.get(status_op.name, {}), self._values(dossier)))
                    try:
                        response = await self.send_callback(client, url, content=body, headers={
                            "content-type": SOAP_XML, "authorization": f"Bearer {token}"})
                    except httpx.HTTPError as error:
                        log.info("%s simulator: callback failed: %s", self.name, error)
                        continue
                    if response.status_code == 200:
                        dossier.called_back = index
