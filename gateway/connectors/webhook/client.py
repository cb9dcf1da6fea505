"""The only code that speaks the webhook partner's protocol.

    POST {endpoint}/events        JSON body = the dossier event; Idempotency-Key header
                                  2xx: taken. 409: already had this key (taken before).
    GET  {endpoint}/events/{key}  200: the partner has it; 404: it does not
"""

import httpx

from gateway.reliability.errors import PermanentError

IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookClient:
    def __init__(self, http: httpx.AsyncClient, endpoint: str, token: str | None = None) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(self, payload: bytes, *, key: str, message_id: str) -> str:
        """Deliver one event; the outcome as a short text. Raises for an answer that is not success."""
        response = await self.http.post(
            f"{self.endpoint}/events", content=payload,
            headers={**self.headers, "content-type": "application/json", IDEMPOTENCY_HEADER: key,
                     "X-Gateway-Message-Id": message_id},
        )
        if response.status_code == 409:  # the partner had it already: the side effect stands
            return "409 already received"
        if response.status_code == 422:
            raise PermanentError(f"the partner refused the event: {response.text[:300]}", code="422")
        response.raise_for_status()
        return f"{response.status_code} {response.reason_phrase}"

    async def has(self, key: str) -> bool:
        response = await self.http.get(f"{self.endpoint}/events/{key}", headers=self.headers)
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True
