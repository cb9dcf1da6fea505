"""HTTP API for operators: list, inspect, replay and discard dead letters. Replaying and
discarding need the operator role and a reason; both are operator actions (message log)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from gateway.ops.console.actions import OperatorActions
from gateway.reliability.dead_letters import DeadLetters, NotReplayable, State, describe

REPLAY_LIMIT = 1000
DeadLetterId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
                   Field(description="Why: kept with the action in the message log")]


class ReplayRequest(BaseModel):
    ids: list[DeadLetterId] = Field(default_factory=list, max_length=REPLAY_LIMIT, description="Dead letters to replay")
    connector: str | None = Field(default=None, description="...or every open dead letter of this connector")
    dossier: str | None = Field(default=None, description="...or of this dossier (with connector: of both)")
    since: AwareDatetime | None = Field(default=None, description="...created at or after this time")
    until: AwareDatetime | None = Field(default=None, description="...created before this time")
    again: bool = Field(default=False, description="Also replay letters replayed before (named by id)")
    reason: Reason

    @model_validator(mode="after")
    def _something_selected(self) -> "ReplayRequest":
        if not (self.ids or self.connector or self.dossier or self.since or self.until):
            raise ValueError("name the dead letters to replay: ids, or a connector, dossier or time window")
        return self


class DiscardRequest(BaseModel):
    ids: list[DeadLetterId] = Field(min_length=1, max_length=REPLAY_LIMIT, description="Dead letters to give up on")
    reason: Reason


def dead_letters_router(dead_letters: DeadLetters, retry_topics: set[str], actions: OperatorActions) -> APIRouter:
    router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])

    @router.get("", summary="Dead letters, newest first")
    async def list_dead_letters(
        connector: str | None = None,
        dossier: str | None = None,
        since: Annotated[AwareDatetime | None, Query(description="Created at or after")] = None,
        until: Annotated[AwareDatetime | None, Query(description="Created before")] = None,
        state: State = "all",
        limit: Annotated[int, Query(ge=1, le=REPLAY_LIMIT)] = 100,
    ) -> list[dict]:
        letters = await dead_letters.recent(connector=connector, dossier_code=dossier, since=since, until=until,
                                            state=state, limit=limit)
        return [describe(letter) for letter in letters]

    @router.get("/{dead_letter_id}", summary="One dead letter, with the original message (personal data masked)",
                responses={404: {"description": "No such dead letter"}})
    async def show_dead_letter(dead_letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict:
        letter = await dead_letters.get(dead_letter_id)
        if letter is None:
            raise HTTPException(404, detail=f"there is no dead letter {dead_letter_id}")
        return describe(letter, with_payload=True)

    @router.post("/replay", summary="Send dead letters back through their connector's retry topic",
                 responses={404: {"description": "No such dead letter"},
                            409: {"description": "Nothing was sent: one is discarded, replayed already (without "
                                                 "again), or of a connector with no retry topic (an unreadable "
                                                 "message)"}})
    async def replay_dead_letters(request: ReplayRequest, http: Request) -> dict:
        ids = list(request.ids)
        if request.connector or request.dossier or request.since or request.until:
            letters = await dead_letters.recent(connector=request.connector, dossier_code=request.dossier,
                                                since=request.since, until=request.until, state="open",
                                                limit=REPLAY_LIMIT)
            ids += [letter.id for letter in letters]
        letters = {i: await dead_letters.get(i) for i in sorted(set(ids))}
        unknown = [i for i in request.ids if letters.get(i) is None]
        if unknown:
            raise HTTPException(404, detail=f"there is no dead letter {', '.join(map(str, unknown))}")
        principal = http.state.principal
        try:
            replayed = await dead_letters.replay(sorted(letters), principal.name, retry_topics, request.again)
        except NotReplayable as error:
            raise HTTPException(409, detail=str(error)) from None
        if not replayed:  # a concurrent request took them all: nothing done, nothing to record
            return {"replayed": [], "action_id": None}
        action_id = await actions.record(
            principal, "replay dead letters", target=request.model_dump(mode="json", exclude={"reason"}),
            reason=request.reason, result={"replayed": replayed},
            dossier_codes=[letters[i].dossier_code for i in replayed])
        return {"replayed": replayed, "action_id": action_id}

    @router.post("/discard", summary="Give up on dead letters for good: kept, never replayed",
                 responses={404: {"description": "No such dead letter"}})
    async def discard_dead_letters(request: DiscardRequest, http: Request) -> dict:
        letters = {i: await dead_letters.get(i) for i in sorted(set(request.ids))}
        unknown = [i for i, letter in letters.items() if letter is None]
        if unknown:
            raise HTTPException(404, detail=f"there is no dead letter {', '.join(map(str, unknown))}")
        principal = http.state.principal
        discarded = await dead_letters.discard(sorted(letters), principal.name, request.reason)
        action_id = await actions.record(
            principal, "discard dead letters", target={"ids": sorted(letters)}, reason=request.reason,
            result={"discarded": discarded}, dossier_codes=[letters[i].dossier_code for i in discarded])
        return {"discarded": discarded, "action_id": action_id}

    return router
