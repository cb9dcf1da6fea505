"""What can be set for the national portal, under partners.national_portal.options."""

from pydantic import BaseModel, ConfigDict, Field

from gateway.runtime.config import PartnerSettings, partner_options

NAME = "national_portal"


class Services(BaseModel):
    model_config = ConfigDict(extra="forbid")

    push_dossier: str = Field(default="DongBoHoSoMC", description="Service that takes dossiers (insert or update)")
    push_progress: str = Field(default="CapNhatTienDoHoSoMC", description="Service that takes processing steps")
    look_up: str = Field(default="TraCuuHoSo", description="Service that returns a dossier")


class ReplyCodes(BaseModel):
    """The adapter's error_code values. Codes in none of these lists are permanent refusals."""

    model_config = ConfigDict(extra="forbid")

    success: list[str] = Field(default=["0", "00"])
    already_exists: list[str] = Field(default=["-3", "3"], description="Insert refused: switch to update")
    session_rejected: list[str] = Field(default=["-1"], description="Log in again and repeat the call once")
    not_found: list[str] = Field(default=["-4"], description="Look-up: the portal has no such dossier")
    transient: list[str] = Field(default=["-9"], description="Try again later (portal busy)")


class NationalPortalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_code: str = Field(default="000.00.00.H00", min_length=1, max_length=100,
                             description="The province's agency code on the portal (madonvi)")
    username: str = Field(default="gateway", min_length=1, description="Adapter account; its password is "
                          "credentials.password (an environment variable)")
    login_path: str = Field(default="/login", description="Path of the login call under the endpoint")
    service_path: str = Field(default="/service", description="Path of the service calls under the endpoint")
    services: Services = Field(default_factory=Services)
    reply_codes: ReplyCodes = Field(default_factory=ReplyCodes)
    session_refresh_margin_s: float = Field(default=60.0, ge=0, le=3600,
                                            description="Log in again this long before the session expires")
    progress_chunk_size: int = Field(default=50, ge=1, le=1000, description="Progress records per push")
    lookup_concurrency: int = Field(default=8, ge=1, le=64, description="Look-ups at once during a drift check")


def portal_options(settings: PartnerSettings) -> NationalPortalOptions:
    return partner_options(NationalPortalOptions, NAME, settings)
