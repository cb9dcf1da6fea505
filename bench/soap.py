"""SOAP calls/s through the ministry connector against the SOAP simulator, beside a raw HTTP
POST of the same request to the same simulator, measured in the same run.

    .venv/bin/python -m bench.soap [--calls N] [--concurrency C] [--service civil_status_birth|criminal_record]

- connector: MinistryService.submit for each dossier: map with the spec, check against the WSDL's
  XSD, zeep builds the envelope (WS-Security where configured), POST, zeep parses the answer
  (hardened parser), reply spec. What the gateway's outbound flow calls per message.
- raw: httpx POST of the envelope built once beforehand, no parsing of the answer: the
  simulator's and HTTP's own cost (the simulator parses and XSD-checks every request in both).
The end-to-end figure through Kafka and the delivery guarantees is bench.outbound --connector
civil_status_birth.
"""

import argparse
import asyncio
import os
import secrets
import time

import httpx
import yaml
from lxml import etree

from gateway.connectors.ministry.config import PROJECT_ROOT
from gateway.connectors.ministry.service import MinistryService
from gateway.connectors.ministry.simulator import SoapMinistrySimulator
from gateway.runtime.config import PartnerSettings
from gateway.simulators.onegate import OneGateSimulator


def example_partner(name: str) -> PartnerSettings:
    partners = yaml.safe_load((PROJECT_ROOT / "deploy/ministries.yaml").read_text())["partners"]
    return PartnerSettings(**partners[name])


async def timed(calls: int, concurrency: int, call) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(number: int) -> None:
        async with limit:
            await call(number)

    started = time.perf_counter()
    await asyncio.gather(*(one(number) for number in range(calls)))
    return time.perf_counter() - started


async def main(calls: int, concurrency: int, name: str) -> None:
    os.environ.setdefault("LLTP_WS_PASSWORD", secrets.token_urlsafe(12))  # generated, never stored
    os.chdir(PROJECT_ROOT)
    partner = example_partner(name)
    simulator = SoapMinistrySimulator(name, partner)
    await simulator.start()
    service = MinistryService(name, partner, calls=True)
    service.connect(simulator.url)
    onegate = OneGateSimulator(seed=5)
    procedure = service.options.procedures[0]
    dossiers = [onegate.dossier(number).model_copy(update={"procedure_code": procedure}) for number in range(2 * calls + 1)]
    try:
        await service.submit(dossiers[2 * calls])  # warm up: zeep's first call builds its caches
        ours = await timed(calls, concurrency, lambda number: service.submit(dossiers[number]))
        envelopes = [etree.tostring(service.contract.check_request(service.submit_op.name,
                                                                   service.submit_values(dossiers[calls + n])))
                     for n in range(calls)]
        if service.options.ws_security:  # the raw baseline sends the same security header
            header = service.contract.client.wsse
            envelopes = [etree.tostring(header.apply(etree.fromstring(envelope), {})[0]) for envelope in envelopes]
        async with httpx.AsyncClient(timeout=30) as http:
            async def raw(number: int) -> None:
                response = await http.post(simulator.url, content=envelopes[number],
                                           headers={"content-type": "text/xml; charset=utf-8"})
                response.raise_for_status()
            baseline = await timed(calls, concurrency, raw)
    finally:
        await simulator.stop()
    duplicates = simulator.stats.duplicates_seen
    print(f"{calls} {service.submit_op.name} calls to the {name} simulator, {concurrency} at once "
          f"(the simulator saw {duplicates} duplicate(s), refused {len(simulator.rejected)})")
    print(f"{'flow':62}{'calls/s':>10}{'connector / it':>16}")
    for label, seconds in (("connector: map -> XSD check -> zeep call -> parse -> reply spec", ours),
                           ("raw: httpx POST of a prebuilt envelope", baseline)):
        print(f"{label:62}{calls / seconds:10.1f}{(calls / ours) / (calls / seconds):16.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--service", choices=["civil_status_birth", "criminal_record"], default="civil_status_birth")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.concurrency, arguments.service))
