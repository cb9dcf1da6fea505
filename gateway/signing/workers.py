"""Verification in worker processes: a hostile document costs a bounded time and memory.

Citizens' files are untrusted input. PDF parsing has no object-count limit and XML libraries
have had expansion bugs, so every verification runs in a separate process whose address space
is capped (`signing.worker_memory_mb`) and which is killed after `signing.timeout_s`. A worker
keeps its `Verifier` (trust store, revocation cache) between documents; a killed worker is
replaced and the document gets a TOTAL-FAILED report saying which limit it hit.
"""

import asyncio
import atexit
import hashlib
import logging
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from gateway.signing.report import DocumentReport
from gateway.signing.settings import SigningSettings

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_verifier = None


def _start_worker(settings_json: str, memory_bytes: int) -> None:
    global _loop, _verifier
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from gateway.signing.verifier import Verifier  # imported here: pyHanko loads in the worker only

    _loop = asyncio.new_event_loop()
    _verifier = Verifier(SigningSettings.model_validate_json(settings_json))
    atexit.register(lambda: _loop.run_until_complete(_verifier.aclose()))  # closes the OCSP/CRL session


def _ready() -> bool:
    return _verifier is not None


def _verify_in_worker(data: bytes, signature: bytes | None, policy: str) -> str:
    try:
        report = _loop.run_until_complete(_verifier.verify(data, signature=signature, policy=policy))
    except MemoryError:
        report = _refusal(data, policy, "the document needs more memory than signing.worker_memory_mb allows")
    except RecursionError:
        report = _refusal(data, policy, "the document is nested too deeply to be read safely")
    except Exception as error:  # noqa: BLE001 - a parser's surprise on hostile input is a verdict, not a crash
        log.warning("verification failed unexpectedly", exc_info=True)
        report = _refusal(data, policy, f"the document could not be read: {type(error).__name__}: {error}"[:2000])
    return report.model_dump_json()


def _refusal(data: bytes, policy: str, error: str) -> DocumentReport:
    return DocumentReport.refused(format="unknown", policy=policy, error=error,
                                  validation_time=datetime.now(UTC),
                                  document_sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


class VerificationWorkers:
    """A pool of verification processes; `verify` never raises for a bad document."""

    def __init__(self, settings: SigningSettings) -> None:
        from gateway.signing.trust import load_trust_store

        load_trust_store(settings.trust_anchors)  # a bad anchor file stops start-up, not the first document
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._loop_state: tuple[asyncio.AbstractEventLoop, asyncio.Lock, asyncio.Semaphore] | None = None
        self.verified = 0
        self.killed = 0

    def _guards(self) -> tuple[asyncio.Lock, asyncio.Semaphore]:
        """The start-up lock, and one slot per worker so that signing.timeout_s counts a document's
        own work, never its wait behind another; per event loop (a CLI run, each test has its own)."""
        loop = asyncio.get_running_loop()
        if self._loop_state is None or self._loop_state[0] is not loop:
            self._loop_state = (loop, asyncio.Lock(), asyncio.Semaphore(self.settings.workers))
        return self._loop_state[1], self._loop_state[2]

    async def _executor(self) -> ProcessPoolExecutor:
        starting, _ = self._guards()
        async with starting:
            if self._pool is None:
                pool = ProcessPoolExecutor(
                    max_workers=self.settings.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.settings.model_dump_json(), self.settings.worker_memory_mb * 2**20))
                # start the processes (imports, trust store) before any document's clock runs
                loop = asyncio.get_running_loop()
                await asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(self.settings.workers)))
                self._pool = pool
            return self._pool

    async def verify(self, data: bytes, *, signature: bytes | None = None, policy: str = "signature") -> DocumentReport:
        from gateway.signing.verifier import POLICIES

        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        _, slots = self._guards()
        async with slots:
            return await self._verify(data, signature, policy)

    async def _verify(self, data: bytes, signature: bytes | None, policy: str) -> DocumentReport:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):  # a worker killed for another document's sake breaks this one's call too
            try:
                pool = await self._executor()
            except BrokenProcessPool:
                self._kill(self._pool)
                continue
            future = loop.run_in_executor(pool, _verify_in_worker, data, signature, policy)
            try:
                answer = await asyncio.wait_for(future, timeout=self.settings.timeout_s)
            except TimeoutError:
                self._kill(pool)
                return _refusal(data, policy, f"verification took longer than signing.timeout_s "
                                              f"({self.settings.timeout_s:g} s) and was stopped")
            except BrokenProcessPool:
                self._kill(pool)
                if attempt == 2:
                    return _refusal(data, policy, "the verification worker died reading this document (memory "
                                                  "limit signing.worker_memory_mb, or a parser crashed)")
                continue
            self.verified += 1
            return DocumentReport.model_validate_json(answer)
        return _refusal(data, policy, "the verification workers could not be started")

    def _kill(self, pool: ProcessPoolExecutor | None) -> None:
        """Stop `pool` if it is still the current one (not one already replaced)."""
        if pool is None or pool is not self._pool:
            return
        self.killed += 1
        self._pool = None
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        log.warning("verification worker stopped and replaced")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_shared: dict[str, VerificationWorkers] = {}


def shared_workers(settings: SigningSettings) -> VerificationWorkers:
    """One pool per process and configuration: the Kafka role and the HTTP API share it (and its
    workers' revocation caches). A bad trust anchor file stops start-up with InvalidSettings."""
    from gateway.runtime.config import InvalidSettings
    from gateway.signing.trust import TrustStoreError

    key = settings.model_dump_json()
    if key not in _shared:
        try:
            _shared[key] = VerificationWorkers(settings)
        except TrustStoreError as error:
            raise InvalidSettings([str(error)]) from None
    return _shared[key]
