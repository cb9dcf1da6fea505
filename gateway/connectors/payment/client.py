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

from gateway.connectors.payment.config import Operation, PaymentProvider
from gateway.reliability.errors import PermanentError, TransientError
from gateway.webhooks.scheme import signed


class PaymentClient:
    def __init__(self, provider: PaymentProvider, endpoint: str, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.endpoint = endpoint.rstrip("/")
        self.http = http
        self.token = _optional_credential(provider, "token")

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

    def _settings(self) -> dict[str, Any]:
        options = self.provider.options
        return {"partner_code": options.partner_code, **options.request_values}

    def _lookup_input(self, reference: str, operation: str) -> dict[str, Any]:
        return {"reference": reference, "operation": operation, "at": datetime.now(UTC).isoformat(),
                "settings": self._settings()}

    async def _call(self, role: str, operation: Operation, spec_input: dict[str, Any], reference: str) -> dict:
        url = self.endpoint + operation.path.replace("{reference}", reference)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = self.provider.specs[role].map(spec_input) if operation.method == "POST" else None
        content, signature_headers = signed(self.provider.options.signature, self.provider.secret, body,
                                            "create" if role == "create" else "query")
        headers |= signature_headers
        if body is not None:
            headers["content-type"] = "application/json"
        response = await self.http.request(operation.method, url, content=content or None, headers=headers)
        if response.status_code >= 500 or response.status_code in (408, 425, 429):
            response.raise_for_status()  # classified as transient by its status
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(f"{self.provider.name} answered {response.status_code} without JSON: "
                                 f"{response.text[:200]!r}", code="not-json") from None
        if not isinstance(answer, dict):
            raise TransientError(f"{self.provider.name} answered {response.status_code} with JSON that is not an "
                                 "object", code="not-json")
        return self.read(answer, role)

    def read(self, body: dict[str, Any], operation: str) -> dict[str, Any]:
        """A provider's answer or confirmation in the gateway's words (raises MappingFailure /
        OutputInvalid, which are permanent)."""
        return self.provider.specs["reply"].map({"body": _absent_as_null(body), "operation": operation})


def _absent_as_null(value: Any) -> Any:
    """Providers write an absent value as "" or null (MaGiaoDich: "" on a pending notice): both are absent."""
    if isinstance(value, dict):
        return {key: _absent_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_absent_as_null(item) for item in value]
    return None if isinstance(value, str) and not value.strip() else value


def _optional_credential(provider: PaymentProvider, name: str) -> str | None:
    if name not in provider.settings.credentials:
        return None
    try:
        return provider.settings.credential(name)
    except LookupError:
        return None
