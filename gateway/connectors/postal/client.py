"""The only code that speaks to a postal service over HTTP, as its configuration says (the
shared signed JSON API): requests built by the carrier's specs, answers read by its reply spec
into postal/reply.schema.json.

    order   the order request                     -> {ok, tracking_number, fee, reason}
    quote   the order request                     -> {ok, fee, days}
    cancel  {tracking_number, order_number, reason} -> {ok, code, reason}
    track   GET with {tracking_number}            -> {ok, events: [...]}
"""

from typing import Any

import httpx

from gateway.connectors.json_api import JsonApi, optional_credential
from gateway.connectors.postal.config import PostalCarrier
from gateway.reliability.errors import PermanentError, TransientError


class CancelRefused(PermanentError):
    """The carrier will not cancel (the parcel was picked up already)."""


class PostalClient:
    def __init__(self, carrier: PostalCarrier, endpoint: str, http: httpx.AsyncClient) -> None:
        self.carrier = carrier
        self.api = JsonApi(carrier.name, endpoint, http, specs=carrier.specs, scheme=carrier.options.signature,
                           secret=carrier.secret, token=optional_credential(carrier.settings, "token"))

    def _settings(self) -> dict[str, Any]:
        options = self.carrier.options
        return {"customer_code": options.customer_code, **options.request_values}

    async def order(self, request: dict[str, Any]) -> dict[str, Any]:
        """Place the order; a refusal is permanent (the carrier's reason is the message)."""
        reply = await self.api.call("order", self.carrier.options.operations.order,
                                    request | {"settings": self._settings()}, path_values={}, signing_kind="order")
        if not reply.get("ok"):
            raise PermanentError(f"{self.carrier.name} refused the order of {request['order_number']}: "
                                 f"{reply.get('reason') or reply.get('code')}", code=str(reply.get("code") or ""))
        if not reply.get("tracking_number"):
            raise TransientError(f"{self.carrier.name} took the order of {request['order_number']} but gave no "
                                 "tracking number", code="no-tracking-number")
        return reply

    async def quote(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The price of an order, or None when the carrier offers no quotes or did not give one."""
        operation = self.carrier.options.operations.quote
        if operation is None:
            return None
        reply = await self.api.call("quote", operation, request | {"settings": self._settings()}, path_values={},
                                    signing_kind="query")
        return reply if reply.get("ok") else None

    async def cancel(self, tracking_number: str, order_number: str, reason: str) -> dict[str, Any]:
        operation = self.carrier.options.operations.cancel
        if operation is None:
            raise CancelRefused(f"{self.carrier.name} offers no cancellation (operations.cancel is not set)",
                                code="no-cancel")
        reply = await self.api.call("cancel", operation, {"tracking_number": tracking_number,
                                                          "order_number": order_number, "reason": reason,
                                                          "settings": self._settings()},
                                    path_values={"tracking_number": tracking_number}, signing_kind="query")
        if not reply.get("ok"):
            raise CancelRefused(f"{self.carrier.name} did not cancel {tracking_number}: "
                                f"{reply.get('reason') or reply.get('code')}", code=str(reply.get("code") or ""))
        return reply

    async def track(self, tracking_number: str) -> dict[str, Any]:
        operation = self.carrier.options.operations.track
        if operation is None:
            raise PermanentError(f"{self.carrier.name} cannot be polled (operations.track is not set)", code="no-track")
        return await self.api.call("track", operation, {"tracking_number": tracking_number,
                                                        "settings": self._settings()},
                                   path_values={"tracking_number": tracking_number}, signing_kind="query")

    def read(self, body: dict[str, Any], operation: str) -> dict[str, Any]:
        return self.api.read(body, operation)
