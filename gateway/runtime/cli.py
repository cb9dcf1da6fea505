"""The `gateway` command."""

import asyncio
import getpass
import json
import re
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gateway.audit.message_log import export as export_message_log
from gateway.audit.message_log import verify as verify_message_log
from gateway.connectors.ministry import cli as soap_cli
from gateway.mappings import cli as mapping_cli
from gateway.ops.console.auth import TOKEN_ENV, UserError, Users, token_headers
from gateway.privacy import MaskedLogs
from gateway.runtime.app import Gateway, Plan, Running
from gateway.runtime.config import (
    InvalidSettings,
    PartnerSettings,
    Settings,
    load_settings,
    masked_settings,
    settings_reference,
    unknown_gateway_env_vars,
)
from gateway.runtime.contracts import stale_contracts, write_contracts
from gateway.runtime.embedded_broker import EmbeddedBrokerError
from gateway.runtime.kafka import BrokerUnavailable
from gateway.runtime.roles import UnknownRole, all_roles, select_roles
from gateway.runtime.serving import PortUnavailable
from gateway.store.database import Database, StoreUnavailable

app = typer.Typer(help="Provincial integration gateway (cổng tích hợp một cửa).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
dlq_app = typer.Typer(help="Dead letters of a running gateway: list, show, replay.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
audit_app = typer.Typer(help="The message log (audit), read straight from the database.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(mapping_cli.app, name="mapping")
app.add_typer(soap_cli.app, name="soap")
portal_app = typer.Typer(help="The National Public Service Portal (Cổng DVCQG).", no_args_is_help=True)
app.add_typer(portal_app, name="national-portal")
payments_app = typer.Typer(help="Fee payments: reconcile with the providers.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")
postal_app = typer.Typer(help="Public postal service: monthly figures, shipments, polling.", no_args_is_help=True)
app.add_typer(postal_app, name="postal")

console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file", exists=False)]
PortOption = Annotated[int | None, typer.Option("--port", "-p", help="HTTP port (overrides http.port)")]

# Failures that stop start-up with a message rather than a traceback.
STARTUP_FAILURES = (InvalidSettings, EmbeddedBrokerError, BrokerUnavailable, StoreUnavailable, PortUnavailable, UnknownRole)


def _settings(config: Path | None, port: int | None = None) -> Settings:
    settings = load_settings(config)
    if port is not None:
        try:
            settings.http.port = port
        except ValueError as error:
            raise InvalidSettings([f"--port {port}: {error.errors()[0]['msg']}"]) from None
    return settings


def _log_to_stderr(level: str | int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskedLogs())


def _setup_logging(settings: Settings) -> None:
    _log_to_stderr(settings.log.level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(settings.log.level)))
    for name in unknown_gateway_env_vars():
        logging.getLogger("gateway").warning("environment variable %s sets no setting (a typo?)", name)


def _fail(error: Exception | str, what: str = "gateway") -> None:
    errors.print(f"[bold red]{what}:[/] {error}", highlight=False)
    raise typer.Exit(2)


def _cannot_start(error: Exception) -> None:
    _fail(error, "gateway cannot start")


def _run(settings: Settings, plan: Plan) -> None:
    _setup_logging(settings)

    async def main() -> None:
        gateway = Gateway(settings, plan)
        running = await gateway.start()
        # One plain line for scripts and supervisors, whatever the log level.
        print(f"gateway ready in {running.startup_s:.2f}s: http={running.http_url} kafka={running.kafka_bootstrap} "
              f"embedded_broker_pid={running.embedded_broker_pid}", flush=True)
        _print_running(running, settings)
        await gateway.serve_until_signalled()
        console.print("gateway stopped")

    try:
        asyncio.run(main())
    except STARTUP_FAILURES as error:
        _cannot_start(error)
    except KeyboardInterrupt:  # Ctrl-C during start-up: everything started has been stopped
        errors.print("gateway start-up interrupted")
        raise typer.Exit(130) from None


def _print_running(running: Running, settings: Settings) -> None:
    table = Table(title=f"Gateway up in {running.startup_s:.2f}s — Ctrl-C or SIGTERM stops it", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    if running.http_url:
        url = running.http_url
        table.add_row("HTTP", f"{url}  (intake POST {url}/api/v1/dossiers/events, {url}/docs)")
        table.add_row("Health", f"{url}/healthz  {url}/readyz  {url}/metrics")
    kafka = running.kafka_bootstrap
    if running.embedded_broker_pid:
        kafka += f"  (embedded Tansu broker, in memory, pid {running.embedded_broker_pid})"
    table.add_row("Kafka", kafka)
    table.add_row("Database", running.database_url)
    table.add_row("Roles", ", ".join(running.roles) or "(none)")
    sims = running.simulators
    table.add_row("Simulators", "\n".join(f"{name}: {url}" for name, url in sims.items()) or "(none registered yet)")
    if running.topics_created:
        table.add_row("Topics created", ", ".join(running.topics_created))
    console.print(table)


@app.command()
def up(config: ConfigOption = None, port: PortOption = None) -> None:
    """Run every role in one process: embedded broker unless Kafka is configured, database,
    partner simulators and HTTP on 127.0.0.1:8080."""
    try:
        settings = _settings(config, port)
    except InvalidSettings as error:
        _cannot_start(error)
    _run(settings, Plan(roles=list(all_roles().values()), serve_http=True, run_simulators=True))


@app.command()
def worker(
    connectors: Annotated[str, typer.Option(help="Comma-separated roles to run; see `gateway roles`")] = "",
    http: Annotated[bool, typer.Option("--http/--no-http", help="Also serve HTTP (intake, health, metrics)")] = False,
    simulators: Annotated[bool, typer.Option("--simulators/--no-simulators", help="Also run partner simulators")] = False,
    config: ConfigOption = None,
    port: PortOption = None,
) -> None:
    """Run only some roles, in their consumer groups, so a busy connector scales by adding processes."""
    try:
        settings = _settings(config, port)
        roles = select_roles([name.strip() for name in connectors.split(",") if name.strip()])
    except STARTUP_FAILURES as error:
        _cannot_start(error)
    if not roles and not http and not simulators:
        _cannot_start(ValueError("nothing to run: name --connectors, or add --http or --simulators"))
    _run(settings, Plan(roles=roles, serve_http=http, run_simulators=simulators))


@app.command()
def roles() -> None:
    """List the roles (connectors) a worker can run."""
    for role in all_roles().values():
        console.print(f"[bold]{role.name}[/]  {role.description}")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="The signed document: PDF, XML, or a .p7s with its content inside",
                                         exists=True, dir_okay=False)],
    signature: Annotated[Path | None, typer.Option("--signature", help="A detached CMS signature (.p7s) of FILE",
                                                   exists=True, dir_okay=False)] = None,
    policy: Annotated[str, typer.Option(help="signature, or certified_copy (bản sao điện tử chứng thực)")] = "signature",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    language: Annotated[str, typer.Option("--language", help="en or vi (tiếng Việt)")] = "en",
    trust_anchor: Annotated[list[Path] | None, typer.Option(
        "--trust-anchor", help="An anchor file or directory, added to signing.trust_anchors (repeatable)")] = None,
    config: ConfigOption = None,
) -> None:
    """Verify the signatures of a document under the gateway's policy. Exit status: 0 TOTAL-PASSED,
    1 TOTAL-FAILED, 3 INDETERMINATE, 4 when it cannot run (configuration, anchors)."""
    from gateway.signing.rendering import LANGUAGES, render
    from gateway.signing.trust import TrustStoreError
    from gateway.signing.verifier import POLICIES
    from gateway.signing.workers import VerificationWorkers

    def cannot(error: Exception) -> None:
        errors.print(f"[bold red]gateway verify:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(4)

    if policy not in POLICIES:
        cannot(ValueError(f"--policy {policy!r}: choose one of {', '.join(POLICIES)}"))
    if language not in LANGUAGES:
        cannot(ValueError(f"--language {language!r}: choose one of {', '.join(LANGUAGES)}"))
    try:
        settings = load_settings(config).signing
        settings.trust_anchors = [*settings.trust_anchors, *(trust_anchor or [])]
        workers = VerificationWorkers(settings)
    except (InvalidSettings, TrustStoreError) as error:
        cannot(error)
    if not settings.trust_anchors:
        errors.print("gateway verify: no trust anchors (signing.trust_anchors, --trust-anchor): "
                     "no chain can be trusted", highlight=False, soft_wrap=True)

    async def run():
        try:
            return await workers.verify(file.read_bytes(), signature=signature.read_bytes() if signature else None,
                                        policy=policy)
        finally:
            workers.close()

    report = asyncio.run(run())
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print(render(report, language), end="")
    raise typer.Exit(report.indication.exit_status)


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML")] = False,
) -> None:
    """Print the effective configuration, secrets masked."""
    try:
        settings = load_settings(config)
    except InvalidSettings as error:
        _fail(error)
    data = masked_settings(settings)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


