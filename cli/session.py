"""What every command gets as ``ctx.obj``: the broker, the token, the output."""
import click

from cli.output import Output
from cli.rpc import Remote


def default_amqp_uri():
    """``AMQP_URI`` of the configuration (deploy/config.yaml, or ``VSS_CONFIG``)."""
    try:
        from shared.config import load_config
        return load_config()["AMQP_URI"]
    except Exception:  # noqa: BLE001  no readable configuration: the development broker
        return "pyamqp://guest:guest@127.0.0.1:5672/"


class Session:
    """The global options of one ``vss`` invocation, and its RPC proxies."""

    def __init__(self, amqp_uri, token, as_json, timeout):
        self.amqp_uri = amqp_uri
        self.token = token
        self.timeout = timeout
        self.out = Output(as_json)
        self.remote = Remote(amqp_uri, token, timeout)

    @property
    def as_json(self):
        return self.out.as_json

    def call(self, service, method, *args, **kwargs):
        """``service.method(*args, **kwargs)`` over RPC; a refusal raises ``Failure``."""
        return self.remote.call(service, method, *args, **kwargs)


pass_session = click.make_pass_decorator(Session)
