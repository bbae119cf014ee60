"""Bring the local stack up and down: what ``make up``, ``make run``,
``make down`` and ``make migrate`` do.

    python -m deploy.stack up|run|down|migrate|infra|status

``up`` makes sure RabbitMQ and PostgreSQL answer (the configured ones; else
the locally installed servers are started; else, on a Debian machine with
root, they are installed from Debian's packages; else, with a Docker engine,
``docker compose up -d`` starts the two), creates the database, applies the
migrations, starts the three services in the background with logs under
``var/log`` and waits until each answers its ``health`` RPC.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "enrolment": "services.enrolment.service:EnrolmentService",
    "benefits": "services.benefits.service:BenefitsService",
    "reporting": "services.reporting.service:ReportingService",
}


def say(message):
    print(f"[stack] {message}", flush=True)


# -- infrastructure ---------------------------------------------------------

def _reachable(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _endpoints(config):
    amqp = urlparse(config["AMQP_URI"].replace("pyamqp://", "amqp://"))
    endpoints = {"rabbitmq": (amqp.hostname or "127.0.0.1", amqp.port or 5672)}
    for name, settings in config["DATABASES"].items():
        dsn = urlparse(settings["dsn"])
        endpoints[f"postgresql ({name})"] = (dsn.hostname or "127.0.0.1", dsn.port or 5432)
    return endpoints


def _wait_for(endpoints, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        missing = [n for n, (h, p) in endpoints.items() if not _reachable(h, p)]
        if not missing:
            return []
        time.sleep(1)
    return missing


def _run_quiet(command):
    return subprocess.run(command, shell=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def _start_local_servers(missing):
    started = False
    if any(m.startswith("postgresql") for m in missing) and Path("/etc/postgresql").is_dir():
        for version in sorted(os.listdir("/etc/postgresql")):
            say(f"starting the local PostgreSQL {version}")
            started |= _run_quiet(
                f"pg_ctlcluster --skip-systemctl-redirect {version} main start")
    if "rabbitmq" in missing and shutil.which("rabbitmq-server"):
        say("starting the local RabbitMQ")
        started |= _run_quiet("rabbitmq-server -detached")
    return started


def _debian_root():
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get")


def _install_from_debian(missing):
    packages = []
    if any(m.startswith("postgresql") for m in missing) and not Path("/etc/postgresql").is_dir():
        packages.append("postgresql")
    if "rabbitmq" in missing and not shutil.which("rabbitmq-server"):
        packages.append("rabbitmq-server")
    if not packages:
        return False
    say(f"installing {' '.join(packages)} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run("apt-get update -q", shell=True, check=True, env=env)
    subprocess.run(f"apt-get install -y -q {' '.join(packages)}", shell=True, check=True, env=env)
    if "postgresql" in packages:
        # Local development trusts loopback connections, as the DSNs assume.
        for hba in Path("/etc/postgresql").glob("*/main/pg_hba.conf"):
            hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n"
                           "host all all ::1/128 trust\n")
    return _start_local_servers(missing) or True


def _docker_engine():
    return shutil.which("docker") and _run_quiet("docker info")


def ensure_infrastructure(config):
    endpoints = _endpoints(config)
    missing = _wait_for(endpoints, 2)
    if not missing:
        return
    say(f"not answering: {', '.join(missing)}")
    if _start_local_servers(missing):
        missing = _wait_for(endpoints, 60)
    if missing and _debian_root() and _install_from_debian(missing):
        missing = _wait_for(endpoints, 90)
    if missing and _docker_engine():
        say("starting RabbitMQ and PostgreSQL with docker compose")
        subprocess.run(["docker", "compose", "up", "-d", "rabbitmq", "postgres"], cwd=ROOT, check=True)
        missing = _wait_for(endpoints, 120)
    if missing:
        raise SystemExit(f"[stack] still not answering: {', '.join(missing)}. Start them, or point "
                         "AMQP_URI and the *_DSN variables at running servers.")


def ensure_databases(config):
    for settings in config["DATABASES"].values():
        dsn = urlparse(settings["dsn"])
        name = dsn.path.lstrip("/")
        admin = psycopg2.connect(dsn._replace(path="/postgres").geturl())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                say(f"creating database {name}")
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:
                    pass
        admin.close()


def migrate_all(config):
    from shared.migrations import migrate
    for name, settings in config["DATABASES"].items():
        applied = migrate(settings["dsn"], settings["schema"], ROOT / "services" / name / "migrations")
        say(f"{name}: {len(applied)} migration(s) applied" if applied else f"{name}: schema up to date")


# -- service processes ------------------------------------------------------

def start_services(env, log_dir, run_dir, config_path, names=None):
    """Start each service (or those of ``names``) as ``nameko run``; returns ``{name: Popen}``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    nameko = Path(sys.executable).with_name("nameko")
    processes = {}
    for name, target in SERVICES.items():
        if names is not None and name not in names:
            continue
        log = open(log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [str(nameko), "run", "--config", str(config_path), target],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (run_dir / f"{name}.pid").write_text(str(proc.pid))
        processes[name] = proc
    return processes


def wait_healthy(amqp_uri, processes, seconds=90):
    """Wait until every service answers ``health``; fail fast if one exits."""
    from nameko.standalone.rpc import ClusterRpcProxy
    deadline = time.monotonic() + seconds
    pending = set(processes)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=5) as rpc:
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if processes[name].poll() is not None:
                    raise RuntimeError(f"service {name} exited with {processes[name].returncode}")
                try:
                    getattr(rpc, name).health()
                    pending.discard(name)
                except Exception:  # not consuming yet: the call timed out
                    time.sleep(0.2)
    if pending:
        raise RuntimeError(f"no health answer from {', '.join(sorted(pending))}")


