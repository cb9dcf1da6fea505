"""What operators do (replay, discard, ...): each action is kept with who did it and why, and
written to the message log, once per dossier it touched, so a dossier's trace shows it too."""

import json
from datetime import UTC, datetime

from sqlalchemy import select

from gateway.audit.message_log import MessageLog
from gateway.ops.console.auth import Principal
from gateway.store.database import Database
from gateway.store.tables import OperatorAction
from gateway.store.times import iso

CHANNEL = "console"


class OperatorActions:
    def __init__(self, database: Database, message_log: MessageLog) -> None:
        self.database = database
        self.message_log = message_log

    async def record(self, principal: Principal, action: str, *, target: dict, reason: str, result: dict,
                     dossier_codes: list[str] | tuple[str, ...] = ()) -> int:
        """Keep the action; returns its id once the message log holds it."""
        async with self.database.transaction() as session:
            row = OperatorAction(at=datetime.now(UTC), user_name=principal.name, action=action,
                                 target=_json(target), reason=reason, result=_json(result))
            session.add(row)
            await session.flush()
            action_id = row.id
        payload = _json({"action_id": action_id, "user": principal.name, "role": principal.role, "action": action,
                         "target": target, "reason": reason, "result": result}).encode()
        for index, code in enumerate(sorted(set(dossier_codes)) or ["-"]):
            await self.message_log.record(direction="in", channel=CHANNEL, partner=f"operator:{principal.name}",
                                          message_id=f"action-{action_id}-{index}", dossier_code=code,
                                          payload=payload, outcome=f"{action} by {principal.name}: {reason}")
        return action_id

    async def recent(self, limit: int = 50) -> list[dict]:
        async with self.database.transaction() as session:
            rows = (await session.scalars(select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit))).all()
        return [{"id": row.id, "at": iso(row.at), "user": row.user_name, "action": row.action,
                 "target": json.loads(row.target), "reason": row.reason, "result": json.loads(row.result)}
                for row in rows]


def _json(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
