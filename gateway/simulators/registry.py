"""The partner simulators `gateway up` starts. Each connector adds its partner's here."""

from typing import TYPE_CHECKING

from gateway.simulators.framework import Simulator

from gateway.connectors.ministry.config import soap_partners
from gateway.connectors.ministry.simulator import SoapMinistrySimulator
from gateway.connectors.national_portal.simulator import NationalPortalSimulator
from gateway.connectors.webhook.simulator import WebhookReceiver

if TYPE_CHECKING:
    from gateway.runtime.config import Settings

# name -> simulator class; connectors register their partner's simulator in this table.
SIMULATORS: dict[str, type[Simulator]] = {
    simulator.name: simulator for simulator in (NationalPortalSimulator, WebhookReceiver)}


def build_simulators(settings: "Settings") -> list[Simulator]:
    """A simulator for each partner that has no real endpoint configured; for a ministry service
    over SOAP, when its options say how to play it (options.simulator)."""
    faults = settings.simulators.faults
    simulators = [simulator_class(faults.get(name)) for name, simulator_class in SIMULATORS.items()
                  if name not in settings.partners or settings.partners[name].endpoint is None]
    for name, partner in soap_partners(settings).items():
        if partner.endpoint is None and partner.options.get("simulator"):
            simulators.append(SoapMinistrySimulator(name, partner, faults.get(name)))
    return simulators
