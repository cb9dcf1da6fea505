"""The dead-letter channel: messages a connector gave up on, with why, and their replay.

Each dead letter goes to the dead-letter topic (the original key, value and headers plus
`dlq_*` error headers, like Kafka Connect's `__connect.errors.*`) and to the database, from
which operators list, inspect and replay them. A replay sends the original message to the
connector's retry topic as a fresh first attempt and is recorded.
"""

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

from faststream.kafka import KafkaBroker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.privacy import mask_error, mask_payload
from gateway.runtime.messaging import RawMessage
from gateway.store.database import Database
from gateway.store.tables import DeadLetter, DeadLetterReplay
from gateway.store.times import iso, stored
from gateway.topics import DEAD_LETTERS, retry_topic_name

log = logging.getLogger(__name__)

RETRY_ATTEMPT = "retry_attempt"
RETRY_DUE_AT = "retry_due_at"
State = Literal["open", "replayed", "discarded", "all"]


class NotReplayable(ValueError):
    pass


class DeadLetters:
    def __init__(self, database: Database, broker: KafkaBroker) -> None:
        self.database = database
        self.broker = broker

    async def bury(self, connector: str, message: RawMessage, *, attempts: int, error: BaseException,
                   message_id: str, dossier_code: str,
                   also: Callable[[AsyncSession], Awaitable[None]] | None = None) -> int:
        """Dead-letter `message`: in the database and on the dead-letter topic, or neither.
        `also` runs in the same transaction (releasing the message's place in a queue)."""
        now = datetime.now(UTC)
        error_message = str(error) or type(error).__name__
        async with self.database.transaction() as session:
            record = DeadLetter(
                connector=connector, dossier_code=dossier_code[:64], message_id=message_id[:100],
                source_topic=message.topic, source_partition=message.partition, source_offset=message.offset,
                attempts=attempts, error_class=_qualified_name(error), error_message=error_message[:4000],
                key=message.key_text[:200], headers=json.dumps(message.headers, ensure_ascii=False),
                payload=base64.b64encode(message.value).decode(), created_at=now, replay_count=0,
            )
            session.add(record)
            await session.flush()
            headers = {
                **_without_retry_headers(message.headers),
                "dlq_id": str(record.id),
                "dlq_source_topic": message.topic,
                "dlq_source_partition": str(message.partition),
                "dlq_source_offset": str(message.offset),
                "dlq_connector": connector,
                "dlq_attempts": str(attempts),
                "dlq_exception_class": record.error_class,
                "dlq_exception_message": error_message[:1000],
                "dlq_time": now.isoformat(),
            }
            if also is not None:
                await also(session)
            await self.broker.publish(message.value, DEAD_LETTERS.name, key=message.key, headers=headers)
        log.warning("%s: dead-lettered %s of dossier %s after %s attempt(s): %s",
                    connector, message_id, dossier_code, attempts, error_message)
        return record.id

    async def recent(self, *, connector: str | None = None, dossier_code: str | None = None,
                     since: datetime | None = None, until: datetime | None = None, state: State = "all",
                     limit: int = 100) -> list[DeadLetter]:
        """Newest first; `since` included, `until` excluded; state open: neither replayed nor discarded."""
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if connector:
            query = query.where(DeadLetter.connector == connector)
        if dossier_code:
            query = query.where(DeadLetter.dossier_code == dossier_code)
        if since is not None:
            query = query.where(DeadLetter.created_at >= stored(since))
        if until is not None:
            query = query.where(DeadLetter.created_at < stored(until))
        if state == "open":
            query = query.where(DeadLetter.replay_count == 0, DeadLetter.discarded_at.is_(None))
        elif state == "replayed":
            query = query.where(DeadLetter.replay_count > 0)
        elif state == "discarded":
            query = query.where(DeadLetter.discarded_at.is_not(None))
        async with self.database.transaction() as session:
            return list((await session.scalars(query)).all())

    async def open_counts(self) -> dict[str, int]:
        async with self.database.transaction() as session:
            return await open_counts(session)

    async def discard(self, dead_letter_ids: list[int], discarded_by: str, reason: str) -> list[int]:
        """Mark dead letters as given up on for good (kept, never replayed); the ids discarded.
        One already discarded is left as it was."""
        now = datetime.now(UTC)
        discarded = []
        async with self.database.transaction() as session:
            for letter in (await session.scalars(select(DeadLetter).where(DeadLetter.id.in_(dead_letter_ids))
                                                 .with_for_update())).all():
                if letter.discarded_at is None:
                    letter.discarded_at, letter.discarded_by, letter.discard_reason = now, discarded_by, reason
                    discarded.append(letter.id)
        log.info("dead letters %s discarded by %s: %s", discarded, discarded_by, reason)
        return sorted(discarded)

    async def get(self, dead_letter_id: int) -> DeadLetter | None:
        async with self.database.transaction() as session:
            return await session.get(DeadLetter, dead_letter_id)

    async def replay(self, dead_letter_ids: list[int], requested_by: str, retry_topics: set[str],
                     again: bool = False) -> list[int]:
        """Send each dead letter back through its connector's retry topic, as a fresh first
        attempt with the message's own identity; the ids replayed.

        All are checked before any is sent: one that cannot be replayed (discarded; already
        replayed, unless `again`; a connector with no retry topic, whose dead letters are messages
        nobody could read) raises NotReplayable and nothing is sent. One that a concurrent
        request replays or discards meanwhile is left out."""
        letters = [letter for letter in [await self.get(i) for i in dead_letter_ids] if letter is not None]
        for letter in letters:
            if problem := _not_replayable(letter, retry_topics, again):
                raise NotReplayable(problem)
        replayed = []
        for letter in letters:
            now = datetime.now(UTC)
            async with self.database.transaction() as session:
                locked = await session.get(DeadLetter, letter.id, with_for_update=True)
                if locked is None or _not_replayable(locked, retry_topics, again):
                    continue
                # The identity it had at its source, even if its producer set none (else FastStream
                # would give the copy an id of its own, and the dossier would be lost).
                headers = {**json.loads(locked.headers), "message_id": locked.message_id,
                           "correlation_id": locked.dossier_code, RETRY_ATTEMPT: "0",
                           RETRY_DUE_AT: str(int(now.timestamp() * 1000)), "replay_of_dead_letter": str(locked.id)}
                await self.broker.publish(base64.b64decode(locked.payload), retry_topic_name(locked.connector),
                                          key=(locked.key or "").encode() or None, headers=headers)
                locked.replay_count += 1
                locked.last_replayed_at = now
                session.add(DeadLetterReplay(dead_letter_id=locked.id, replayed_at=now, requested_by=requested_by))
            replayed.append(letter.id)
            log.info("dead letter %s replayed to %s by %s", letter.id, letter.connector, requested_by)
        return replayed


