"""The only code that speaks the national portal adapter's protocol (JSON over HTTP).

    POST {endpoint}{login_path}    {"username", "password"}
        -> {"error_code": "0", "message", "session", "expires_in": seconds}
    POST {endpoint}{service_path}  {"session", "madonvi", "service", "isUpdating": "true"|"false", "data": [...]}
        -> {"error_code", "message", "data"?}

Services: DongBoHoSoMC (dossiers; insert, or update after "already exists"),
CapNhatTienDoHoSoMC (processing steps, pushed in chunks), TraCuuHoSo (look-up; data is
{"MaHoSo"}). The reply's error_code decides: success, already exists, session rejected (log in
again once), transient (retry later) or anything else: a permanent refusal with the portal's
message. Names, paths and codes come from partners.national_portal.options.
"""

import asyncio
import time
from typing import Any

import httpx

from gateway.connectors.national_portal.config import NationalPortalOptions
from gateway.reliability.errors import PermanentError, TransientError


class SessionRejected(TransientError):
    """The portal no longer accepts the session, even after logging in again."""


class NationalPortalClient:
    def __init__(self, http: httpx.AsyncClient, endpoint: str, options: NationalPortalOptions, password: str) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")
        self.options = options
        self.codes = options.reply_codes
        self._password = password
        self._session: str | None = None
        self._renew_at = 0.0
        self._login_lock = asyncio.Lock()
        self.logins = 0  # for operators and tests: how often a session was opened

    async def push_dossier(self, record: dict[str, Any]) -> str:
        """Insert the dossier; when the portal already has it, update it. Returns what happened."""
        reply = await self._call(self.options.services.push_dossier, [record], updating=False,
                                 accept=self.codes.already_exists)
        if reply["error_code"] not in self.codes.already_exists:
            return f"inserted ({reply['error_code']})"
        reply = await self._call(self.options.services.push_dossier, [record], updating=True)
        return f"updated after 'already exists' ({reply['error_code']})"

    async def push_progress(self, records: list[dict[str, Any]]) -> int:
        """Push processing steps in chunks of progress_chunk_size; returns how many chunks went."""
        size = self.options.progress_chunk_size
        chunks = [records[start:start + size] for start in range(0, len(records), size)]
        for chunk in chunks:
            await self._call(self.options.services.push_progress, chunk, updating=False)
        return len(chunks)

    async def look_up(self, dossier_code: str) -> dict[str, Any] | None:
        """The portal's record of the dossier, or None when it has none."""
        reply = await self._call(self.options.services.look_up, {"MaHoSo": dossier_code}, updating=False,
                                 accept=self.codes.not_found)
        if reply["error_code"] in self.codes.not_found:
            return None
        data = reply.get("data")
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, dict):
            raise TransientError(f"{self.options.services.look_up}: the reply has no dossier record", code="no-data")
        return data

    async def _call(self, service: str, data: Any, *, updating: bool, accept: list[str] = ()) -> dict[str, Any]:
        for attempt in (1, 2):
            session = await self._current_session()
            reply = await self._post(self.options.service_path, {
                "session": session, "madonvi": self.options.agency_code, "service": service,
                "isUpdating": "true" if updating else "false", "data": data})
            code = reply["error_code"]
            if code in self.codes.session_rejected:
                self._forget_session(session)
                if attempt == 1:
                    continue
                raise SessionRejected(f"{service}: the portal rejects a fresh session: {reply.get('message')}", code=code)
            if code in self.codes.success or code in accept:
                return reply
            message = f"{service}: {reply.get('message') or 'no message'} (error_code {code})"
            if code in self.codes.transient:
                raise TransientError(message, code=code)
            raise PermanentError(message, code=code)
        raise AssertionError("unreachable")

    async def _current_session(self) -> str:
        async with self._login_lock:
            if self._session is None or time.monotonic() >= self._renew_at:
                await self._login()
            return self._session

    async def _login(self) -> None:
        reply = await self._post(self.options.login_path, {"username": self.options.username, "password": self._password})
        code = reply["error_code"]
        if code not in self.codes.success or not reply.get("session"):
            message = f"login to the national portal refused: {reply.get('message') or code}"
            raise (TransientError if code in self.codes.transient else PermanentError)(message, code=code)
        lifetime = _seconds(reply.get("expires_in"), default=300.0)
        self._session = str(reply["session"])
        # Renew ahead of expiry, but never so early that every call logs in.
        self._renew_at = time.monotonic() + lifetime - min(self.options.session_refresh_margin_s, lifetime / 2)
        self.logins += 1

    def _forget_session(self, session: str) -> None:
        if self._session == session:  # another call may have logged in already
            self._session = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"{self.endpoint}{path}", json=body)
        response.raise_for_status()  # HTTP errors: errors.classify decides by status
        try:
            reply = response.json()
        except ValueError:
            raise TransientError(f"the portal answered {path} with something that is not JSON: "
                                 f"{response.text[:200]!r}", code="not-json") from None
        if not isinstance(reply, dict) or "error_code" not in reply:
            raise TransientError(f"the portal's reply to {path} has no error_code: {str(reply)[:200]}", code="no-code")
        reply["error_code"] = str(reply["error_code"])
        return reply


def _seconds(value: object, default: float) -> float:
    """A session lifetime as the portal wrote it ("600", 600, none at all)."""
    try:
        seconds = float(str(value))
    except ValueError:
        return default
    return seconds if seconds > 0 else default
