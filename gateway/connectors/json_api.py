"""A partner's signed JSON API, called as its configuration says. Shared by the connectors whose
partners speak JSON over HTTP with a shared secret (payment providers, postal services): each
operation is a method and a path, its body built by a mapping spec and signed with the
partner's scheme, and every answer read by the partner's reply spec into the gateway's words
(`{"body": ANSWER, "operation": ROLE}` is the reply spec's input).
"""

from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from gateway.mappings.errors import SpecProblems
from gateway.mappings.spec import MappingSpec, load_spec, resolve_spec_folder
from gateway.reliability.errors import TransientError
from gateway.runtime.config import InvalidSettings, PartnerSettings, partner_options
from gateway.webhooks.scheme import SignatureScheme, signed

if TYPE_CHECKING:
    from gateway.runtime.roles import RoleContext

OptionsModel = TypeVar("OptionsModel", bound=BaseModel)


class Options(BaseModel):
    """Base of a generic connector's options: an unknown key is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Operation(Options):
    method: Literal["GET", "POST"] = "POST"
    path: str = Field(pattern=r"^/", description="Path below the endpoint; may hold {placeholders} "
                                                 "such as {reference} or {tracking_number}")
    spec: str | None = Field(default=None, description="Spec building the request body (POST)")


def generic_partner_options(model: type[OptionsModel], name: str, settings: PartnerSettings, what: str) -> OptionsModel:
    """partners.NAME.options of a partner a generic connector serves, checked with its name (it
    names topics and flows) and its mapping folder; every problem names its setting."""
    options = partner_options(model, name, settings)
    from gateway.runtime.roles import partner_name_problems  # here: roles import the connectors

    problems = partner_name_problems(name, what)
    if settings.mapping is None:
        problems.append(f"partners.{name}.mapping must name the folder of this partner's specs")
    elif not resolve_spec_folder(settings.mapping).is_dir():
        problems.append(f"partners.{name}.mapping: no spec folder {settings.mapping}")
    if problems:
        raise InvalidSettings(problems)
    return options


def partner_endpoint(context: "RoleContext", name: str) -> str:
    """Where the partner answers: its endpoint, else its simulator in this process."""
    from gateway.runtime.roles import UnknownRole

    try:
        return context.endpoint(name)
    except UnknownRole as error:
        raise InvalidSettings([str(error)]) from None


def load_specs(name: str, settings: PartnerSettings, wanted: dict[str, str],
               operations: dict[str, Operation | None]) -> tuple[dict[str, MappingSpec], list[str]]:
    """The partner's specs by role (`wanted`: role -> file in its mapping folder), and every
    problem: a spec that does not load, a POST operation without a spec for its body."""
    folder = resolve_spec_folder(settings.mapping or "")
    specs: dict[str, MappingSpec] = {}
    problems: list[str] = []
    for role, file in wanted.items():
        try:
            specs[role] = load_spec(folder / file)
        except SpecProblems as error:
            problems += [f"partners.{name}.mapping ({folder / file}): {problem}" for problem in error.problems]
    for role, operation in operations.items():
        if operation is not None and operation.method == "POST" and not operation.spec:
            problems.append(f"partners.{name}.options.operations.{role}.spec: a POST needs a spec for its body")
    return specs, problems


def operation_specs(operations: dict[str, Operation | None]) -> dict[str, str]:
    """role -> spec file of the operations that name one."""
    return {role: operation.spec for role, operation in operations.items() if operation is not None and operation.spec}


def shared_secret(name: str, settings: PartnerSettings, scheme: SignatureScheme, problems: list[str]) -> str:
    """The secret the partner signs with; a missing one is added to `problems`."""
    try:
        return settings.credential(scheme.credential)
    except (KeyError, LookupError) as error:
        problems.append(f"partners.{name}.credentials.{scheme.credential}: {str(error).strip(chr(39))} "
                        "(the shared secret of the signature)")
        return ""


def optional_credential(settings: PartnerSettings, name: str) -> str | None:
    if name not in settings.credentials:
        return None
    try:
        return settings.credential(name)
    except LookupError:
        return None


class JsonApi:
    """Calls one partner: `call` sends an operation and returns the answer read by the reply spec."""

    def __init__(self, name: str, endpoint: str, http: httpx.AsyncClient, *, specs: dict[str, MappingSpec],
                 scheme: SignatureScheme, secret: str, token: str | None) -> None:
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.http = http
        self.specs = specs
        self.scheme = scheme
        self.secret = secret
        self.token = token

    async def call(self, role: str, operation: Operation, spec_input: dict[str, Any], *,
                   path_values: dict[str, str], signing_kind: str) -> dict[str, Any]:
        """One request; a 5xx, 408, 425 or 429 answer and an answer without a JSON object are
        transient (raised), any other answer is read by the reply spec (`operation` = role)."""
        path = operation.path
        for key, value in path_values.items():
            path = path.replace("{" + key + "}", quote(value, safe=""))
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = self.specs[role].map(spec_input) if operation.method == "POST" else None
        content, signature_headers = signed(self.scheme, self.secret, body, signing_kind)
        headers |= signature_headers
        if body is not None:
            headers["content-type"] = "application/json"
        response = await self.http.request(operation.method, self.endpoint + path, content=content or None,
                                           headers=headers)
        if response.status_code >= 500 or response.status_code in (408, 425, 429):
            response.raise_for_status()  # classified as transient by its status
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(f"{self.name} answered {response.status_code} without JSON: "
                                 f"{response.text[:200]!r}", code="not-json") from None
        if not isinstance(answer, dict):
            raise TransientError(f"{self.name} answered {response.status_code} with JSON that is not an object",
                                 code="not-json")
        return self.read(answer, role)

    def read(self, body: dict[str, Any], operation: str) -> dict[str, Any]:
        """An answer or a callback in the gateway's words (raises MappingFailure / OutputInvalid,
        which are permanent)."""
        return self.specs["reply"].map({"body": absent_as_null(body), "operation": operation})


def absent_as_null(value: Any) -> Any:
    """Partners write an absent value as "" or null (MaGiaoDich: "" on a pending notice): both are absent."""
    if isinstance(value, dict):
        return {key: absent_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [absent_as_null(item) for item in value]
    return None if isinstance(value, str) and not value.strip() else value
