"""``vss``: the operators' command line over the services' RPC (docs/contract.md section 3).

Every command calls one service's RPC on the broker of ``--amqp-uri`` with the
token of ``VSS_TOKEN`` in the call's context; ``vss dead-letters`` talks AMQP
to RabbitMQ directly. Exit codes: 0 done, 1 the service refused or failed
(Unauthorized, NotFound, ValidationError, Conflict), 2 a usage error, 3 the
broker or a service could not be reached or did not answer in time.
"""
import logging
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import click  # noqa: E402

from cli.rpc import UNREACHABLE, Failure  # noqa: E402
from cli.session import Session, default_amqp_uri, pass_session  # noqa: E402

SERVICES = ("enrolment", "benefits", "reporting")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--amqp-uri", envvar="AMQP_URI", default=default_amqp_uri,
              help="The broker, vhost included (env AMQP_URI; default from deploy/config.yaml).")
@click.option("--token", envvar="VSS_TOKEN", default=None, metavar="TOKEN",
              help="Operator token sent as auth_token (env VSS_TOKEN; prefer the variable: "
                   "options show up in the process list). Without it the services answer "
                   "Unauthorized.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the services' answers as raw JSON instead of tables.")
@click.option("--timeout", type=click.FloatRange(min=0), envvar="VSS_TIMEOUT", default=None,
              metavar="SECONDS",
              help="How long to wait for each answer (env VSS_TIMEOUT; default 30 s, "
                   "3 h for 'payments run'; 0 waits for ever).")
@click.version_option(package_name="vss-backend", message="vss %(version)s",
                      prog_name="vss")
@click.pass_context
def cli(ctx, amqp_uri, token, as_json, timeout):
    """VSS operator commands over the services' RPC.

    Set VSS_TOKEN to your operator token (development: dev-<role>-token) and
    AMQP_URI to the broker. Exit codes: 0 ok, 1 the service refused
    (Unauthorized, NotFound, ValidationError, Conflict), 2 usage error,
    3 broker or service unreachable, or no answer in time.

    `nameko shell --config deploy/config.yaml` remains available for
    anything not covered here.
    """
    for name in ("amqp", "kombu", "nameko"):
        logging.getLogger(name).setLevel(logging.ERROR)
    session = Session(amqp_uri, token, as_json, timeout)
    ctx.obj = session
    ctx.call_on_close(session.remote.close)


@cli.command()
@pass_session
def health(session):
    """Each service's health RPC (no token needed): outbox backlog and dead letters.

    Exits 3 if a service does not answer.
    """
    rows, missing = [], []
    for service in SERVICES:
        try:
            rows.append(session.call(service, "health", anonymous=True, timeout=10))
        except Failure as failure:
            if failure.kind not in ("no_service", "timeout"):
                raise
            missing.append(service)
            rows.append({"service": service, "status": "not answering", "outbox": {},
                         "dead_letters": None, "problem": failure.lines[0]})
    if session.as_json:
        session.out.json(rows)
    else:
        session.out.table("health", ["service", "status", "outbox unsent", "oldest unsent (s)",
                                     "dead letters"],
                          [[r["service"], r["status"], r["outbox"].get("unsent"),
                            r["outbox"].get("oldest_seconds"), r["dead_letters"]] for r in rows],
                          styles=["red" if r["status"] != "ok" else None for r in rows])
    if missing:
        raise Failure([f"not answering: {', '.join(missing)}"], UNREACHABLE)


def _register():
    from cli.commands import benefits, dead_letters, people, reports
    for module in (people, benefits, reports, dead_letters):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
