"""The intake of a signed webhook, in this order: the size of the body (read no further than the
limit), the signature over the raw bytes (before the body is parsed, where the scheme allows),
the timestamp's age, then the connector's own handling (which refuses replays in the
transaction that records the request). Every outcome is answered in the partner's format with
its documented HTTP status, counted (flow PREFIX.NAME) and written to the message log with the
raw body; refusals publish nothing.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.mappings.transforms import strftime_of
from gateway.runtime.roles import RoleContext
from gateway.runtime.templates import filled
from gateway.webhooks.scheme import SignatureScheme, parse_json, signed, verify

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# Outcomes every signed webhook can have; a connector adds its own (unknown_reference, ...).
STATUS = {"accepted": 200, "duplicate": 200, "malformed": 400, "bad_signature": 401, "stale": 401,
          "replayed": 409, "too_large": 413, "unavailable": 503}
MESSAGES = {
    "accepted": "Đã ghi nhận (recorded)",
    "duplicate": "Đã ghi nhận trước đó (already recorded)",
    "malformed": "Dữ liệu không hợp lệ (malformed request)",
    "bad_signature": "Sai chữ ký / mã xác thực (bad signature or checksum)",
    "stale": "Thời điểm gửi quá cũ hoặc sai (stale timestamp)",
    "replayed": "Yêu cầu đã được gửi trước đó (replayed request)",
    "too_large": f"Nội dung quá lớn (body over {MAX_BODY_BYTES} bytes)",
    "unavailable": "Hệ thống tạm thời không ghi nhận được, vui lòng gửi lại (try again later)",
}


class AnswerFormat(BaseModel):
    """How the gateway answers the partner."""

    model_config = ConfigDict(extra="forbid")

    body: dict[str, Any] = Field(description="The answer; strings may hold {code}, {message}, {partner_code}, {time}")
    codes: dict[str, str] = Field(description="The partner's code for each outcome")
    time_format: str = Field(default="yyyyMMddHHmmss", description="How {time} is written (Vietnam time)")

    def missing_codes(self, outcomes: list[str]) -> list[str]:
        return [outcome for outcome in outcomes if outcome not in self.codes]


@dataclass(frozen=True)
class WebhookPartner:
    name: str
    secret: str
    scheme: SignatureScheme
    answer: AnswerFormat
    partner_code: str = ""  # {partner_code} in answers
    kind: str = "confirmation"  # the checksum fields of what the partner sends


@dataclass(frozen=True)
class Handled:
    """What the connector made of a verified request."""

    outcome: str
    note: str  # for the message log and the logs
    dossier_code: str = "-"
    after: Callable[[], Awaitable[None]] | None = None  # once the outcome is committed (log what was published)
    raised: bool = False  # an operator should look at it (counted as raised_to_operators)


# The connector's handling: the verified body, and the key to refuse when it comes again (or None).
Handler = Callable[[dict[str, Any], str | None], Awaitable[Handled]]


class SignedWebhooks:
    def __init__(self, context: RoleContext, *, flow_prefix: str, partners: Iterable[str], statuses: dict[str, int],
                 messages: dict[str, str], raised: tuple[str, ...] = ()) -> None:
        """`partners` who call (their flows are declared now, so their figures start at 0);
        `statuses` and `messages` of the connector's own outcomes; `raised`: outcomes also
        counted as raised_to_operators."""
        for partner in partners:
            context.counters.declare(f"{flow_prefix}.{partner}", "in")
        self.context = context
        self.flow_prefix = flow_prefix
        self.statuses = STATUS | statuses
        self.messages = MESSAGES | messages
        self.raised = raised

    @property
    def outcomes(self) -> list[str]:
        return list(self.statuses)

    async def receive(self, request: Request, partner: WebhookPartner, handle: Handler) -> Response:
        raw = await body_within_limit(request)
        if raw is None:
            handled = Handled("too_large", self.messages["too_large"])
        else:
            try:
                handled = await self._handled(partner, {key.lower(): value for key, value in request.headers.items()},
                                              raw, handle)
            except Exception as error:  # a defect here still gets an answer, a count and a record
                log.exception("%s: webhook could not be checked", partner.name)
                handled = Handled("unavailable", f"{type(error).__name__}: {error}")
        await self._record(partner, raw or b"", handled)
        return self.answer(partner, handled.outcome)

    async def _handled(self, partner: WebhookPartner, headers: dict[str, str], raw: bytes, handle: Handler) -> Handled:
        verified = verify(partner.scheme, partner.secret, headers, raw, partner.kind)
        if verified.refusal is not None:
            return Handled(verified.refusal, self.messages[verified.refusal])
        body = verified.body if verified.body is not None else parse_json(raw)
        if not isinstance(body, dict):
            return Handled("malformed", f"{self.messages['malformed']}: the body is not a JSON object")
        try:
            return await handle(body, verified.replay_key)
        except Exception as error:  # Kafka or the database: nothing was recorded, the partner sends again
            log.exception("%s: webhook could not be recorded", partner.name)
            return Handled("unavailable", f"{type(error).__name__}: {error}")

    async def _record(self, partner: WebhookPartner, raw: bytes, handled: Handled) -> None:
        flow = f"{self.flow_prefix}.{partner.name}"
        self.context.counters.add(flow, handled.outcome)
        if handled.raised or handled.outcome in self.raised:
            self.context.counters.add(flow, "raised_to_operators")
        if handled.outcome not in ("accepted", "duplicate"):
            log.warning("%s: webhook refused (%s): %s", partner.name, handled.outcome, handled.note)
        try:
            await self.context.message_log.record(
                direction="in", channel="webhook", partner=partner.name, message_id=str(uuid.uuid4()),
                dossier_code=handled.dossier_code, payload=raw, outcome=f"{handled.outcome}: {handled.note}"[:200])
            if handled.after is not None:
                await handled.after()
        except Exception:  # the outcome stands (it is committed); the audit trail misses a record
            log.exception("%s: webhook outcome %s not written to the message log", partner.name, handled.outcome)

    def answer(self, partner: WebhookPartner, outcome: str) -> Response:
        """The answer in the partner's format, signed as its scheme says."""
        values = {"code": partner.answer.codes[outcome], "message": self.messages[outcome],
                  "partner_code": partner.partner_code,
                  "time": datetime.now(VIETNAM).strftime(strftime_of(partner.answer.time_format))}
        raw, headers = signed(partner.scheme, partner.secret, filled(partner.answer.body, values), "answer")
        return Response(raw, status_code=self.statuses[outcome], media_type="application/json", headers=headers)

    def openapi_description(self) -> str:
        return ", ".join(f"{outcome} {status}" for outcome, status in self.statuses.items())


async def body_within_limit(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None when it is larger than `limit` (not read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
