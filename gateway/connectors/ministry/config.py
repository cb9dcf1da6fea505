"""What can be set for a ministry service over SOAP, under partners.NAME.options when
partners.NAME.connector is `soap`. A new ministry service is a config entry, a WSDL and its
mapping specs: no Python.

    partners:
      civil_status_birth:
        connector: soap
        endpoint: https://hotich.moj.gov.vn/ws        # empty: the SOAP simulator
        mapping: civil_status_birth                    # spec folder: shipped name or path
        credentials: {password: HOTICH_WS_PASSWORD}    # WS-Security UsernameToken, when required
        errors: {transient_codes: [Server.Busy], transient_messages: ["thử lại"]}
        options:
          wsdl: contracts/wsdl/civil_status_birth/HoTichKhaiSinh.wsdl
          procedures: ["1.001193"]                     # MaTTHC routed to this service
          operations:
            submit: {name: TiepNhanHoSo, request: submit.mapping.yaml, reply: submit-reply.mapping.yaml}
            status: {name: TraCuuTrangThai, request: status.mapping.yaml, reply: status-report.mapping.yaml}
          polling: {interval_s: 60}
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.domain import DossierStatus
from gateway.runtime.config import InvalidSettings, PartnerSettings, Settings, partner_options, partners_served_by

PROJECT_ROOT = Path(__file__).resolve().parents[3]
FINAL_STATUSES = [DossierStatus.REFUSED, DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.PROCESSED,
                  DossierStatus.RESULT_RETURNED]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Operation(Options):
    name: str = Field(min_length=1, description="The WSDL operation")
    request: str = Field(min_length=1, description="Spec (in the mapping folder) building the operation's input")
    reply: str = Field(min_length=1, description="Spec (in the mapping folder) reading its output")


class Operations(Options):
    submit: Operation = Field(description="Sends a dossier; its reply spec maps to ministry/submit-reply.schema.json")
    status: Operation | None = Field(
        default=None, description="Asks a dossier's status; its reply spec maps to ministry/status-report.schema.json. "
                                  "Needed for polling and callbacks")
    result: Operation | None = Field(
        default=None, description="Fetches the result once the status says processed; reply spec: status report")


class Polling(Options):
    enabled: bool = Field(default=True, description="Ask the status of open dossiers (needs operations.status)")
    interval_s: float = Field(default=60.0, gt=0, le=86400, description="Seconds between two rounds")
    concurrency: int = Field(default=4, ge=1, le=64, description="Status calls at once")
    batch: int = Field(default=500, ge=1, le=100_000, description="Open dossiers asked per round, least recent first")
    final_statuses: list[DossierStatus] = Field(default=FINAL_STATUSES,
                                                description="Statuses after which a dossier is no longer asked")


class Callback(Options):
    enabled: bool = Field(default=False, description="Accept status callbacks at POST /api/v1/ministries/NAME/callback "
                                                     "(a SOAP envelope whose body is the status operation's output)")
    bearer_credential: str = Field(default="callback_token", description="Credential holding the bearer token the "
                                  "ministry sends (Authorization: Bearer); without one, callbacks are refused")


class WsSecurity(Options):
    username: str = Field(min_length=1, description="UsernameToken user; the password is credentials.password")
    digest: bool = Field(default=False, description="Send PasswordDigest instead of PasswordText")


class SimulatorOptions(Options):
    """How the SOAP simulator plays this ministry (only when no endpoint is configured)."""

    dossier_code: str = Field(min_length=1, description="JMESPath into any request giving the dossier code")
    statuses: list[str] = Field(min_length=1, description="The ministry's status codes a dossier walks through")
    step_s: float = Field(default=1.0, gt=0, le=3600, description="Seconds between two statuses")
    responses: dict[str, dict[str, Any]] = Field(
        description="Output values per operation; strings may hold {dossier_code}, {receipt}, {status}, "
                    "{changed_at}, {step}, {reason}")
    refusal: dict[str, Any] = Field(default_factory=dict, description="Submit output values when scripted to refuse")
    fault_codes: dict[str, str] = Field(default={"transient": "soap:Server", "permanent": "soap:Client"},
                                        description="faultcode of a scripted transient / permanent fault")
    callback: bool = Field(default=False, description="Post each new status to the gateway's callback endpoint")


class MinistryOptions(Options):
    wsdl: str = Field(min_length=1, description="WSDL file (relative to the working folder or the project) or URL")
    service: str | None = Field(default=None, description="wsdl:service name; empty: the only one")
    port: str | None = Field(default=None, description="wsdl:port name; empty: the service's first SOAP port")
    procedures: list[str] = Field(min_length=1, description="Procedure codes (MaTTHC) whose dossiers go to this service")
    title: str | None = Field(default=None, description="Name shown to officers, e.g. 'Phần mềm hộ tịch (Bộ Tư pháp)'")
    operations: Operations
    polling: Polling = Field(default_factory=Polling)
    callback: Callback = Field(default_factory=Callback)
    ws_security: WsSecurity | None = Field(default=None, description="WS-Security UsernameToken on every call")
    validate_requests: bool = Field(default=True, description="Check each request against the WSDL's XSD before sending")
    simulator: SimulatorOptions | None = Field(default=None, description="How the simulator plays this service")

    @field_validator("procedures")
    @classmethod
    def _no_blank_codes(cls, value: list[str]) -> list[str]:
        if any(not code.strip() for code in value):
            raise ValueError("procedure codes (MaTTHC) cannot be blank")
        return value

    @property
    def shown_name(self) -> str:
        return self.title or "phần mềm chuyên ngành"

    def wsdl_location(self) -> str:
        """A URL as it is; a file path relative to the working folder, else to the project."""
        if "://" in self.wsdl:
            return self.wsdl
        path = Path(self.wsdl)
        if not path.is_absolute() and not path.exists() and (PROJECT_ROOT / path).exists():
            path = PROJECT_ROOT / path
        return str(path)


def ministry_options(name: str, settings: PartnerSettings) -> MinistryOptions:
    options = partner_options(MinistryOptions, name, settings)
    from gateway.runtime.roles import partner_name_problems  # here: roles import the connectors

    problems = partner_name_problems(name, "a ministry service")
    if settings.mapping is None:
        problems.append(f"partners.{name}.mapping must name the folder of this service's specs")
    if options.ws_security is not None and "password" not in settings.credentials:
        problems.append(f"partners.{name}.credentials.password must name the environment variable of the "
                        "WS-Security password")
    if options.polling.enabled and options.operations.status is None and not options.callback.enabled:
        problems.append(f"partners.{name}.options.operations.status is needed to poll (or enable callback)")
    if options.callback.enabled and options.operations.status is None:
        problems.append(f"partners.{name}.options.operations.status is needed to read callbacks")
    if problems:
        raise InvalidSettings(problems)
    return options


def soap_partners(settings: Settings) -> dict[str, PartnerSettings]:
    """The enabled partners served by the SOAP connector, by name."""
    return partners_served_by(settings, "soap")


def callback_partners(settings: Settings) -> dict[str, PartnerSettings]:
    """The SOAP partners that call the gateway back (read before their options are validated)."""
    return {name: partner for name, partner in soap_partners(settings).items()
            if (partner.options.get("callback") or {}).get("enabled")}


def credential_or_fail(name: str, settings: PartnerSettings, credential: str) -> str:
    try:
        return settings.credential(credential)
    except (KeyError, LookupError) as error:
        raise InvalidSettings([f"partners.{name}.credentials.{credential}: {str(error).strip(chr(39))}"]) from None

