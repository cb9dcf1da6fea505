"""What can be set, and where it is read from.

Sources, strongest first: GATEWAY_* environment variables, the YAML file given with
--config, the defaults below. Nested settings use one underscore after the group name:
GATEWAY_KAFKA_BOOTSTRAP sets kafka.bootstrap, GATEWAY_HTTP_PORT sets http.port. Values of
dict and list settings are JSON in environment variables. Secrets are never settings: a
setting names the environment variable that holds the secret.
"""

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from typing import Any, Literal, TypeVar

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, YamlConfigSettingsSource

from gateway.domain.working_calendar import WorkingCalendar
from gateway.ops.console.settings import Agency, ConsoleSettings
from gateway.signing.settings import AlgorithmRules, CertifiedCopyRules, SigningSettings
from gateway.simulators.faults import FaultProfile

ENV_PREFIX = "GATEWAY_"
OptionsModel = TypeVar("OptionsModel", bound=BaseModel)
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSettings(Group):
    bootstrap: str = Field(
        default="",
        description="Comma-separated host:port list of Apache Kafka. Empty: start the embedded Tansu broker",
    )
    partitions: int = Field(default=3, ge=1, le=1000, description="Partitions of each topic the gateway creates")
    topic_partitions: dict[str, int] = Field(default_factory=dict, description="Per-topic partition counts")
    replication_factor: int = Field(default=1, ge=1, le=10, description="Replicas of each topic the gateway creates")
    create_topics: bool = Field(default=True, description="Create missing topics at start-up")
    idempotent_producer: bool | None = Field(
        default=None,
        description="Producer idempotence. Empty: on for real Kafka, off for the embedded broker (unsupported there)",
    )
    client_id: str = Field(default="provincial-gateway", min_length=1, description="Kafka client id of this gateway")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How to talk to Kafka"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism; empty: no SASL"
    )
    sasl_username: str | None = Field(default=None, description="SASL user name")
    sasl_password_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="Name of the environment variable holding the SASL password"
    )
    embedded_startup_timeout_s: float = Field(
        default=20.0, gt=0, le=300, description="How long to wait for the embedded broker to listen"
    )
    request_timeout_ms: int = Field(
        default=15_000,
        ge=1000,
        le=300_000,
        description="How long a write may wait for Kafka before it fails (the intake then answers 503); unsent writes expire with it",
    )
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="How long stopping may take: messages in hand finish and commit, then the consumers leave their groups"
    )
    consumers_per_subscription: int = Field(
        default=3, ge=1, le=64,
        description="Consumers this process runs for each topic a role reads; each owns some partitions and works "
                    "them in order, so more than the topic's partitions only wait",
    )
    session_timeout_ms: int | None = Field(
        default=None,
        ge=1000,
        le=300_000,
        description="Consumer group session timeout. Empty: 2000 on the embedded broker (quick start-up), 10000 on Kafka",
    )

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_is_host_port_list(cls, value: str) -> str:
        for server in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", server):
                raise ValueError(f"'{server}' is not host:port (e.g. kafka-1:9092)")
        return value

    @field_validator("topic_partitions")
    @classmethod
    def _partition_counts_positive(cls, value: dict[str, int]) -> dict[str, int]:
        for topic, count in value.items():
            if count < 1:
                raise ValueError(f"topic '{topic}' needs at least 1 partition, got {count}")
        return value

    @property
    def servers(self) -> list[str]:
        return [part.strip() for part in self.bootstrap.split(",") if part.strip()]

    @property
    def embedded(self) -> bool:
        return not self.servers

    @property
    def effective_session_timeout_ms(self) -> int:
        # A new consumer waits about half of this for its first assignment.
        return self.session_timeout_ms or (2000 if self.embedded else 10_000)

    def partitions_for(self, topic: str) -> int:
        return self.topic_partitions.get(topic, self.partitions)


