"""FastAPI: wrapping an existing router with role checks at include time, and which answer an
anonymous request gets when its body is also bad. Run with the gateway's venv (fastapi, httpx)."""

from enum import IntEnum

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2


TOKENS = {"v-token": ("vy", Role.VIEWER), "o-token": ("oanh", Role.OPERATOR)}


def principal(request: Request):
    auth = request.headers.get("authorization", "")
    found = TOKENS.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
    if found is None:
        raise HTTPException(401, "sign in", headers={"WWW-Authenticate": "Bearer"})
    return found


def require(role: Role):
    def check(who=Depends(principal)):
        if who[1] < role:
            raise HTTPException(403, f"{role.name.lower()} role needed")
        return who
    return check


class Replay(BaseModel):
    ids: list[int]
    reason: str


def existing_router() -> APIRouter:  # stands for dead_letters_router(...): unchanged code
    router = APIRouter(prefix="/api/v1/dead-letters")

    @router.get("")
    async def listing():
        return []

    @router.post("/replay", dependencies=[Depends(require(Role.OPERATOR))])
    async def replay(body: Replay):
        return {"replayed": body.ids}
    return router


app = FastAPI()
app.include_router(existing_router(), dependencies=[Depends(require(Role.VIEWER))])
client = TestClient(app)
cases = [
    ("anonymous GET", "get", "/api/v1/dead-letters", {}, None),
    ("viewer GET", "get", "/api/v1/dead-letters", {"authorization": "Bearer v-token"}, None),
    ("viewer POST replay", "post", "/api/v1/dead-letters/replay", {"authorization": "Bearer v-token"}, {"ids": [1], "reason": "x"}),
    ("operator POST replay", "post", "/api/v1/dead-letters/replay", {"authorization": "Bearer o-token"}, {"ids": [1], "reason": "x"}),
    ("anonymous POST, valid body", "post", "/api/v1/dead-letters/replay", {}, {"ids": [1], "reason": "x"}),
    ("anonymous POST, body off schema", "post", "/api/v1/dead-letters/replay", {}, {"ids": "x"}),
]
for label, method, path, headers, body in cases:
    response = getattr(client, method)(path, headers=headers, **({"json": body} if body is not None else {}))
    print(f"{label:34} -> {response.status_code} {response.text[:80]}")
response = client.post("/api/v1/dead-letters/replay", headers={"content-type": "application/json"}, content=b"{not json")
print(f"{'anonymous POST, not JSON':34} -> {response.status_code} {response.text[:80]}")
