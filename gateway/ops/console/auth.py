"""Who may use the operator API and console: users with a role (viewer or operator), signed in
with a password (a browser session in an HttpOnly cookie, with a CSRF token for changes) or an
API token (`Authorization: Bearer`, for scripts and the CLI).

Secrets are stored only as hashes: passwords with Argon2id, session and token secrets with
SHA-256 (they are random, so a fast hash is enough). The role is checked on every request by
`AccessGuard`, before the request body is read, so an anonymous caller gets 401 whatever it sends.
"""

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from sqlalchemy import delete, select
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ops.console.settings import ConsoleSettings
from gateway.store.database import Database
from gateway.store.tables import ConsoleCredential, ConsoleUser
from gateway.store.times import loaded

ROLES = ("viewer", "operator")
RANK = {"anonymous": 0, "viewer": 1, "operator": 2}
SESSION_COOKIE = "gateway_session"
CSRF_HEADER = "x-csrf-token"
USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,90}$")  # "operator:NAME" fits the message log
MIN_PASSWORD = 10
# OWASP's minimum for Argon2id: 19 MiB, 2 passes (about 30 ms here).
ARGON_MEMORY_KIB, ARGON_PASSES = 19 * 1024, 2
# Repeated wrong passwords for one name: refused for a while, so guessing is slow.
FAILURES_ALLOWED, LOCKOUT_S = 5, 300.0

# Paths partners, probes and browsers reach without signing in. Everything else under /api/
# needs a role: reading (GET, HEAD) a viewer, changing anything an operator.
PUBLIC = (
    ("POST", re.compile(r"^/api/v1/dossiers/events$")),
    ("POST", re.compile(r"^/api/v1/ministries/[^/]+/callback$")),
    ("POST", re.compile(r"^/api/v1/payments/[^/]+/confirmations$")),
    ("POST", re.compile(r"^/api/v1/postal/[^/]+/tracking$")),
    ("POST", re.compile(r"^/api/v1/signatures/verify$")),
    ("POST", re.compile(r"^/api/v1/console/session$")),  # signing in
)
# Changes any signed-in user may make: signing out.
ANY_ROLE = (("DELETE", re.compile(r"^/api/v1/console/session$")),)
READING = ("GET", "HEAD", "OPTIONS")
TOKEN_ENV = "OPERATOR_TOKEN"  # where the CLI and `gateway demo` find their API token


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # session, token, anonymous
    csrf_token: str | None = None
    secret_hash: str | None = None


def token_headers() -> dict[str, str]:
    """Headers a client of the operator API sends: the API token in $OPERATOR_TOKEN, if set."""
    token = os.environ.get(TOKEN_ENV)
    return {"Authorization": f"Bearer {token}"} if token else {}


def hash_password(password: str) -> str:
    kdf = Argon2id(salt=secrets.token_bytes(16), length=32, iterations=ARGON_PASSES, lanes=1,
                   memory_cost=ARGON_MEMORY_KIB)
    return kdf.derive_phc_encoded(password.encode())


