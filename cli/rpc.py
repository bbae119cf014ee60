"""Calling the services' RPC for the CLI, and turning failures into messages and exit codes.

Exit codes: 1 for an error the service answered with (Unauthorized, NotFound,
ValidationError, Conflict, ...), 3 when the broker or a service cannot be
reached or does not answer in time. Click itself uses 2 for usage errors.
"""
import json
import socket

import click
from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError
from nameko.exceptions import (IncorrectSignature, MethodNotFound, RemoteError, RpcTimeout,
                               UnknownService)
from nameko.standalone.rpc import ClusterRpcProxy

REMOTE_ERROR = 1
UNREACHABLE = 3
DEFAULT_TIMEOUT = 30.0
# Errors of the connection to the broker, whatever layer raises them.
BROKER_ERRORS = (OSError, socket.timeout, AMQPError, OperationalError)


class Failure(click.ClickException):
    """A failure the CLI explains in a few lines on stderr, with its exit code."""

    def __init__(self, lines, exit_code=REMOTE_ERROR, kind="refused"):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))
        self.exit_code = exit_code
        self.kind = kind  # refused, broker, no_service, timeout

    def show(self, file=None):
        for line in self.lines:
            click.echo(line, err=True)


def validation_lines(value):
    """``field: code: sentence`` lines from a ValidationError's JSON value."""
    try:
        errors = json.loads(value)
    except (TypeError, ValueError):
        return [str(value)]
    if not isinstance(errors, dict):
        return [str(errors)]
    lines = []
    for field, messages in sorted(errors.items()):
        for message in messages if isinstance(messages, list) else [messages]:
            lines.append(f"{field}: {message}")
    return lines


def remote_failure(err, token_given):
    """The Failure for a RemoteError the service raised."""
    if err.exc_type == "ValidationError":
        lines = validation_lines(err.value)
        return Failure([f"ValidationError: {len(lines)} problem(s) with the request"] + lines)
    lines = [f"{err.exc_type}: {err.value}"]
    if err.exc_type == "Unauthorized" and not token_given:
        lines.append("no token was sent: set VSS_TOKEN (or --token) to an operator token")
    return Failure(lines)


def broker_failure(amqp_uri, exc):
    return Failure([f"cannot reach the broker at {redact(amqp_uri)}: "
                    f"{type(exc).__name__}: {exc}".rstrip(": "),
                    "check --amqp-uri / AMQP_URI and that RabbitMQ is running"],
                   UNREACHABLE, "broker")


def redact(uri):
    """The URI without its password, for messages."""
    scheme, sep, rest = uri.partition("://")
    if "@" not in rest:
        return uri
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


class Remote:
    """Lazily opened RPC proxies (one per timeout), closed when the command ends."""

    def __init__(self, amqp_uri, token, timeout=None):
        self.amqp_uri = amqp_uri
        self.token = token or None
        self.timeout = timeout
        self._proxies = {}

    def _proxy(self, timeout, token):
        key = (timeout, token)
        if key not in self._proxies:
            context = {"auth_token": token} if token else {}
            proxy = ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, context_data=context,
                                    timeout=timeout)
            self._proxies[key] = (proxy, proxy.start())
        return self._proxies[key][1]

    def call(self, service, method, *args, timeout=DEFAULT_TIMEOUT, anonymous=False, **kwargs):
        """``service.method(*args, **kwargs)``; raises Failure on any error.

        ``timeout``: this call's seconds when ``--timeout`` was not given (0 or
        ``None`` waits as long as it takes); ``anonymous``: send no token.
        """
        wait = self.timeout if self.timeout is not None else timeout
        wait = wait if wait and wait > 0 else None
        token = None if anonymous else self.token
        try:
            proxy = self._proxy(wait, token)
            return getattr(getattr(proxy, service), method)(*args, **kwargs)
        except RemoteError as err:
            raise remote_failure(err, token_given=bool(token)) from None
        except UnknownService:
            raise Failure(f"the {service} service is not running (no consumer for its RPC queue)",
                          UNREACHABLE, "no_service") from None
        except RpcTimeout:
            raise Failure(f"{service}.{method} did not answer within {wait:g} s "
                          "(raise it with --timeout)", UNREACHABLE, "timeout") from None
        except (MethodNotFound, IncorrectSignature) as err:
            raise Failure(f"{type(err).__name__}: {err} (is the service older than this CLI?)"
                          ) from None
        except BROKER_ERRORS as exc:
            raise broker_failure(self.amqp_uri, exc) from None

    def close(self):
        for proxy, _ in self._proxies.values():
            try:
                proxy.stop()
            except Exception:  # noqa: BLE001  closing a broken connection must not hide the result
                pass
        self._proxies.clear()
