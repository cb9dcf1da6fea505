"""Fetching a dossier's documents from the one-stop system's file store, within limits.

Only URLs under `signing.document_url_prefixes` are fetched (a dossier must not make the
gateway call arbitrary addresses), and no more than `signing.max_document_bytes` is read.
"""

import httpx

from gateway.reliability.errors import PermanentError, TransientError
from gateway.signing.settings import SigningSettings


def download_refusal(url: str, settings: SigningSettings) -> str | None:
    """Why the gateway will not fetch this URL, or None."""
    if not settings.document_url_prefixes:
        return "signing.document_url_prefixes is empty: the gateway downloads no document"
    if not any(url.startswith(prefix) for prefix in settings.document_url_prefixes):
        return "the URL is outside signing.document_url_prefixes"
    return None


async def download(client: httpx.AsyncClient, url: str, settings: SigningSettings) -> bytes:
    """The document's bytes; TransientError for an outage (retry later), PermanentError otherwise."""
    limit = settings.max_document_bytes
    try:
        async with client.stream("GET", url, timeout=settings.download_timeout_s) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"GET {url}: HTTP {response.status_code}")
            if response.status_code != 200:
                raise PermanentError(f"GET {url}: HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PermanentError(f"GET {url}: larger than signing.max_document_bytes ({limit} bytes)")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TransportError as error:
        raise TransientError(f"GET {url}: {type(error).__name__}: {error}") from error
