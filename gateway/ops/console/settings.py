"""Settings of the operator console (`console.*`) and the agency registry (`agencies.*`)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "operator"]


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(default=True, description="Serve the operator console at /console")
    anonymous_role: Literal["none", "viewer", "operator"] = Field(
        default="none",
        description="Role of a request that is not signed in. `none`: the operator API and console answer 401. "
                    "Anything else only on a closed test network")
    session_hours: float = Field(default=8.0, gt=0, le=720, description="A console sign-in lasts this long")
    secure_cookie: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set it when a TLS proxy serves the console)")
    language: Literal["vi", "en"] = Field(default="vi", description="Language of the console until a user picks one")
    citizen_id_key_env: str = Field(
        default="CITIZEN_ID_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the key of the citizen-ID hash (search by ID number). "
                    "Unset: ID numbers are not kept and that search is off")
    acceptance_hours: float = Field(
        default=8.0, gt=0, le=200,
        description="Working hours after receipt (NgayTiepNhan) by which a dossier must be accepted, "
                    "refused or sent back for supplements")
    due_soon_hours: float = Field(default=2.0, ge=0, le=200,
                                  description="Working hours left under which an acceptance is 'due soon'")
    sample_interval_s: float = Field(
        default=15.0, gt=0, le=3600,
        description="How often the HTTP process measures consumer lag, open dead letters and deadlines for /metrics")


class Agency(BaseModel):
    """One agency (cơ quan, đơn vị) of the province, for the monthly report's levels."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300, description="Its name, as the report shows it")
    level: Literal["province", "district", "commune"] = Field(
        description="Cấp tỉnh, cấp huyện or cấp xã (districts ended on 1/7/2025; keep them for older months)")
    parent: str | None = Field(default=None, description="Code of the agency above it, if any")