class DatabaseSettings(Group):
    url: str = Field(
        default="sqlite+aiosqlite:///gateway-data/gateway.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST:PORT/DB",
    )
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="Environment variable holding the database password"
    )
    schema_name: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]*$", description="PostgreSQL schema for the gateway's tables"
    )

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if not (value.startswith("sqlite+aiosqlite:///") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST:PORT/DB")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class HttpSettings(Group):
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="0: any free port")


class RetryPolicy(Group):
    """In-process retries first (short), then the connector's retry topic (long), then the dead-letter topic."""

    attempts: int = Field(default=3, ge=1, le=100, description="In-process calls per delivery, the first included")
    initial_delay_s: float = Field(default=0.5, gt=0, le=3600, description="Wait before the second in-process call")
    max_delay_s: float = Field(default=5.0, gt=0, le=3600, description="Longest wait between in-process calls")
    multiplier: float = Field(default=2.0, ge=1, le=10, description="Each wait is this many times the last")
    jitter: bool = Field(default=True, description="Randomise waits so retries from many workers spread out")
    deadline_s: float = Field(default=30.0, gt=0, le=3600, description="In-process retries stop once this much time has passed")
    parked_attempts: int = Field(
        default=5, ge=0, le=1000, description="Rounds through the retry topic before the dead-letter topic (0: none)")
    parked_delay_s: float = Field(default=10.0, ge=0, le=86400, description="Wait in the retry topic before the first round")
    parked_max_delay_s: float = Field(default=600.0, ge=0, le=86400, description="Longest wait in the retry topic")

    def parked_delay(self, attempt: int) -> float:
        """Wait before retry-topic round `attempt` (1, 2, ...): exponential, capped."""
        return min(self.parked_delay_s * self.multiplier ** max(0, attempt - 1), self.parked_max_delay_s)


class BreakerSettings(Group):
    failure_threshold: int = Field(default=5, ge=1, le=1000, description="Transient failures in a row that open it")
    cool_down_s: float = Field(default=30.0, gt=0, le=3600, description="How long it stays open before a probe")


class ErrorRules(Group):
    """Per-partner overrides of the default classification of failures."""

    transient_statuses: list[int] = Field(
        default_factory=list, description="HTTP statuses to retry besides 408, 425, 429 and 5xx")
    permanent_statuses: list[int] = Field(default_factory=list, description="HTTP statuses never to retry, even 5xx")
    transient_codes: list[str] = Field(
        default_factory=list, description="Partner error or SOAP fault codes that mean 'try again later' "
                                          "(a fault code matches with or without its prefix: soap:Server or Server)")
    transient_messages: list[str] = Field(
        default_factory=list, description="Words in a SOAP fault's message that mean 'try again later' (case ignored)")
    permanent_codes: list[str] = Field(
        default_factory=list, description="Partner error or SOAP fault codes never to retry, even if a message "
                                          "matches transient_messages")


class PartnerSettings(Group):
    """One partner endpoint: configured, not coded."""

    enabled: bool = Field(default=True, description="Whether the gateway talks to this partner")
    connector: Literal["soap", "payment", "postal"] | None = Field(
        default=None, description="A generic connector serving this partner, configured in options (soap: a "
                                  "ministry service over SOAP; payment: a fee payment provider; postal: a postal "
                                  "service). Empty: the connector of the same name")
    endpoint: AnyHttpUrl | None = Field(default=None, description="Empty: the partner's simulator when it runs")
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Credential name -> name of the environment variable that holds it (e.g. password: PORTAL_PASSWORD)",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=600, description="Timeout of one call to the partner")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries of transient failures")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings, description="Circuit breaker of the endpoint")
    errors: ErrorRules = Field(default_factory=ErrorRules, description="Which failures are transient")
    mapping: str | None = Field(
        default=None, description="Folder of the partner's mapping specs: a shipped name (national_portal) or a path. "
                                  "Empty: the shipped specs")
    options: dict[str, Any] = Field(default_factory=dict, description="Partner-specific settings")

    @field_validator("credentials")
    @classmethod
    def _credentials_are_env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, env_name in value.items():
            if not re.fullmatch(ENV_NAME, env_name):
                raise ValueError(
                    f"credential '{name}' must name an environment variable (letters, digits, _), not a secret value"
                )
        return value

    def credential(self, name: str) -> str:
        env_name = self.credentials.get(name)
        if env_name is None:
            raise KeyError(f"no credential '{name}' configured")
        value = os.environ.get(env_name)
        if value is None:
            raise LookupError(f"credential '{name}' expects environment variable {env_name}, which is not set")
        return value


