"""Fetching OCSP responses and CRLs, with a cache shared by every verification of a worker.

A batch of certified copies from one office asks the same OCSP responder about the same
certificate again and again. The cache keeps each fetched response or CRL until the earlier
of its nextUpdate and `signing.revocation_cache_s`, and hands it to pyHanko instead of a new
request. This is safe: pyHanko still checks the cached object's signature, its issuer and its
freshness against the validation time, exactly as it checks a fresh one (an OCSP response
stapled by a web server is reused the same way). Failures are never cached.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import crl, ocsp
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.cert_fetch_client import (
    AIOHttpCertificateFetcher,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.crl_client import AIOHttpCRLFetcher
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.ocsp_client import AIOHttpOCSPFetcher
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget


@dataclass
class RevocationCache:
    ttl_s: float
    entries: dict[Any, tuple[float, Any]] = field(default_factory=dict)  # tag -> (expires, response)
    hits: int = 0
    fetches: int = 0

    def get(self, tag: Any) -> Any | None:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        expires, response = entry
        if time.time() >= expires:
            del self.entries[tag]
            return None
        self.hits += 1
        return response

    def put(self, tag: Any, response: Any) -> None:
        self.fetches += 1
        expires = time.time() + self.ttl_s
        next_update = next_update_of(response)
        if next_update is not None:
            expires = min(expires, next_update.timestamp())
        if expires > time.time():
            self.entries[tag] = (expires, response)


def next_update_of(response: Any) -> datetime | None:
    try:
        if isinstance(response, ocsp.OCSPResponse):
            single = response["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
            return single["next_update"].native
        if isinstance(response, crl.CertificateList):
            return response["tbs_cert_list"]["next_update"].native
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return None


class _Cached:
    """Mixin for pyHanko's aiohttp fetchers: every fetch job goes through the shared cache."""

    cache: RevocationCache

    async def _post_fetch_task(self, tag: Any, async_fun: Callable[[], Awaitable[Any]]) -> Any:
        async def cached_or_fetched() -> Any:
            response = self.cache.get(tag)
            if response is None:
                response = await async_fun()
                self.cache.put(tag, response)
            return response

        return await super()._post_fetch_task(tag, cached_or_fetched)


class _CachedOCSPFetcher(_Cached, AIOHttpOCSPFetcher):
    pass


class _CachedCRLFetcher(_Cached, AIOHttpCRLFetcher):
    pass


class CachingFetcherBackend(AIOHttpFetcherBackend):
    """pyHanko's aiohttp backend whose OCSP and CRL fetchers share one `RevocationCache`.

    It never fetches issuer certificates (AIA chasing): chains are built from the document's
    certificates and the trust anchors only.
    """

    def __init__(self, cache: RevocationCache, per_request_timeout: float) -> None:
        super().__init__(per_request_timeout=per_request_timeout)
        self.cache = cache

    def get_fetchers(self) -> Fetchers:
        budget = FetchBudget(self.limits)
        timeout = self.per_request_timeout
        ocsp_fetcher = _CachedOCSPFetcher(self.session, per_request_timeout=timeout, budget=budget)
        crl_fetcher = _CachedCRLFetcher(self.session, per_request_timeout=timeout, budget=budget)
        ocsp_fetcher.cache = crl_fetcher.cache = self.cache
        return Fetchers(ocsp_fetcher=ocsp_fetcher, crl_fetcher=crl_fetcher,
                        cert_fetcher=AIOHttpCertificateFetcher(self.session, per_request_timeout=timeout,
                                                               budget=budget))
