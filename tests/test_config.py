"""Configuration: environment, YAML file, validation errors, masking."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.runtime.cli import app
from gateway.runtime.config import (
    InvalidSettings,
    Settings,
    load_settings,
    masked_settings,
    setting_for_env_var,
    unknown_gateway_env_vars,
)

runner = CliRunner()


def test_defaults_run_embedded_on_loopback() -> None:
    settings = load_settings()
    assert settings.kafka.embedded
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert settings.database.is_sqlite


def test_environment_sets_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:9092")
    monkeypatch.setenv("GATEWAY_KAFKA_TOPIC_PARTITIONS", '{"onegate.dossier-events": 12}')
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9000")
    settings = load_settings()
    assert settings.kafka.servers == ["kafka-1:9092", "kafka-2:9092"]
    assert not settings.kafka.embedded
    assert settings.kafka.partitions_for("onegate.dossier-events") == 12
    assert settings.kafka.partitions_for("onegate.updates") == 3
    assert settings.http.port == 9000


def test_yaml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "http:\n  port: 8181\nkafka:\n  partitions: 6\n"
        "partners:\n  national_portal:\n    endpoint: https://dichvucong.example/api\n"
        "    credentials: {password: PORTAL_PASSWORD}\n    retry: {attempts: 3}\n"
    )
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9191")
    settings = load_settings(config)
    assert settings.http.port == 9191
    assert settings.kafka.partitions == 6
    portal = settings.partners["national_portal"]
    assert portal.retry.attempts == 3
    assert str(portal.endpoint) == "https://dichvucong.example/api"


def test_invalid_settings_name_setting_value_and_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_KAFKA_PARTITIONS", "many")
    config = tmp_path / "gateway.yaml"
    config.write_text("http:\n  port: 70000\nkafak:\n  bootstrap: x\n")
    with pytest.raises(InvalidSettings) as raised:
        load_settings(config)
    text = str(raised.value)
    assert "kafka.partitions = 'many' (environment GATEWAY_KAFKA_PARTITIONS" in text
    assert "valid integer" in text
    assert "http.port = 70000" in text and "less than or equal to 65535" in text
    assert "kafak: there is no such setting" in text


def test_bootstrap_must_be_host_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_KAFKA_BOOTSTRAP", "kafka-1")
    with pytest.raises(InvalidSettings, match="'kafka-1' is not host:port"):
        load_settings()


def test_credentials_are_environment_names_never_values() -> None:
    with pytest.raises(InvalidSettings, match="must name an environment variable"):
        load_settings(partners={"bank": {"credentials": {"secret": "s3cr3t value!"}}})


def test_credential_is_read_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(partners={"bank": {"credentials": {"secret": "BANK_SECRET"}}})
    with pytest.raises(LookupError, match="BANK_SECRET, which is not set"):
        settings.partners["bank"].credential("secret")
    monkeypatch.setenv("BANK_SECRET", "generated-in-test")
    assert settings.partners["bank"].credential("secret") == "generated-in-test"


def test_masked_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANK_SECRET", "generated-in-test")
    settings = Settings(
        database={"url": "postgresql+asyncpg://gateway:hunter2@db:5432/gateway"},
        partners={"bank": {"credentials": {"secret": "BANK_SECRET"}, "options": {"api_token": "abc", "merchant": "M1"}}},
    )
    shown = json.dumps(masked_settings(settings))
    assert "hunter2" not in shown and "generated-in-test" not in shown and "abc" not in shown
    assert "gateway:***@db" in shown
    assert "$BANK_SECRET (set)" in shown
    assert '"merchant": "M1"' in shown


def test_config_show_prints_masked_effective_configuration(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("partners:\n  bank:\n    credentials: {secret: BANK_SECRET}\n    options: {password: pw123}\n")
    result = runner.invoke(app, ["config", "show", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["partners"]["bank"]["credentials"]["secret"] == "$BANK_SECRET (not set)"
    assert data["partners"]["bank"]["options"]["password"] == "***"


def test_config_show_refuses_invalid_configuration(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("database:\n  url: mysql://db/gateway\n")
    result = runner.invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 2
    assert "database.url = 'mysql://db/gateway'" in result.stderr
    assert "postgresql+asyncpg" in result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_environment_variables_map_to_settings() -> None:
    assert setting_for_env_var("GATEWAY_KAFKA_BOOTSTRAP") == "kafka.bootstrap"
    assert setting_for_env_var("GATEWAY_DATABASE_URL") == "database.url"
    assert setting_for_env_var("GATEWAY_PARTNERS") == "partners"
    assert setting_for_env_var("GATEWAY_KAFKA_BOOTSTRAPS") is None
    assert unknown_gateway_env_vars({"GATEWAY_HTTP_PROT": "1", "GATEWAY_HTTP_PORT": "1", "PATH": "/"}) == ["GATEWAY_HTTP_PROT"]


def test_readme_lists_every_setting() -> None:
    from gateway.runtime.config import settings_reference

    from .conftest import REPO

    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert table == settings_reference(), "README settings table is stale: paste `gateway config reference`"


def test_real_kafka_gets_an_idempotent_producer_and_the_embedded_broker_does_not() -> None:
    from gateway.runtime.kafka import producer_options

    real = producer_options(load_settings(kafka={"bootstrap": "kafka-1:9092"}).kafka)
    embedded = producer_options(load_settings().kafka)
    assert real["acks"] == embedded["acks"] == "all"
    assert real["enable_idempotence"] is True and embedded["enable_idempotence"] is False
    forced = producer_options(load_settings(kafka={"bootstrap": "k:9092", "idempotent_producer": False}).kafka)
    assert forced["enable_idempotence"] is False
