"""The only code that speaks to a payment provider over HTTP, as its configuration says:
requests built by the provider's specs and signed with its scheme, answers read by its reply
spec into the gateway's words (payment/reply.schema.json).

    create   the payment request              -> {ok, pay_url | pay_code, reason}
    query    {reference, operation: QUERY}    -> {ok, outcome, amount, transaction_id, paid_at}
    receipt  {reference, operation: GET_BILL} -> {ok, receipt_number, receipt_url}
"""

from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.connectors.json_api import JsonApi, Operation, optional_credential
from gateway.connectors.payment.config import PaymentProvider
from gateway.reliability.errors import PermanentError, TransientError


class PaymentClient:
    def __init__(self, provider: PaymentProvider, endpoint: str, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.api = JsonApi(provider.name, endpoint, http, specs=provider.specs, scheme=provider.options.signature,
                           secret=provider.secret, token=optional_credential(provider.settings, "token"))

    async def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """Create the payment; a refusal is permanent (the provider's reason is the message)."""
        reply = await self._call("create", self.provider.options.operations.create,
                                 request | {"settings": self._settings()}, request["reference"])
        if not reply.get("ok"):
            raise PermanentError(f"{self.provider.name} refused the payment {request['reference']}: "
                                 f"{reply.get('reason') or reply.get('code')}", code=str(reply.get("code") or ""))
        if not (reply.get("pay_url") or reply.get("pay_code")):
            raise TransientError(f"{self.provider.name} took payment {request['reference']} but gave no payment "
                                 "URL or code", code="no-pay-link")
        return reply

    async def query(self, reference: str) -> dict[str, Any]:
        return await self._call("query", self.provider.options.operations.query,
                                self._lookup_input(reference, "QUERY"), reference)

    async def receipt(self, reference: str) -> dict[str, Any] | None:
        operation = self.provider.options.operations.receipt
        if operation is None:
            return None
        return await self._call("receipt", operation, self._lookup_input(reference, "GET_BILL"), reference)

    def read(self, body: dict[str, Any], operation: str) -> dict[str, Any]:
        """A provider's answer or confirmation in the gateway's words."""
        return self.api.read(body, operation)

    def _settings(self) -> dict[str, Any]:
        options = self.provider.options
        return {"partner_code": options.partner_code, **options.request_values}

    def _lookup_input(self, reference: str, operation: str) -> dict[str, Any]:
        return {"reference": reference, "operation": operation, "at": datetime.now(UTC).isoformat(),
                "settings": self._settings()}

    async def _call(self, role: str, operation: Operation, spec_input: dict[str, Any], reference: str) -> dict:
        return await self.api.call(role, operation, spec_input, path_values={"reference": reference},
                                   signing_kind="create" if role == "create" else "query")
