"""A national portal adapter to rehearse against. Like the real one it answers HTTP 200 with an
error_code, and it checks every request: the session (with an expiry), the shape and formats of
each record (against the portal's schemas), status codes and status transitions. It keeps what
it received, in order, and can be told to expire sessions, be busy, or disagree (drift).

Reply codes: 0 success, -1 session missing or expired, -2 invalid data, -3 already exists
(insert of a known dossier), -4 no such dossier, -5 transition not allowed, -9 busy (try later).
"""

import json
import secrets
import time
from typing import Any

import jsonschema
from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, Field

from gateway.mappings.spec import SHIPPED_SPECS
from gateway.simulators.framework import Simulator

SCHEMAS = SHIPPED_SPECS / "national_portal"
FINAL = {3, 7, 8, 10}
# Which status may follow which (a step may also repeat a status that is not final).
NEXT_STATUSES: dict[int, set[int]] = {
    1: {2, 3, 7},
    2: {4, 5, 6, 7, 8, 9},
    4: {5, 6, 7, 8, 9},
    5: {2, 3, 4, 7, 8},
    6: {4, 7, 8, 9},
    9: {10},
}


class PortalControls(BaseModel):
    session_ttl_s: float = Field(default=600, gt=0, description="Lifetime of a session")
    busy_rate: float = Field(default=0.0, ge=0, le=1, description="Share of service calls answered -9 (busy)")
    accounts: dict[str, str] = Field(default_factory=dict, description="username -> password; empty: any login works")


