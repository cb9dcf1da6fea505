"""HTTP API for operators: list, inspect and replay dead letters."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from gateway.reliability.dead_letters import DeadLetters, NotReplayable, describe

REPLAY_LIMIT = 1000


class ReplayRequest(BaseModel):
    ids: list[int] = Field(default_factory=list, description="Dead letters to replay")
    connector: str | None = Field(default=None, description="...or every dead letter of this connector")
    dossier: str | None = Field(default=None, description="...or of this dossier (with connector: of both)")
    requested_by: str = Field(default="api", max_length=200, description="Recorded with the replay")

    @model_validator(mode="after")
    def _something_selected(self) -> "ReplayRequest":
        if not (self.ids or self.connector or self.dossier):
            raise ValueError("name the dead letters to replay: ids, connector or dossier")
        return self


def dead_letters_router(dead_letters: DeadLetters, retry_topics: set[str]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])

    @router.get("", summary="Dead letters, newest first")
    async def list_dead_letters(
        connector: str | None = None,
        dossier: str | None = None,
        limit: Annotated[int, Query(ge=1, le=REPLAY_LIMIT)] = 100,
    ) -> list[dict]:
        letters = await dead_letters.recent(connector=connector, dossier_code=dossier, limit=limit)
        return [describe(letter) for letter in letters]

    @router.get("/{dead_letter_id}", summary="One dead letter, with the original message",
                responses={404: {"description": "No such dead letter"}})
    async def show_dead_letter(dead_letter_id: int) -> dict:
        letter = await dead_letters.get(dead_letter_id)
        if letter is None:
            raise HTTPException(404, detail=f"there is no dead letter {dead_letter_id}")
        return describe(letter, with_payload=True)

    @router.post("/replay", summary="Send dead letters back through their connector's retry topic",
                 responses={404: {"description": "No such dead letter"},
                            409: {"description": "The connector has no retry topic (the message was unreadable)"}})
    async def replay_dead_letters(request: ReplayRequest) -> dict:
        ids = list(request.ids)
        if request.connector or request.dossier:
            letters = await dead_letters.recent(connector=request.connector, dossier_code=request.dossier,
                                                limit=REPLAY_LIMIT)
            ids += [letter.id for letter in letters if letter.replay_count == 0]
        unknown = [i for i in request.ids if await dead_letters.get(i) is None]
        if unknown:
            raise HTTPException(404, detail=f"there is no dead letter {', '.join(map(str, unknown))}")
        try:
            replayed = await dead_letters.replay(sorted(set(ids)), request.requested_by, retry_topics)
        except NotReplayable as error:
            raise HTTPException(409, detail=str(error)) from None
        return {"replayed": replayed}

    return router
