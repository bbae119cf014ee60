"""docker-compose.yml describes the stack the services actually are.

The structural checks always run; ``docker compose config -q`` runs only
where the Docker CLI with its compose plugin is installed.
"""
import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("enrolment", "benefits", "reporting")
INFRA_SERVICES = ("rabbitmq", "postgres")


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader without nameko's ``${ENV:default}`` resolver (shared.config adds it)."""


_ComposeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "!env_var"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def services():
    with open(COMPOSE) as handle:
        return yaml.load(handle, Loader=_ComposeLoader)["services"]


def test_all_five_services_are_defined(services):
    assert set(INFRA_SERVICES + APP_SERVICES) <= set(services)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_healthy_broker_and_database(services, name):
    depends_on = services[name]["depends_on"]
    for infra in INFRA_SERVICES:
        assert depends_on[infra]["condition"] == "service_healthy", (name, infra)
    for infra in INFRA_SERVICES:
        assert services[infra].get("healthcheck", {}).get("test"), infra


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_has_a_health_rpc_healthcheck(services, name):
    test = services[name]["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    assert "deploy.healthcheck" in command and name in command.split()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_runs_its_own_nameko_service(services, name):
    command = services[name]["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert command.startswith("nameko run --config deploy/config.yaml ")
    match = re.search(rf"\bservices\.{name}\.service:(\w+)\b", command)
    assert match, f"{name}: {command!r} does not run services.{name}.service:<Class>"
    module = importlib.import_module(f"services.{name}.service")
    cls = getattr(module, match.group(1))
    assert cls.name == name


def _compose_available():
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed: {exc}"
    if result.returncode != 0:
        return "`docker compose version` failed: the compose plugin is not installed"
    return None


def test_docker_compose_config_is_valid():
    reason = _compose_available()
    if reason:
        pytest.skip(reason)
    result = subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
