"""The partner simulators `gateway up` starts. Each connector adds its partner's here."""

from gateway.simulators.faults import FaultProfile
from gateway.simulators.framework import Simulator

from gateway.connectors.webhook.simulator import WebhookReceiver

# name -> simulator class; connectors register their partner's simulator in this table.
SIMULATORS: dict[str, type[Simulator]] = {WebhookReceiver.name: WebhookReceiver}


def build_simulators(faults: dict[str, FaultProfile]) -> list[Simulator]:
    return [simulator_class(faults.get(name)) for name, simulator_class in SIMULATORS.items()]
