"""Load the nameko YAML configuration with ${ENV:default} overrides."""
import os
from pathlib import Path

import yaml
from nameko.cli.main import setup_yaml_parser

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "config.yaml"

setup_yaml_parser()


def load_config(path=None):
    """Read the YAML the services run with (``VSS_CONFIG`` or deploy/config.yaml)."""
    path = Path(path or os.environ.get("VSS_CONFIG") or DEFAULT_CONFIG)
    with open(path) as handle:
        return yaml.safe_load(handle)


def truthy(value):
    """A setting read as a flag: 1, true, yes, on (any case) are true."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def database_settings(config, service_name):
    """The DSN and schema of one service, as ``(dsn, schema)``."""
    settings = config["DATABASES"][service_name]
    return settings["dsn"], settings["schema"]
