"""The partner simulators `gateway up` starts. Each connector adds its partner's here."""

from typing import TYPE_CHECKING

from gateway.runtime.config import InvalidSettings
from gateway.simulators.framework import Simulator

from gateway.connectors.json_api import optional_credential
from gateway.connectors.ministry.config import soap_partners
from gateway.connectors.ministry.simulator import SoapMinistrySimulator
from gateway.connectors.national_portal.simulator import NationalPortalSimulator
from gateway.connectors.payment.config import payment_partners
from gateway.connectors.payment.simulator import PaymentProviderSimulator
from gateway.connectors.postal.config import postal_partners
from gateway.connectors.postal.simulator import PostalControls, PostalSimulator
from gateway.connectors.webhook.simulator import WebhookReceiver

if TYPE_CHECKING:
    from gateway.runtime.config import PartnerSettings, Settings

# name -> simulator class; connectors register their partner's simulator in this table.
SIMULATORS: dict[str, type[Simulator]] = {
    simulator.name: simulator for simulator in (NationalPortalSimulator, WebhookReceiver)}


def build_simulators(settings: "Settings") -> list[Simulator]:
    """A simulator for each partner that has no real endpoint configured; for a ministry service
    over SOAP or a payment provider, when its options say how to play it (options.simulator)."""
    faults = settings.simulators.faults
    simulators = [simulator_class(faults.get(name)) for name, simulator_class in SIMULATORS.items()
                  if name not in settings.partners or settings.partners[name].endpoint is None]
    for name, partner in soap_partners(settings).items():
        if partner.endpoint is None and partner.options.get("simulator"):
            simulators.append(SoapMinistrySimulator(name, partner, faults.get(name)))
    for name, partner in payment_partners(settings).items():
        dialect = (partner.options.get("simulator") or {}).get("dialect")
        if partner.endpoint is None and dialect:
            simulators.append(PaymentProviderSimulator(name, dialect, _secret(name, partner),
                                                       str(partner.options.get("partner_code", "")), faults.get(name)))
    for name, partner in postal_partners(settings).items():
        played = partner.options.get("simulator")
        if partner.endpoint is None and played is not None:
            simulator = PostalSimulator(name, _secret(name, partner), str(partner.options.get("customer_code", "")),
                                        faults.get(name), token=_token(partner))
            try:
                simulator.controls = PostalControls.model_validate((played or {}).get("controls") or {})
            except ValueError as error:
                raise InvalidSettings([f"partners.{name}.options.simulator.controls: {error}"]) from None
            simulators.append(simulator)
    return simulators


def _secret(name: str, partner: "PartnerSettings") -> str:
    """The shared secret the simulator signs with: the partner's own, as the connector reads it."""
    secret_name = (partner.options.get("signature") or {}).get("credential", "secret")
    try:
        return partner.credential(secret_name)
    except (KeyError, LookupError) as error:
        raise InvalidSettings([f"partners.{name}.credentials.{secret_name}: {str(error).strip(chr(39))} "
                               "(the simulator signs with the same shared secret)"]) from None


def _token(partner: "PartnerSettings") -> str | None:
    return optional_credential(partner, "token")
