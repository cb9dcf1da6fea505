"""The partner simulators `gateway up` starts. Each connector adds its partner's here."""

from typing import TYPE_CHECKING

from gateway.runtime.config import InvalidSettings
from gateway.simulators.framework import Simulator

from gateway.connectors.ministry.config import soap_partners
from gateway.connectors.ministry.simulator import SoapMinistrySimulator
from gateway.connectors.national_portal.simulator import NationalPortalSimulator
from gateway.connectors.payment.config import payment_partners
from gateway.connectors.payment.simulator import PaymentProviderSimulator
from gateway.connectors.webhook.simulator import WebhookReceiver

if TYPE_CHECKING:
    from gateway.runtime.config import Settings

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
            secret_name = (partner.options.get("signature") or {}).get("credential", "secret")
            try:
                secret = partner.credential(secret_name)
            except (KeyError, LookupError) as error:
                raise InvalidSettings([f"partners.{name}.credentials.{secret_name}: {str(error).strip(chr(39))} "
                                       "(the simulator signs with the same shared secret)"]) from None
            simulators.append(PaymentProviderSimulator(name, dialect, secret, str(partner.options.get("partner_code", "")),
                                                       faults.get(name)))
    return simulators
