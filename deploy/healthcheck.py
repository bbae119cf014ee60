"""Ask one service for its ``health`` RPC: the container healthcheck.

    python -m deploy.healthcheck enrolment|benefits|reporting [--timeout 5]

Reads the configuration the services run with (``shared.config.load_config``,
so ``AMQP_URI`` comes from the environment), calls ``<service>.health()`` and
exits 0 when it answers ``status == "ok"``; otherwise prints the reason to
stderr and exits 1. docker-compose.yml runs it for each service.
"""
import argparse
import sys
import warnings

SERVICES = ("enrolment", "benefits", "reporting")


def check(service, amqp_uri, timeout):
    """``None`` when ``service`` is healthy, else the reason it is not."""
    from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout) as rpc:
            answer = getattr(rpc, service).health()
    except UnknownService:
        return f"{service} is not running (no {service} RPC queue on the broker)"
    except RpcTimeout:
        return f"{service} did not answer health within {timeout:g}s (not running, or stuck)"
    except RemoteError as exc:
        return f"{service} health failed: {exc}"
    except Exception as exc:  # broker unreachable, refused login, ...
        return f"cannot call {service}.health(): {type(exc).__name__}: {exc}"
    status = answer.get("status") if isinstance(answer, dict) else None
    if status != "ok":
        return f"{service} health status is {status!r}: {answer!r}"
    return None


def main(argv=None):
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="python -m deploy.healthcheck")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the answer (default 5)")
    args = parser.parse_args(argv)

    from shared.config import load_config
    amqp_uri = load_config()["AMQP_URI"]
    reason = check(args.service, amqp_uri, args.timeout)
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