class NationalPortalSimulator(Simulator):
    name = "national_portal"
    description = "National Public Service Portal adapter (DongBoHoSoMC, CapNhatTienDoHoSoMC, TraCuuHoSo)."

    def __init__(self, faults=None) -> None:
        super().__init__(faults)
        self.controls = PortalControls()
        self.sessions: dict[str, float] = {}  # session -> expiry (monotonic)
        self.dossiers: dict[str, dict[str, Any]] = {}  # MaHoSo -> the latest record
        self.statuses: dict[str, list[int]] = {}  # MaHoSo -> every status it took, in order
        self.steps: dict[str, list[dict[str, Any]]] = {}  # MaHoSo -> progress records, in order
        self.refusals: list[dict[str, Any]] = []  # what was refused and why
        self.logins = 0
        self._validators = {name: _validator(f"{name}.schema.json") for name in ("dossier", "progress")}

    def partner_routes(self, router: APIRouter) -> None:
        @router.post("/login")
        async def login(body: dict = Body(...)) -> dict:
            username, password = str(body.get("username") or ""), body.get("password")
            accounts = self.controls.accounts
            if not username or (accounts and accounts.get(username) != password):
                return _reply("-2", "Sai tên đăng nhập hoặc mật khẩu (wrong username or password)")
            session = secrets.token_urlsafe(16)
            self.sessions[session] = time.monotonic() + self.controls.session_ttl_s
            self.logins += 1
            return {**_reply("0", "Đăng nhập thành công"), "session": session, "expires_in": self.controls.session_ttl_s}

        @router.post("/service")
        async def service(body: dict = Body(...)) -> dict:
            if not self._session_valid(body.get("session")):
                return _reply("-1", "Phiên làm việc không hợp lệ hoặc đã hết hạn (session invalid or expired)")
            if self.dice._roll(self.controls.busy_rate):
                self.stats.injected_errors += 1
                return _reply("-9", "Hệ thống đang bận, vui lòng thử lại sau (busy, try again later)")
            name, data = body.get("service"), body.get("data")
            if name == "DongBoHoSoMC":
                return self._push_dossiers(data, updating=str(body.get("isUpdating")).lower() == "true")
            if name == "CapNhatTienDoHoSoMC":
                return self._push_progress(data)
            if name == "TraCuuHoSo":
                return self._look_up(data)
            return _reply("-2", f"Dịch vụ không tồn tại: {name!r} (no such service)")

        @router.get("/_sim/dossiers", tags=["simulator control"])
        async def dossiers() -> dict:
            return {"dossiers": self.dossiers, "statuses": self.statuses, "steps": self.steps,
                    "refusals": self.refusals, "logins": self.logins}

        @router.put("/_sim/controls", tags=["simulator control"])
        async def set_controls(controls: PortalControls) -> PortalControls:
            self.controls = controls
            return controls

        @router.post("/_sim/sessions/expire", tags=["simulator control"])
        async def expire_sessions() -> dict:
            expired = len(self.sessions)
            self.sessions.clear()
            return {"expired": expired}

        @router.put("/_sim/dossiers/{code}/status", tags=["simulator control"])
        async def change_status(code: str, status: int = Body(..., embed=True)) -> dict:
            """Make the portal disagree with the gateway (for rehearsing the drift check)."""
            if code not in self.dossiers:
                raise HTTPException(404, detail=f"no dossier {code}")
            self.dossiers[code]["TrangThaiHoSo"] = str(status)
            self.statuses[code].append(status)
            return self.dossiers[code]

    def _session_valid(self, session: Any) -> bool:
        expiry = self.sessions.get(str(session or ""))
        return expiry is not None and expiry > time.monotonic()

    def _push_dossiers(self, data: Any, updating: bool) -> dict:
        records = data if isinstance(data, list) else [data]
        for record in records:  # all or nothing: check every record first
            if problem := self._invalid("dossier", record):
                return self._refuse("-2", problem, record)
            code = record["MaHoSo"]
            if not updating and code in self.dossiers:
                return _reply("-3", f"Hồ sơ {code} đã tồn tại (already exists)")
            if updating and code not in self.dossiers:
                return self._refuse("-4", f"Không tìm thấy hồ sơ {code} (no such dossier)", record)
            if updating and (problem := self._transition(code, int(record["TrangThaiHoSo"]))):
                return self._refuse("-5", problem, record)
        for record in records:
            code = record["MaHoSo"]
            self.stats.record_key(f"{code}:dossier")
            status = int(record["TrangThaiHoSo"])
            history = self.statuses.setdefault(code, [])
            if not history or history[-1] != status:
                history.append(status)
            self.dossiers[code] = record
        return _reply("0", "Đồng bộ thành công")

    def _push_progress(self, data: Any) -> dict:
        records = data if isinstance(data, list) else [data]
        for record in records:
            if problem := self._invalid("progress", record):
                return self._refuse("-2", problem, record)
            if record["MaHoSo"] not in self.dossiers:
                return self._refuse("-4", f"Không tìm thấy hồ sơ {record['MaHoSo']} (no such dossier)", record)
        for record in records:
            code = record["MaHoSo"]
            step_key = f"{code}:{record['ThoiDiemXuLy']}:{record['TrangThai']}"
            if self.stats.record_key(step_key):
                continue  # the same step again: the portal keeps one
            if problem := self._transition(code, int(record["TrangThai"])):
                return self._refuse("-5", problem, record)
            self.steps.setdefault(code, []).append(record)
            self.statuses[code].append(int(record["TrangThai"]))
            self.dossiers[code]["TrangThaiHoSo"] = record["TrangThai"]
        return _reply("0", "Cập nhật tiến độ thành công")

    def _look_up(self, data: Any) -> dict:
        code = data.get("MaHoSo") if isinstance(data, dict) else None
        if not code:
            return _reply("-2", "Thiếu MaHoSo (MaHoSo is required)")
        if code not in self.dossiers:
            return _reply("-4", f"Không tìm thấy hồ sơ {code} (no such dossier)")
        return {**_reply("0", "Thành công"), "data": self.dossiers[code]}

    def _invalid(self, schema: str, record: Any) -> str | None:
        problems = sorted(self._validators[schema].iter_errors(record), key=lambda error: list(error.absolute_path))
        if not problems:
            return None
        first = problems[0]
        where = "/".join(str(part) for part in first.absolute_path) or "record"
        return f"Dữ liệu không hợp lệ (invalid data): {where}: {first.message}"

    def _transition(self, code: str, status: int) -> str | None:
        current = self.statuses[code][-1]
        if status == current and current not in FINAL:
            return None
        if status in NEXT_STATUSES.get(current, set()):
            return None
        return f"Không được chuyển trạng thái {current} → {status} (transition not allowed)"

    def _refuse(self, code: str, message: str, record: Any) -> dict:
        self.refusals.append({"error_code": code, "message": message,
                              "MaHoSo": record.get("MaHoSo") if isinstance(record, dict) else None})
        return _reply(code, message)


def _reply(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}


def _validator(file_name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / file_name).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
