"""The console's JSON API under /api/v1/console: sign-in, and one endpoint per page. The
AccessGuard has already checked the caller's role; routes only read `request.state.principal`."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from gateway.ops.console.actions import OperatorActions
from gateway.ops.console.auth import SESSION_COOKIE, Principal, Users, require
from gateway.ops.console.deadlines import deadlines
from gateway.ops.console.flows import flow_windows
from gateway.ops.console.report import VIETNAM, BadMonth, monthly_report, report_csv
from gateway.ops.console.sampler import ConsoleSampler
from gateway.ops.console.trace import CitizenSearchOff, find_dossiers, trace
from gateway.ops.dossier_ledger import citizen_id_key
from gateway.ops.flow_counters import FlowCounters, read_all
from gateway.ops.partner_health import read_partner_health
from gateway.reliability.dead_letters import DeadLetters, open_counts
from gateway.runtime.config import Settings, masked_settings

Language = Literal["vi", "en"]


class SignIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


@dataclass
class ConsoleParts:
    settings: Settings
    users: Users
    actions: OperatorActions
    counters: FlowCounters
    dead_letters: DeadLetters
    sampler: ConsoleSampler | None


def console_router(parts: ConsoleParts) -> APIRouter:
    settings, database = parts.settings, parts.users.database
    router = APIRouter(prefix="/api/v1/console", tags=["console"])

    def session_body(principal: Principal) -> dict:
        return {"user": principal.name, "role": principal.role, "csrf_token": principal.csrf_token,
                "language": settings.console.language}

    @router.get("/session", summary="Who is signed in")
    async def current_session(request: Request) -> dict:
        return session_body(request.state.principal)

    @router.post("/session", summary="Sign in: sets the session cookie",
                 responses={401: {"description": "Wrong name or password (or too many tries)"}})
    async def sign_in(body: SignIn, response: Response) -> dict:
        signed_in = await parts.users.sign_in(body.name, body.password)
        if signed_in is None:
            raise HTTPException(401, detail="wrong name or password (after 5 wrong tries, wait 5 minutes)")
        secret, principal = signed_in
        response.set_cookie(SESSION_COOKIE, secret, max_age=int(settings.console.session_hours * 3600),
                            httponly=True, samesite="strict", secure=settings.console.secure_cookie, path="/")
        return session_body(principal)

    @router.delete("/session", status_code=204, summary="Sign out")
    async def sign_out(request: Request, response: Response) -> None:
        await parts.users.sign_out(request.state.principal)
        response.delete_cookie(SESSION_COOKIE, path="/")

    @router.get("/flows", summary="Flows over the last 5 minutes, hour and day; lag; partner health")
    async def flows() -> dict:
        # One transaction: under load (SQLite has one connection) each one more is one more wait.
        async with parts.counters.settled(), database.transaction() as session:
            flows = await flow_windows(session)
            totals = parts.counters.with_pending(await read_all(session))
            partners = await read_partner_health(session)
            open_letters = await open_counts(session)
        for flow in flows:
            flow["totals"] = totals.get(flow["flow"], {})
        return {"generated_at": datetime.now(UTC).isoformat(), "flows": flows,
                "lag": parts.sampler.lag if parts.sampler else [], "partners": partners,
                "dead_letters_open": sum(open_letters.values())}

    @router.get("/trace", summary="One dossier across every system, by its code or the citizen's ID number",
                responses={404: {"description": "No such dossier"}, 409: {"description": "Citizen-ID search is off"},
                           422: {"description": "Neither or both of dossier and citizen_id"}})
    async def dossier_trace(dossier: Annotated[str | None, Query(max_length=64)] = None,
                            citizen_id: Annotated[str | None, Query(max_length=40)] = None) -> dict:
        if (dossier is None) == (citizen_id is None):
            raise HTTPException(422, detail="give either dossier (MaHoSo) or citizen_id")
        try:
            found = await find_dossiers(database, code=dossier, citizen_id=citizen_id,
                                        id_key=citizen_id_key(settings))
        except CitizenSearchOff as error:
            raise HTTPException(409, detail=str(error)) from None
        if not found:
            raise HTTPException(404, detail="no dossier found for that ID number" if citizen_id is not None
                                else f"the gateway has not seen {dossier}")
        return await trace(database, settings, found)

    @router.get("/deadlines", summary="Acceptance decisions due or overdue; dossiers past their appointment date")
    async def deadline_page() -> dict:
        return await deadlines(database, settings.calendar, settings.console, settings.agencies)

    @router.get("/report", summary="The monthly report: online submission, online payment, postal return, sync")
    async def report(month: Annotated[str | None, Query(description="YYYY-MM; this month by default")] = None) -> dict:
        return await _report(month)

    @router.get("/report.csv", summary="The monthly report as CSV (UTF-8 with BOM)",
                response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    async def report_file(month: str | None = None, language: Language = "vi") -> Response:
        report = await _report(month)
        filename = f"{'bao-cao' if language == 'vi' else 'report'}-{report['month']}.csv"
        return Response(report_csv(report, language), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    async def _report(month: str | None) -> dict:
        try:
            return await monthly_report(database, month or datetime.now(VIETNAM).strftime("%Y-%m"), settings.agencies)
        except BadMonth as error:
            raise HTTPException(422, detail=str(error)) from None

    @router.get("/actions", summary="What operators did, newest first")
    async def recent_actions(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict]:
        return await parts.actions.recent(limit)

    @router.get("/settings", summary="The effective configuration (secrets masked), users and calendar",
                dependencies=[Depends(require("operator"))])
    async def settings_page() -> dict:
        calendar = settings.calendar
        return {"settings": masked_settings(settings), "users": await parts.users.list(),
                "calendar": {"holidays": [h.model_dump(mode="json") for h in calendar.holidays],
                             "working_days": [d.model_dump(mode="json") for d in calendar.working_days]}}

    return router
