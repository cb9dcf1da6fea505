"""Work a role repeats beside its consumers (polling a partner, reconciling payments): one round
every interval until the gateway stops. A failed round (the database or Kafka down) is logged
and the next round tries again."""

import asyncio
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
