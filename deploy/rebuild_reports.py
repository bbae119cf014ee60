"""``make rebuild-reports``: drop reporting's read models and replay its event archive.

Calls the reporting service's ``rebuild_reports`` RPC (admin role) on the
broker of the configuration, with the token in ``VSS_TOKEN`` (default: the
development admin token), and prints how many events were replayed.
"""
import os
import sys
import warnings

warnings.filterwarnings("ignore")

from nameko.exceptions import RemoteError  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from shared.config import load_config  # noqa: E402


def main():
    config = load_config()
    token = os.environ.get("VSS_TOKEN", "dev-admin-token")
    with ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, timeout=3600,
                         context_data={"auth_token": token}) as rpc:
        try:
            result = rpc.reporting.rebuild_reports()
        except RemoteError as exc:
            sys.exit(f"rebuild refused: {exc.exc_type}: {exc.value}")
    print(f"read models rebuilt from {result['replayed']:,} archived events")


if __name__ == "__main__":
    main()