def partners_served_by(settings: "Settings", connector: str) -> dict[str, PartnerSettings]:
    """The enabled partners a generic connector serves (partners.NAME.connector), by name."""
    return {name: partner for name, partner in settings.partners.items()
            if partner.connector == connector and partner.enabled}


def partner_options(model: type[OptionsModel], name: str, settings: PartnerSettings) -> OptionsModel:
    """partners.NAME.options read as a generic connector's options model; every problem names its setting."""
    try:
        return model.model_validate(settings.options)
    except ValidationError as error:
        raise InvalidSettings([
            f"partners.{name}.options.{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()]) from None


class SimulatorSettings(Group):
    enabled: bool = Field(default=True, description="Start the partner simulators with `gateway up`")
    host: str = Field(default="127.0.0.1", description="Address the simulators listen on")
    faults: dict[str, FaultProfile] = Field(default_factory=dict, description="Fault profile per simulator name")


class LogSettings(Group):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_ignore_empty=True,  # an empty variable (FOO= in a compose file) means "not set"
        extra="forbid",
        validate_assignment=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    partners: dict[str, PartnerSettings] = Field(
        default_factory=dict, description="Partner endpoints by name (see partners.NAME.*)"
    )
    simulators: SimulatorSettings = Field(default_factory=SimulatorSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    calendar: WorkingCalendar = Field(
        default_factory=WorkingCalendar,
        description="Working calendar (lịch làm việc) for deadlines: week, seasons, holidays, swapped days; "
                    "see deploy/calendar-2026.yaml")
    agencies: dict[str, Agency] = Field(
        default_factory=dict, description="Agencies by code (MaDonVi), for the monthly report (see agencies.CODE.*)")
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        sources = [init_settings, env_settings]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)


class InvalidSettings(Exception):
    """Start-up stops here: each problem names the setting, the value and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and the optional YAML file; raise InvalidSettings."""
    settings_cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise InvalidSettings([f"config file {config_file} does not exist or is not a file"])
        settings_cls = type("SettingsFromFile", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": str(config_file)}})
    try:
        return settings_cls(**overrides)
    except ValidationError as error:
        raise InvalidSettings([_describe(problem) for problem in error.errors()]) from None
    except Exception as error:  # a YAML syntax error, a JSON env value that does not parse
        raise InvalidSettings([f"could not read the configuration: {error}"]) from None


def _describe(problem: dict[str, Any]) -> str:
    loc = [str(part) for part in problem["loc"]]
    path = ".".join(loc)
    where = f" (environment {env_var_for(loc)} or the config file)" if loc else ""
    shown = "(missing)" if problem["type"] == "missing" else repr(problem.get("input"))
    if problem["type"] == "extra_forbidden":
        return f"{path}: there is no such setting{where}"
    return f"{path} = {shown}{where}: {problem['msg']}"


def env_var_for(loc: list[str]) -> str:
    """The environment variable that carries the setting at loc (a JSON value below two levels)."""
    group = Settings.model_fields.get(loc[0])
    model = group.annotation if group else None
    if len(loc) > 1 and isinstance(model, type) and issubclass(model, BaseModel) and loc[1] in model.model_fields:
        return f"{ENV_PREFIX}{loc[0]}_{loc[1]}".upper()
    return f"{ENV_PREFIX}{loc[0]}".upper()


def setting_for_env_var(name: str) -> str | None:
    """The setting path an environment variable sets, or None when it sets nothing."""
    if not name.startswith(ENV_PREFIX):
        return None
    group, _, rest = name.removeprefix(ENV_PREFIX).lower().partition("_")
    field = Settings.model_fields.get(group)
    if field is None:
        return None
    if not rest:
        return group
    model = field.annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f"{group}.{rest}" if rest in model.model_fields else None
    return None


def unknown_gateway_env_vars(environ: dict[str, str] | None = None) -> list[str]:
    """GATEWAY_* variables that set nothing: usually a typo worth a warning."""
    environ = os.environ if environ is None else environ
    return sorted(name for name in environ if name.startswith(ENV_PREFIX) and setting_for_env_var(name) is None)


SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key")


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as data, with secret values hidden and secret references resolved to (set)/(not set)."""
    data = settings.model_dump(mode="json")
    database_url = data["database"].pop("url")
    data = _mask_urls(data)
    # SQLAlchemy reads the URL itself: a password holding @, / or # is masked whole.
    data["database"] = {"url": make_url(database_url).render_as_string(hide_password=True), **data["database"]}
    for partner in data["partners"].values():
        partner["credentials"] = {
            name: f"${env_name} ({'set' if env_name in os.environ else 'not set'})"
            for name, env_name in partner["credentials"].items()
        }
        partner["options"] = _mask_secret_keys(partner["options"])
    return data


def _mask_urls(value: Any) -> Any:
    """Every URL with its password (user:PASSWORD@host, the password may hold an @) and its query
    values masked: a partner endpoint may carry a key."""
    if isinstance(value, dict):
        return {key: _mask_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_urls(item) for item in value]
    if isinstance(value, str) and "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:  # not a URL after all (a [ in a password): shown as nothing
            return "***"
        netloc = parts.netloc
        if "@" in netloc:
            user_info, _, host = netloc.rpartition("@")
            netloc = f"{user_info.split(':', 1)[0]}:***@{host}" if ":" in user_info else f"***@{host}"
        query = "&".join(f"{pair.split('=', 1)[0]}=***" for pair in parts.query.split("&")) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))
    return value


def _mask_secret_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: "***" if any(word in key.lower() for word in SECRET_WORDS) and not key.lower().endswith("_env") else _mask_secret_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_secret_keys(item) for item in value]
    return value


def settings_reference() -> str:
    """A Markdown table of every setting, from the models: the README's settings section."""
    rows = ["| setting | environment variable | default | what it does |", "| --- | --- | --- | --- |"]
    groups: list[tuple[str, type[BaseModel]]] = [("", Settings), ("partners.NAME.", PartnerSettings),
                                                 ("partners.NAME.retry.", RetryPolicy),
                                                 ("partners.NAME.breaker.", BreakerSettings),
                                                 ("partners.NAME.errors.", ErrorRules),
                                                 ("simulators.faults.NAME.", FaultProfile),
                                                 ("signing.algorithms.", AlgorithmRules),
                                                 ("signing.certified_copy.", CertifiedCopyRules),
                                                 ("agencies.CODE.", Agency)]
    for prefix, model in groups:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if not prefix and isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for sub_name, sub_field in annotation.model_fields.items():
                    rows.append(_reference_row(f"{name}.{sub_name}", env_var_for([name, sub_name]), sub_field))
            elif not isinstance(annotation, type) or not issubclass(annotation, BaseModel):
                group = re.split(r"\.[A-Z]+\.", prefix)[0]  # partners.NAME. -> partners
                env = env_var_for([name]) if not prefix else f"JSON in {env_var_for(group.split('.'))}"
                rows.append(_reference_row(prefix + name, env, field))
    return "\n".join(rows) + "\n"


def _reference_row(path: str, env: str, field: Any) -> str:
    if field.is_required():
        return f"| `{path}` | `{env}` | (required) | {field.description or ''} |"
    default = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(default, BaseModel):
        default = "{}"  # a group: its settings have rows of their own
    elif isinstance(default, list):
        default = json.dumps([str(item) for item in default], ensure_ascii=False) if default else "[]"
    shown = "(empty)" if default in (None, "") else f"`{default}`".replace("|", "\\|")  # a table cell
    return f"| `{path}` | `{env}` | {shown} | {field.description or ''} |"
