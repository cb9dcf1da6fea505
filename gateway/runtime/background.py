"""Work a role repeats beside its consumers (polling a partner, reconciling payments): one round
every interval until the gateway stops. A failed round (the database or Kafka down) is logged
and the next round tries again."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_s: float, stopping: asyncio.Event, one_round: Callable[[], Awaitable[object]],
                what: str) -> None:
    while not stopping.is_set():
        try:
            await one_round()
        except Exception:
            log.exception("%s: round failed; the next one tries again", what)
        try:
            await asyncio.wait_for(stopping.wait(), interval_s)
        except TimeoutError:
            pass


class Periodic:
    """`every` in a task of its own, from `start()` until `stop()`: for a service that writes or
    measures in the background (flow figures, partner health, the console's samples)."""

    def __init__(self, interval_s: float, one_round: Callable[[], Awaitable[object]], what: str) -> None:
        self.interval_s = interval_s
        self.one_round = one_round
        self.what = what
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(every(self.interval_s, self._stopping, self.one_round, self.what),
                                         name=self.what)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Lets the round under way finish, for `grace_s` at most (Kafka or the database may be
        down), then cancels it."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
