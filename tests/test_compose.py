"""docker-compose.yml cannot run here (no Docker engine); it must at least agree with the code."""

import re

import pytest
import typer.main
import yaml

from gateway.runtime.cli import app
from gateway.runtime.config import setting_for_env_var
from gateway.runtime.roles import all_roles

from .conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
GATEWAY_SERVICES = {name: service for name, service in COMPOSE["services"].items() if "build" in service}


def test_compose_has_the_production_parts() -> None:
    services = COMPOSE["services"]
    assert {"kafka", "postgres", "gateway-http", "gateway-worker", "simulators", "prometheus"} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    assert services["gateway-worker"]["deploy"]["replicas"] == 2


def test_every_image_is_pinned() -> None:
    images = [service["image"] for service in COMPOSE["services"].values() if "image" in service]
    images.append(re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M).group(1))
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?", tag), f"{image} is not pinned to a version"


@pytest.mark.parametrize("service", sorted(GATEWAY_SERVICES))
def test_every_gateway_setting_exists(service: str) -> None:
    environment = GATEWAY_SERVICES[service]["environment"]
    for name in environment:
        if name.startswith("GATEWAY_"):
            assert setting_for_env_var(name), f"{service}: {name} sets nothing in the configuration model"
    secret_names = [value for name, value in environment.items() if name.endswith("_ENV")]
    for secret in secret_names:
        assert secret in environment, f"{service}: the secret variable {secret} is not passed in"
        assert str(environment[secret]).startswith("${"), f"{service}: {secret} must come from the environment"


@pytest.mark.parametrize("service", sorted(GATEWAY_SERVICES))
def test_every_command_parses(service: str) -> None:
    command = GATEWAY_SERVICES[service]["command"]
    cli = typer.main.get_command(app)
    with cli.make_context("gateway", list(command), resilient_parsing=False) as context:
        subcommand = cli.get_command(context, command[0])
        assert subcommand is not None
        sub_context = subcommand.make_context(command[0], list(command[1:]))
        connectors = sub_context.params.get("connectors") or ""
    known = set(all_roles())
    for role in filter(None, connectors.split(",")):
        assert role in known, f"{service}: unknown role {role}"


def test_prometheus_config_is_mounted_and_parses() -> None:
    volume = COMPOSE["services"]["prometheus"]["volumes"][0]
    path = REPO / volume.split(":")[0]
    config = yaml.safe_load(path.read_text())
    assert config["scrape_configs"]