def stop_services(run_dir, seconds=20):
    pids = {}
    for pid_file in sorted(Path(run_dir).glob("*.pid")):
        try:
            pids[pid_file.stem] = int(pid_file.read_text())
            os.killpg(pids[pid_file.stem], signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pid_file.unlink()
    deadline = time.monotonic() + seconds
    for name, pid in pids.items():
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        say(f"{name} stopped")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is dead too
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


# -- commands ---------------------------------------------------------------

def main(argv=None):
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(ROOT))
    from shared.config import DEFAULT_CONFIG, load_config

    parser = argparse.ArgumentParser(prog="python -m deploy.stack")
    parser.add_argument("command", choices=["up", "run", "down", "migrate", "infra", "status"])
    args = parser.parse_args(argv)
    config_path = Path(os.environ.get("VSS_CONFIG") or DEFAULT_CONFIG)
    config = load_config(config_path)
    log_dir, run_dir = ROOT / "var" / "log", ROOT / "var" / "run"

    if args.command == "down":
        stop_services(run_dir)
        return
    if args.command == "status":
        for pid_file in sorted(run_dir.glob("*.pid")):
            pid = int(pid_file.read_text())
            say(f"{pid_file.stem}: pid {pid} {'running' if _alive(pid) else 'not running'}")
        return
    ensure_infrastructure(config)
    if args.command == "infra":
        return
    ensure_databases(config)
    migrate_all(config)
    if args.command == "migrate":
        return
    stop_services(run_dir)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    processes = start_services(env, log_dir, run_dir, config_path)
    try:
        wait_healthy(config["AMQP_URI"], processes)
    except RuntimeError as exc:
        stop_services(run_dir)
        raise SystemExit(f"[stack] {exc}; see {log_dir}")
    say("enrolment, benefits and reporting are up; logs in var/log, `make down` stops them")
    say(f"publish to the exchange enrolment.intake at {config['AMQP_URI'].split('@')[-1]}")
    if args.command == "run":
        _follow(processes, log_dir, run_dir)


def _follow(processes, log_dir, run_dir):
    """``make run``: show the logs until Ctrl-C, then stop everything."""
    tail = subprocess.Popen(["tail", "-n", "0", "-F"] + [str(log_dir / f"{n}.log") for n in processes])
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(1)
        say("a service exited; stopping the others")
    except KeyboardInterrupt:
        pass
    finally:
        tail.terminate()
        stop_services(run_dir)


if __name__ == "__main__":
    main()