async def open_counts(session: AsyncSession) -> dict[str, int]:
    """Dead letters neither replayed nor discarded, per connector."""
    query = (select(DeadLetter.connector, func.count()).where(
        DeadLetter.replay_count == 0, DeadLetter.discarded_at.is_(None)).group_by(DeadLetter.connector))
    return {connector: count for connector, count in (await session.execute(query)).all()}


def _not_replayable(letter: DeadLetter, retry_topics: set[str], again: bool) -> str | None:
    if letter.discarded_at is not None:
        return f"dead letter {letter.id} was discarded by {letter.discarded_by}: {letter.discard_reason}"
    if retry_topic_name(letter.connector) not in retry_topics:
        return (f"dead letter {letter.id} belongs to {letter.connector}, which has no retry topic: correct the "
                "message at its producer and send it again")
    if letter.replay_count and not again:
        return (f"dead letter {letter.id} was replayed already ({iso(letter.last_replayed_at)}); "
                "ask again with again=true (gateway dlq replay --again) to send it once more")
    return None


def describe(letter: DeadLetter, with_payload: bool = False) -> dict:
    """For operators: the payload's personal data (ID numbers, phones, names, addresses) masked."""
    data = {
        "id": letter.id, "connector": letter.connector, "dossier_code": letter.dossier_code,
        "message_id": letter.message_id, "source": f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}",
        "attempts": letter.attempts, "error_class": letter.error_class,
        "error_message": mask_error(letter.error_message), "created_at": iso(letter.created_at),
        "replay_count": letter.replay_count, "last_replayed_at": iso(letter.last_replayed_at), "state": state_of(letter),
        "discarded_at": iso(letter.discarded_at), "discarded_by": letter.discarded_by,
        "discard_reason": letter.discard_reason,
    }
    if with_payload:
        payload = base64.b64decode(letter.payload)
        data["key"] = letter.key
        data["headers"] = {name: mask_error(str(value)) for name, value in json.loads(letter.headers).items()}
        data["payload"] = mask_payload(payload)
    return data


def state_of(letter: DeadLetter) -> State:
    if letter.discarded_at is not None:
        return "discarded"
    return "replayed" if letter.replay_count else "open"



def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _without_retry_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if not name.startswith(("retry_", "dlq_"))}