README_SETTINGS = ("<!-- settings:start -->\n", "<!-- settings:end -->")


@config_app.command("reference")
def config_reference(
    readme: Annotated[Path | None, typer.Option(help="Rewrite the settings table in this README instead")] = None,
) -> None:
    """Print every setting as a Markdown table (the README's settings section is this output)."""
    table = settings_reference()
    if readme is None:
        print(table, end="")
        return
    text = readme.read_text(encoding="utf-8")
    start, end = README_SETTINGS
    if start not in text or end not in text:
        _fail(ValueError(f"{readme} has no {start.strip()} ... {end} block"))
    before, rest = text.split(start, 1)
    readme.write_text(before + start + table + end + rest.split(end, 1)[1], encoding="utf-8")
    console.print(f"rewrote the settings table in {readme}")


@app.command()
def contracts(
    check: Annotated[bool, typer.Option("--check", help="Only report stale contracts; exit 1 if any")] = False,
    root: Annotated[Path, typer.Option(help="Where the contracts live")] = Path("contracts"),
) -> None:
    """Regenerate contracts/ (AsyncAPI, JSON Schema, OpenAPI) from the code."""
    if check:
        stale = stale_contracts(root)
        for relative in stale:
            errors.print(f"stale: {root / relative}")
        raise typer.Exit(1 if stale else 0)
    for path in write_contracts(root):
        console.print(f"wrote {path}")