def password_matches(password: str, encoded: str) -> bool:
    try:
        Argon2id.verify_phc_encoded(password.encode(), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Verified when the name is unknown, so a wrong name takes as long as a wrong password.
_DECOY_HASH = hash_password(secrets.token_urlsafe(16))


class Users:
    """Users, their sessions and API tokens, in the database."""

    def __init__(self, database: Database, settings: ConsoleSettings) -> None:
        self.database = database
        self.settings = settings
        self._failures: dict[str, list[float]] = {}

    async def add(self, name: str, role: str, password: str) -> None:
        _check_user(name, role, password)
        encoded = await asyncio.to_thread(hash_password, password)
        async with self.database.transaction() as session:
            if await session.get(ConsoleUser, name) is not None:
                raise UserError(f"user {name} exists already (change it with `gateway users password` or `role`)")
            session.add(ConsoleUser(name=name, role=role, password_hash=encoded, disabled=False,
                                    created_at=datetime.now(UTC)))

    async def change(self, name: str, *, role: str | None = None, password: str | None = None,
                     disabled: bool | None = None) -> None:
        """Change a user; a new password, a new role or disabling signs the user out everywhere.
        Disabling also deletes the user's API tokens: enabling again does not bring them back."""
        if role is not None and role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if password is not None:
            _check_password(password)
        encoded = await asyncio.to_thread(hash_password, password) if password is not None else None
        async with self.database.transaction() as session:
            user = await session.get(ConsoleUser, name)
            if user is None:
                raise UserError(f"there is no user {name}")
            if role is not None:
                user.role = role
            if encoded is not None:
                user.password_hash = encoded
            if disabled is not None:
                user.disabled = disabled
            ended = [ConsoleCredential.user_name == name]
            if not disabled:
                ended.append(ConsoleCredential.kind == "session")
            await session.execute(delete(ConsoleCredential).where(*ended))

    async def list(self) -> list[dict]:
        async with self.database.transaction() as session:
            users = (await session.scalars(select(ConsoleUser).order_by(ConsoleUser.name))).all()
        return [{"name": user.name, "role": user.role, "disabled": user.disabled} for user in users]

    async def sign_in(self, name: str, password: str) -> tuple[str, Principal] | None:
        """A new session for the right name and password, else None (and the failure counts)."""
        if self._locked_out(name):
            return None
        # Counted as a failure before the check, so requests sent side by side cannot try more
        # than FAILURES_ALLOWED passwords; taken back if it is right.
        attempt = time.monotonic()
        self._failures.setdefault(name, []).append(attempt)
        async with self.database.transaction() as session:
            user = await session.get(ConsoleUser, name)
        encoded = user.password_hash if user is not None else _DECOY_HASH
        matches = await asyncio.to_thread(password_matches, password, encoded)
        if user is None or user.disabled or not matches:
            return None
        self._failures.pop(name, None)
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            session.add(ConsoleCredential(secret_hash=secret_hash(secret), kind="session", user_name=name,
                                          csrf_token=csrf, created_at=now,
                                          expires_at=now + timedelta(hours=self.settings.session_hours)))
            # Expired sessions of anyone are dropped here, where sessions are made.
            await session.execute(delete(ConsoleCredential).where(
                ConsoleCredential.kind == "session", ConsoleCredential.expires_at < now))
        return secret, Principal(name, user.role, "session", csrf, secret_hash(secret))

    async def sign_out(self, principal: Principal) -> None:
        if principal.secret_hash is None:
            return
        async with self.database.transaction() as session:
            await session.execute(delete(ConsoleCredential).where(
                ConsoleCredential.secret_hash == principal.secret_hash))

    async def issue_token(self, name: str, label: str, days: float | None) -> str:
        """A new API token for `name`, valid `days` (None: until the user is disabled)."""
        if days is not None and days <= 0:
            raise UserError("a token lasts a positive number of days (or never expires: --no-expiry)")
        secret = "gwt_" + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            if await session.get(ConsoleUser, name) is None:
                raise UserError(f"there is no user {name}")
            session.add(ConsoleCredential(secret_hash=secret_hash(secret), kind="token", user_name=name,
                                          label=label[:200], created_at=now,
                                          expires_at=now + timedelta(days=days) if days is not None else None))
        return secret

    async def principal_of(self, secret: str, kind: str) -> Principal | None:
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            credential = await session.get(ConsoleCredential, secret_hash(secret))
            if credential is None or credential.kind != kind:
                return None
            expires_at = loaded(credential.expires_at)
            if expires_at is not None and expires_at <= now:
                return None
            user = await session.get(ConsoleUser, credential.user_name)
        if user is None or user.disabled:
            return None
        return Principal(user.name, user.role, kind, credential.csrf_token, credential.secret_hash)

    def _locked_out(self, name: str) -> bool:
        recent = [at for at in self._failures.get(name, []) if time.monotonic() - at < LOCKOUT_S]
        self._failures[name] = recent
        return len(recent) >= FAILURES_ALLOWED


def _check_user(name: str, role: str, password: str) -> None:
    if not USER_NAME.match(name):
        raise UserError("a user name has 1 to 90 letters, digits or . _ @ -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    _check_password(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")


def required_role(method: str, path: str) -> str | None:
    """The role a request needs, or None when anyone may make it."""
    if not path.startswith("/api/"):
        return None  # the console's pages and assets, health, metrics, API docs
    if any(method == public_method and pattern.match(path) for public_method, pattern in PUBLIC):
        return None
    if method in READING or any(method == any_method and pattern.match(path) for any_method, pattern in ANY_ROLE):
        return "viewer"
    return "operator"


class AccessGuard:
    """ASGI middleware: finds who is asking and lets through only requests their role allows.
    The principal is put in the request's state (`request.state.principal`)."""

    def __init__(self, app: ASGIApp, users: Users, settings: ConsoleSettings) -> None:
        self.app = app
        self.users = users
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        needed = required_role(method, path)
        principal = await self._principal(scope)
        scope.setdefault("state", {})["principal"] = principal
        if needed is not None:
            problem = self._refusal(principal, needed, method, scope)
            if problem is not None:
                await _answer(send, *problem)
                return
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Principal | None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return await self.users.principal_of(authorization[7:].strip(), "token")
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no session
            return None
        if SESSION_COOKIE in cookie:
            return await self.users.principal_of(cookie[SESSION_COOKIE].value, "session")
        if self.settings.anonymous_role != "none":
            return Principal("anonymous", self.settings.anonymous_role, "anonymous")
        return None

    def _refusal(self, principal: Principal | None, needed: str, method: str, scope: Scope) -> tuple | None:
        if principal is None:
            return 401, "sign in first: a console session or an API token (Authorization: Bearer) is needed"
        if principal.via == "session" and method not in READING:
            sent = dict(scope["headers"]).get(CSRF_HEADER.encode(), b"")
            if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token.encode()):
                return 403, f"the {CSRF_HEADER} header does not match this session (reload the console)"
        if RANK[principal.role] < RANK[needed]:
            return 403, f"this needs the {needed} role; {principal.name} is {principal.role}"
        return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="gateway"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def require(role: str):
    """A route dependency: the signed-in principal must hold `role` (for routes whose method
    alone does not say it, such as reading the settings)."""
    from fastapi import HTTPException, Request

    async def check(request: Request) -> Principal:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            raise HTTPException(401, detail="sign in first")
        if RANK[principal.role] < RANK[role]:
            raise HTTPException(403, detail=f"this needs the {role} role; {principal.name} is {principal.role}")
        return principal

    return check
