"""`gateway soap check`: everything about a ministry service that can be checked offline, before
anything is sent: the WSDL loads, its operations, the config entry, the specs, and a sample
dossier mapped and validated against the WSDL's XSD (and, when the simulator is configured, a
sample answer read back into a status report)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from lxml import etree
from rich.console import Console
from rich.table import Table

from gateway.connectors.ministry.config import soap_partners
from gateway.connectors.ministry.service import MinistryService
from gateway.connectors.ministry.wsdl import ContractError, ServiceContract
from gateway.domain import Dossier, DossierSubmitted
from gateway.mappings.errors import MappingFailure, OutputInvalid
from gateway.runtime.config import InvalidSettings, load_settings
from gateway.simulators.onegate import OneGateSimulator

app = typer.Typer(help="Ministry services over SOAP: check a WSDL, a config entry and its specs offline.",
                  no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command()
def check(
    name: Annotated[str | None, typer.Argument(help="A partner with connector: soap in the configuration")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file")] = None,
    wsdl: Annotated[str | None, typer.Option(help="Only load this WSDL and list its operations")] = None,
    sample: Annotated[Path | None, typer.Option(help="A canonical dossier (or dossier-submitted event) as JSON; "
                                                     "default: a generated one for the service's first procedure")] = None,
    show_xml: Annotated[bool, typer.Option("--show-xml", help="Print the request envelope")] = False,
) -> None:
    """Load the WSDL, list its operations, and map and validate a sample request, offline."""
    if wsdl is not None:
        try:
            contract = ServiceContract(wsdl)
        except ContractError as error:
            _fail(error)
        _operations(contract)
        return
    try:
        settings = load_settings(config)
        partners = soap_partners(settings)
        if name not in partners:
            known = ", ".join(partners) or "none (set partners.NAME.connector: soap)"
            raise InvalidSettings([f"'{name}' is not a ministry service over SOAP in this configuration; known: {known}"])
        service = MinistryService(name, partners[name])
    except InvalidSettings as error:
        _fail(error)
    console.print(f"[green]✓[/] {name}: WSDL {service.contract.location} loaded "
                  f"(binding {service.contract.binding.name.localname}, WSDL address {service.contract.address})")
    _operations(service.contract)
    used = [op for op in (service.submit_op, service.status_op, service.result_op) if op is not None]
    console.print(f"[green]✓[/] specs load: {', '.join(f'{op.name} ({op.request.name}, {op.reply.name})' for op in used)}")
    dossier = _sample(sample, service.options.procedures[0])
    failed = False
    try:
        values = service.submit_values(dossier)
        envelope = service.contract.check_request(service.submit_op.name, values)
        console.print(f"[green]✓[/] {service.submit_op.name}: dossier {dossier.code} maps to a request the XSD accepts")
        if show_xml:
            console.print(etree.tostring(envelope, pretty_print=True, encoding="unicode"))
    except (MappingFailure, OutputInvalid, ValueError) as error:
        errors.print(f"[red]✗[/] {_named(service.submit_op.name, error)}")
        failed = True
    for operation in used[1:]:
        try:
            values = operation.request.map({"dossier_code": dossier.code, "receipt_number": "BN-0001"})
            service.contract.check_request(operation.name, values)
            console.print(f"[green]✓[/] {operation.name}: the request for {dossier.code} is accepted by the XSD")
        except (MappingFailure, OutputInvalid, ValueError) as error:
            errors.print(f"[red]✗[/] {_named(operation.name, error)}")
            failed = True
    failed |= not _sample_answers(service, dossier.code)
    if failed:
        raise typer.Exit(1)


def _operations(contract: ServiceContract) -> None:
    table = Table(title="Operations", show_lines=False)
    for column in ("operation", "input → output", "soapAction", "input fields"):
        table.add_column(column)
    for operation in contract.operations():
        table.add_row(operation.name, f"{operation.input_element} → {operation.output_element}", operation.soap_action,
                      operation.signature)
    console.print(table)


def _sample(path: Path | None, procedure: str) -> Dossier:
    if path is None:
        return OneGateSimulator(seed=1).dossier(1).model_copy(update={"procedure_code": procedure})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DossierSubmitted.model_validate(data).dossier if "dossier" in data else Dossier.model_validate(data)
    except (OSError, ValueError) as error:
        _fail(f"--sample {path}: {error}")


def _sample_answers(service: MinistryService, code: str) -> bool:
    """Read the simulator's configured answers back through the reply specs: the inbound side, offline."""
    play = service.options.simulator
    if play is None:
        console.print("[yellow]·[/] no options.simulator: reply specs are checked by `gateway mapping test` only")
        return True
    from gateway.runtime.templates import filled  # the simulator's own templating

    values = {"dossier_code": code, "receipt": "BN-0001", "status": play.statuses[-1], "step": len(play.statuses),
              "changed_at": datetime.now(UTC).replace(microsecond=0).isoformat(), "reason": "sample"}
    ok = True
    for operation in (service.submit_op, service.status_op):
        if operation is None:
            continue
        try:
            answer = service.contract.response_envelope(operation.name, filled(play.responses.get(operation.name, {}),
                                                                               values))
            output = service.contract.read_output(operation.name, answer, what=f"sample {operation.name} answer")
            mapped: Any = operation.reply.map({"reply": output, "dossier_code": code})
            console.print(f"[green]✓[/] {operation.name} answer → {json.dumps(mapped, ensure_ascii=False)}")
        except (MappingFailure, OutputInvalid, ValueError) as error:
            errors.print(f"[red]✗[/] {operation.name} answer: {error}")
            ok = False
    return ok


def _named(operation: str, error: Exception) -> str:
    text = str(error)
    return text if text.startswith(operation) else f"{operation}: {text}"


def _fail(error: object) -> None:
    errors.print(f"[bold red]soap check:[/] {error}")
    raise typer.Exit(2)