@app.command()
def demo(
    dossiers: Annotated[int, typer.Option(min=1, max=100_000, help="How many dossiers to submit")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    url: Annotated[str, typer.Option(help="Gateway to drive; when none answers there, one starts in this process")] = "http://127.0.0.1:8080",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the flows to settle")] = 120.0,
    seed: Annotated[int | None, typer.Option(help="Seed for repeatable dossiers")] = None,
    config: ConfigOption = None,
) -> None:
    """Submit realistic dossiers through the intake, wait for the flows to settle, summarise each flow."""
    from gateway.simulators.demo import run_demo

    try:
        settings = load_settings(config)
    except InvalidSettings as error:
        _fail(error)
    _log_to_stderr(logging.WARNING)
    try:
        summary = asyncio.run(run_demo(settings, dossiers=dossiers, url=url, timeout_s=timeout, seed=seed,
                                       console=None if as_json else errors))
    except STARTUP_FAILURES as error:
        _cannot_start(error)
    except PermissionError as error:
        _fail(error, "demo")
    except httpx.TransportError as error:  # the gateway went away during the run
        _fail(f"the gateway at {url} stopped answering ({type(error).__name__}: {error or 'no detail'})", "demo")
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
    if not summary["settled"]:
        raise typer.Exit(1)


def _print_summary(summary: dict) -> None:
    table = Table(title=f"Demo: {summary['dossiers']} dossiers via {summary['gateway']}"
                        f" — {'settled' if summary['settled'] else 'NOT settled'} in {summary['seconds']:.1f}s")
    columns = ("sent", "delivered", "rejected", "retried", "dead_lettered", "duplicates")
    table.add_column("flow")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    # A signed-webhook flow (postal.NAME, payments.NAME) counts accepted and duplicate requests.
    same = {"delivered": "accepted", "duplicates": "duplicate"}
    for flow, counts in summary["flows"].items():
        table.add_row(flow, *(str(counts.get(column, 0) + counts.get(same.get(column, ""), 0)) for column in columns))
    console.print(table)
    if "postal" in summary:
        chosen = summary["postal"]["chosen"]
        parcels = Table(title=f"Postal: {chosen['dossiers']} dossiers by post, {chosen['parcels']} parcels")
        parcels.add_column("parcel")
        parcels.add_column("states (this demo)")
        for kind, states in summary["postal"]["parcels"].items():
            parcels.add_row(kind, ", ".join(f"{state} {count}" for state, count in sorted(states.items())))
        console.print(parcels)


UrlOption = Annotated[str, typer.Option(help="The running gateway's HTTP address")]
DEFAULT_URL = "http://127.0.0.1:8080"


def _api(url: str, method: str, path: str, **request) -> object:
    """Call the running gateway's operator API, with the API token from $OPERATOR_TOKEN."""
    try:
        response = httpx.request(method, f"{url.rstrip('/')}{path}", timeout=30, headers=token_headers(), **request)
    except httpx.HTTPError as error:
        _fail(ConnectionError(f"no gateway answers at {url} ({error}); start it or pass --url"))
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if "json" in response.headers.get("content-type", "") else response.text
        errors.print(f"[bold red]{response.status_code}:[/] {detail}", highlight=False)
        if response.status_code == 401:
            errors.print(f"set {TOKEN_ENV} to an API token: `gateway users token NAME`", highlight=False)
        raise typer.Exit(1)
    return response.json()


@dlq_app.command("list")
def dlq_list(
    connector: Annotated[str | None, typer.Option(help="Only this connector's")] = None,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier's (MaHoSo)")] = None,
    state: Annotated[str, typer.Option(help="open, replayed, discarded or all")] = "all",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Dead letters, newest first."""
    params = {key: value for key, value in {"connector": connector, "dossier": dossier, "state": state,
                                            "limit": limit}.items() if value}
    letters = _api(url, "GET", "/api/v1/dead-letters", params=params)
    if as_json:
        print(json.dumps(letters, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "connector", "dossier", "attempts", "error", "created", "replays", "state"):
        table.add_column(column)
    for letter in letters:
        table.add_row(str(letter["id"]), letter["connector"], letter["dossier_code"], str(letter["attempts"]),
                      f"{letter['error_class'].rsplit('.', 1)[-1]}: {letter['error_message'][:60]}",
                      letter["created_at"][:19], str(letter["replay_count"]), letter["state"])
    console.print(table)


@dlq_app.command("show")
def dlq_show(dead_letter_id: int, url: UrlOption = DEFAULT_URL) -> None:
    """One dead letter with the original message and its headers."""
    print(json.dumps(_api(url, "GET", f"/api/v1/dead-letters/{dead_letter_id}"), indent=2, ensure_ascii=False))


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letters to replay")] = None,
    connector: Annotated[str | None, typer.Option(help="...or every not yet replayed one of this connector")] = None,
    dossier: Annotated[str | None, typer.Option(help="...or of this dossier")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the message log with your name)")] = "",
    again: Annotated[bool, typer.Option("--again", help="Also those replayed before (named by ID)")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Send dead letters back through their connector's retry topic (an operator action)."""
    if not (ids or connector or dossier):
        _fail(ValueError("name the dead letters to replay: IDs, --connector or --dossier"))
    if not reason.strip():
        _fail(ValueError("say why with --reason: it goes to the message log"))
    body = {"ids": ids or [], "connector": connector, "dossier": dossier, "reason": reason, "again": again}
    replayed = _api(url, "POST", "/api/v1/dead-letters/replay", json=body)["replayed"]
    console.print(f"replayed {len(replayed)} dead letter(s): {', '.join(map(str, replayed)) or '-'}")


@dlq_app.command("discard")
def dlq_discard(
    ids: Annotated[list[int], typer.Argument(help="Dead letters to give up on")],
    reason: Annotated[str, typer.Option(help="Why (kept in the message log with your name)")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Give up on dead letters for good: kept, never replayed (an operator action)."""
    discarded = _api(url, "POST", "/api/v1/dead-letters/discard", json={"ids": ids, "reason": reason})["discarded"]
    console.print(f"discarded {len(discarded)} dead letter(s): {', '.join(map(str, discarded)) or '-'}")


users_app = typer.Typer(help="Console users and API tokens, in the gateway's database.", no_args_is_help=True)
app.add_typer(users_app, name="users")
PasswordEnvOption = Annotated[str | None, typer.Option(
    help="Read the password from this environment variable instead of asking for it")]


def _password(password_env: str | None) -> str:
    if password_env:
        if not os.environ.get(password_env):
            _fail(ValueError(f"the environment variable {password_env} is empty or not set"))
        return os.environ[password_env]
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        _fail(ValueError("the two passwords differ"))
    return first


def _users(config: Path | None, work):
    async def run(database: Database):
        try:
            return await work(Users(database, load_settings(config).console))
        except UserError as error:
            _fail(error, "users")

    return _with_database(config, run)


@users_app.command("add")
def users_add(name: str, role: Annotated[str, typer.Option(help="viewer or operator")],
              password_env: PasswordEnvOption = None, config: ConfigOption = None) -> None:
    """Add a user who signs in to the console (viewer: reads; operator: also replays, discards, settings)."""
    password = _password(password_env)
    _users(config, lambda users: users.add(name, role, password))
    console.print(f"user {name} added as {role}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """The console's users."""
    table = Table()
    for column in ("name", "role", "disabled"):
        table.add_column(column)
    for user in _users(config, lambda users: users.list()):
        table.add_row(user["name"], user["role"], "yes" if user["disabled"] else "")
    console.print(table)


@users_app.command("password")
def users_password(name: str, password_env: PasswordEnvOption = None, config: ConfigOption = None) -> None:
    """Set a user's password (signs the user out)."""
    password = _password(password_env)
    _users(config, lambda users: users.change(name, password=password))
    console.print(f"password of {name} changed")


@users_app.command("role")
def users_role(name: str, role: str, config: ConfigOption = None) -> None:
    """Change a user's role: viewer or operator (signs the user out)."""
    _users(config, lambda users: users.change(name, role=role))
    console.print(f"{name} is now {role}")


@users_app.command("disable")
def users_disable(name: str, enable: Annotated[bool, typer.Option("--enable", help="Enable again")] = False,
                  config: ConfigOption = None) -> None:
    """Stop a user from signing in (their sessions end; their API tokens stop working)."""
    _users(config, lambda users: users.change(name, disabled=not enable))
    console.print(f"{name} {'enabled' if enable else 'disabled'}")


@users_app.command("token")
def users_token(name: str, label: Annotated[str, typer.Option(help="What the token is for")] = "cli",
                days: Annotated[float, typer.Option(help="Expires after this many days")] = 90,
                no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Never expires (until the user is "
                                                        "disabled)")] = False,
                config: ConfigOption = None) -> None:
    """Issue an API token acting as the user (for scripts and this CLI: export OPERATOR_TOKEN=...).
    It is shown once; only its hash is kept."""
    token = _users(config, lambda users: users.issue_token(name, label, None if no_expiry else days))
    print(token)


def _with_database(config: Path | None, work):
    async def run():
        database = Database(load_settings(config).database)
        await database.start()
        try:
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except (InvalidSettings, StoreUnavailable) as error:
        _fail(error)


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Check every chain of the message log; name the first record that does not hold."""
    result = _with_database(config, verify_message_log)
    if result.intact:
        console.print(f"message log intact: {result.records} record(s) in {result.chains} chain(s)")
        return
    errors.print(f"[bold red]message log broken:[/] {result.problem}", highlight=False)
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    dossier: Annotated[str, typer.Option(help="Dossier code (MaHoSo)")],
    config: ConfigOption = None,
) -> None:
    """Print a dossier's message-log records as JSON."""
    records = _with_database(config, lambda database: export_message_log(database, dossier))
    print(json.dumps(records, indent=2, ensure_ascii=False))


@portal_app.command("reconcile")
def national_portal_reconcile(
    since: Annotated[datetime | None, typer.Option(help="Only dossiers pushed since (YYYY-MM-DD or ISO time)")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Portal adapter URL (default partners.national_portal.endpoint)")] = None,
    repair: Annotated[bool, typer.Option(help="Push the gateway's status again where the portal differs")] = False,
    config: ConfigOption = None,
) -> None:
    """Look up the dossiers pushed to the portal and report those whose status there differs from
    the last one the gateway pushed. Exit status 1 when there is drift."""
    from gateway.connectors.national_portal.handlers import portal_client
    from gateway.connectors.national_portal.reconcile import find_drift, repair as repair_drift

    settings = load_settings(config)
    partner = settings.partners.get("national_portal") or PartnerSettings()
    url = endpoint or (str(partner.endpoint) if partner.endpoint else None)
    if not url:
        _fail(InvalidSettings(["set partners.national_portal.endpoint or --endpoint (e.g. the simulator URL `gateway up` "
                               "prints)"]))
    since_aware = since.astimezone() if since is not None else None

    async def work(database: Database):
        client = portal_client(partner, url)
        with Progress(console=errors, transient=True) as bar:
            task = bar.add_task("looking dossiers up on the portal", total=None)
            report = await find_drift(database, client, since_aware,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total))
        repaired = await repair_drift(database, client, report.drifts) if repair and report.drifts else None
        await client.http.aclose()
        return report, repaired

    report, repaired = _with_database(config, work)
    if report.drifts:
        table = Table(title=f"{len(report.drifts)} of {report.checked} dossier(s) differ on the national portal")
        for column in ("dossier (MaHoSo)", "pushed status", "portal status", "pushed at"):
            table.add_column(column)
        for drift in report.drifts:
            shown = drift.problem or ("missing" if drift.missing else str(drift.portal_status))
            table.add_row(drift.dossier_code, str(drift.pushed_status), shown, drift.pushed_at.isoformat(timespec="seconds"))
        console.print(table)
    else:
        console.print(f"no drift: {report.checked} dossier(s) checked, the portal agrees with every one")
    if repaired is not None:
        console.print(f"repaired: dossiers pushed {repaired.dossiers_pushed}, steps pushed {repaired.steps_pushed}, "
                      f"progress chunks {repaired.progress_chunks}")
        for failure in repaired.failures:
            errors.print(f"[red]refused by the portal:[/] {failure}", highlight=False)
    if report.drifts:
        raise typer.Exit(1)


@payments_app.command("reconcile")
def payments_reconcile(
    provider: Annotated[str, typer.Option(help="The payment partner (connector: payment), e.g. payment_bank")],
    statement: Annotated[Path | None, typer.Option(help="The provider's daily statement (CSV) to compare with the "
                                                        "recorded payments. Empty: ask the running gateway to "
                                                        "query the provider about its open payments now")] = None,
    day: Annotated[datetime | None, typer.Option("--date", help="The statement's date (default: its rows' dates)",
                                                 formats=["%Y-%m-%d"])] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the report as CSV (default: "
                                                     "reconciliation-PROVIDER-DATE.csv)")] = None,
    url: UrlOption = DEFAULT_URL,
    config: ConfigOption = None,
) -> None:
    """Compare a provider's statement with what the gateway recorded: matched, missing_ours,
    missing_theirs, amount_mismatch. Prints the report, writes it as CSV, exits 1 when anything
    differs. Without --statement: one round of status queries in the running gateway."""
    from gateway.connectors.payment.config import load_providers
    from gateway.connectors.payment.reconcile import StatementInvalid, reconcile_statement

    if statement is None:
        outcomes = _api(url, "POST", f"/api/v1/payments/{provider}/queries", params={"min_age_s": 0})
        console.print(f"{provider}: " + (", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
                                         or "no open payment to ask"))
        return
    try:
        providers = load_providers(load_settings(config), needs_secret=False)
        chosen = providers.get(provider) or _fail(InvalidSettings(
            [f"no payment provider {provider} in the configuration (known: {', '.join(providers) or 'none'})"]))
        text = statement.read_text(encoding="utf-8-sig")
    except (InvalidSettings, OSError, UnicodeDecodeError) as error:
        _fail(error)
    try:
        report = _with_database(config, lambda database: reconcile_statement(
            database, chosen, text, [day.date()] if day else None))
    except StatementInvalid as error:
        _fail(error, f"statement {statement}")
    table = Table(title=f"{provider}: statement {statement.name} ({', '.join(map(str, report.dates))}) — "
                        + ", ".join(f"{bucket} {count}" for bucket, count in report.counts.items()))
    for column in ("bucket", "reference", "dossier", "ours", "theirs", "transaction", "note"):
        table.add_column(column)
    for row in report.rows:
        if row.bucket != "matched":
            table.add_row(row.bucket, row.reference, row.dossier_code, str(row.our_amount or ""),
                          str(row.their_amount or ""), row.transaction_id, row.note)
    console.print(table)
    target = output or Path(f"reconciliation-{provider}-{report.dates[0]}.csv")
    target.write_text(report.as_csv(), encoding="utf-8")
    console.print(f"report written to {target} ({len(report.rows)} rows)")
    if report.differs:
        raise typer.Exit(1)


def main() -> None:
    app()


@postal_app.command("figures")
def postal_figures(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (Vietnam time); empty: every month")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the figures as CSV here")] = None,
    config: ConfigOption = None,
) -> None:
    """Dossiers received by post (pick-ups collected) and results returned by post (delivered), per
    month and agency, for the monthly report. Read from the database; the gateway need not run."""
    from gateway.connectors.postal.shipments import monthly_figures

    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        _fail(ValueError(f"--month is written YYYY-MM, not {month!r}"))
    rows = _with_database(config, lambda database: monthly_figures(database, month))
    table = Table(title=f"Postal figures{' for ' + month if month else ''}")
    columns = ("month", "agency_code", "received_by_post", "returned_by_post")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right" if column.endswith("post") else "left")
    for row in rows:
        table.add_row(*(str(row[column]) for column in columns))
    console.print(table if rows else "no dossier received or returned by post yet")
    if output is not None:
        lines = [",".join(columns)] + [",".join(str(row[column]) for column in columns) for row in rows]
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
        console.print(f"written to {output}")


@postal_app.command("shipments")
def postal_shipments(
    state: Annotated[str | None, typer.Option(help="Only this state (returned, delivery_failed, refused... are "
                                                   "those raised to operators)")] = None,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Shipments of the running gateway, newest first."""
    params = {"limit": limit} | ({"state": state} if state else {}) | ({"dossier": dossier} if dossier else {})
    rows = _api(url, "GET", "/api/v1/postal/shipments", params=params)
    table = Table(title=f"{len(rows)} shipment(s)")
    for column in ("dossier_code", "kind", "state", "tracking_number", "carrier", "detail"):
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(row["dossier_code"], row["kind"], row["state"], row["tracking_number"] or "-", row["carrier"],
                      (row["detail"] or "")[:80])
    console.print(table)


@postal_app.command("poll")
def postal_poll(
    carrier: Annotated[str, typer.Option(help="The postal partner (connector: postal), e.g. vnpost")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Ask the carrier now about every open shipment (as the background round does), in the running gateway."""
    outcomes = _api(url, "POST", f"/api/v1/postal/{carrier}/polls", params={"quiet_s": 0})
    console.print(f"{carrier}: " + (", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
                                    or "no open shipment to ask"))
