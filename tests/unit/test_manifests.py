"""The Kubernetes manifests of deploy/k8s, checked offline.

Every document is validated against the Kubernetes 1.30 OpenAPI schemas
shipped in the ``kubernetes-validate`` package (strict: unknown fields are
errors), then against what the project needs: a Deployment per service with
several replicas, the real command, probes and resources everywhere, each
service's DSN from its own secret key, placeholders only in Secrets, pinned
images, and RabbitMQ policies that fit the queues the code declares.
"""
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.stack import SERVICES
from shared.consumer import DEAD_LETTER_EXCHANGE, dead_letter_queue

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"
NAMESPACE = "vss"
# The queues the services consume (services/*/service.py) and so declare.
CONSUMED_QUEUES = ("enrolment.intake", "benefits.events", "reporting.events")
# not applied by kustomization.yaml: placeholders for Secrets made out of band, dev database
OPTIONAL_FILES = {"secret.yaml", "dev-postgres.yaml"}


def load(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


FILES = sorted(K8S.glob("*.yaml"))
DOCUMENTS = [(path.name, doc) for path in FILES for doc in load(path)]
RESOURCES = [(name, doc) for name, doc in DOCUMENTS if doc.get("kind") != "Kustomization"]


def of_kind(kind, files=None):
    return [doc for name, doc in RESOURCES
            if doc["kind"] == kind and (files is None or name in files)]


def one(kind, name):
    (doc,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def of_kinds(*kinds):
    return [doc for _, doc in RESOURCES if doc["kind"] in kinds]


def containers(workload, init=True):
    spec = workload["spec"]["template"]["spec"]
    return list(spec["containers"]) + (list(spec.get("initContainers", [])) if init else [])


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


# -- schema ---------------------------------------------------------------------

def test_the_directory_holds_manifests():
    kinds = {doc["kind"] for _, doc in RESOURCES}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "StatefulSet", "Service",
            "PodDisruptionBudget", "Job"} <= kinds


@pytest.mark.parametrize("file,doc", RESOURCES,
                         ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in RESOURCES])
def test_every_document_is_valid_kubernetes(file, doc):
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        pytest.fail(f"{file}: {doc['kind']}/{doc['metadata']['name']}: {path}: {err.message}")


def test_kustomization_lists_every_manifest_but_the_optional_ones():
    (kustomization,) = load(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in FILES} - {"kustomization.yaml"}
    assert listed == present - OPTIONAL_FILES
    assert kustomization["namespace"] == NAMESPACE


def test_every_object_is_in_the_namespace():
    (namespace,) = of_kind("Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE
    for _, doc in RESOURCES:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


# -- the services ---------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_has_a_deployment_with_replicas_and_the_real_command(service):
    deployment = one("Deployment", service)
    assert deployment["spec"]["replicas"] >= 2
    (container,) = containers(deployment, init=False)
    assert container["command"] == ["nameko", "run", "--config", "deploy/config.yaml", SERVICES[service]]
    assert container["workingDir"] == "/app"  # WORKDIR of the Dockerfile
    assert container["image"].split(":")[0] == "vss-backend"
    # the same command docker-compose.yml runs
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"][service]["command"].split() == container["command"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_probes_its_own_healthz_on_its_metrics_port(service):
    """Per pod: the `health` RPC would be answered by any replica (shared queue)."""
    deployment = one("Deployment", service)
    (container,) = containers(deployment, init=False)
    config = one("ConfigMap", "vss-config")["data"]
    variable = f"{service.upper()}_METRICS_ADDRESS"
    assert f"${{{variable}:" in (ROOT / "deploy" / "config.yaml").read_text()
    host, port = config[variable].rsplit(":", 1)
    assert host == "0.0.0.0"  # the kubelet probes the pod's address
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(port)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == port
    healthz = {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == healthz
    assert container["livenessProbe"]["httpGet"] == healthz
    ready_port = "http" if service == "reporting" else "metrics"
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": ready_port}
    # a database outage fails every pod's /healthz at once: liveness waits
    # minutes before restarting, startup leaves time for migrations
    liveness, startup = container["livenessProbe"], container["startupProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 300
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_reporting_serves_http_behind_a_service_with_an_http_probe():
    config = one("ConfigMap", "vss-config")["data"]
    host, port = config["REPORTING_HTTP_ADDRESS"].rsplit(":", 1)
    assert host == "0.0.0.0"
    (container,) = containers(one("Deployment", "reporting"), init=False)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = one("Service", "reporting")
    assert service["spec"]["selector"] == one("Deployment", "reporting")["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_every_container_has_resources_and_every_long_running_one_probes():
    for workload in of_kinds("Deployment", "StatefulSet", "Job"):
        for container in containers(workload):
            where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where
        if workload["kind"] != "Job":
            for container in containers(workload, init=False):
                assert "readinessProbe" in container and "livenessProbe" in container, container["name"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_runs_non_root_on_a_read_only_root(service):
    deployment = one("Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the vss user of the Dockerfile
    (container,) = containers(deployment, init=False)
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_every_workload_that_serves_has_a_disruption_budget():
    budgets = [b["spec"]["selector"]["matchLabels"] for b in of_kind("PodDisruptionBudget")]
    for workload in of_kinds("Deployment", "StatefulSet"):
        if workload["metadata"]["name"] == "postgres":
            continue  # the development database
        assert workload["spec"]["selector"]["matchLabels"] in budgets, workload["metadata"]["name"]


# -- configuration and secrets -------------------------------------------------

def test_the_configmap_turns_the_development_tokens_off():
    data = one("ConfigMap", "vss-config")["data"]
    assert data["VSS_DEV_TOKENS"] == "false"
    assert all(isinstance(value, str) for value in data.values())


def test_every_configmap_key_is_a_setting_something_reads():
    data = one("ConfigMap", "vss-config")["data"]
    config_text = (ROOT / "deploy" / "config.yaml").read_text()
    read = set(re.findall(r"\$\{(\w+):", config_text))
    for path in (ROOT / "services").rglob("*.py"):
        read |= set(re.findall(r"os\.environ\.get\(\"(\w+)\"", path.read_text()))
    expanded = set()
    for workload in of_kinds("Deployment", "Job"):
        for container in containers(workload):
            for item in container.get("env", []):
                expanded |= set(re.findall(r"\$\((\w+)\)", item.get("value", "")))
    libpq = {"PGSSLMODE", "PGCONNECT_TIMEOUT"}
    assert set(data) - read - expanded - libpq == set()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_takes_its_own_dsn_from_its_own_secret_key(service):
    (container,) = containers(one("Deployment", service), init=False)
    env = env_of(container)
    dsn = env[f"{service.upper()}_DSN"]
    assert dsn["valueFrom"]["secretKeyRef"] == {"name": "vss-secrets", "key": f"{service}-dsn"}
    others = {f"{other.upper()}_DSN" for other in SERVICES if other != service}
    assert not others & set(env), "a service gets only its own database"
    assert env["VSS_TOKEN_HASHES"]["valueFrom"]["secretKeyRef"]["key"] == "token-hashes"
    secret = one("Secret", "vss-secrets")["stringData"]
    assert f"{service}-dsn" in secret


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_amqp_uri_is_composed_of_defined_variables(service):
    (container,) = containers(one("Deployment", service), init=False)
    config = one("ConfigMap", "vss-config")["data"]
    assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == ["vss-config"]
    defined = set(config)
    for item in container["env"]:
        # Kubernetes expands $(VAR) only from variables defined before it
        assert set(re.findall(r"\$\((\w+)\)", item.get("value", ""))) <= defined, item["name"]
        defined.add(item["name"])
    uri = env_of(container)["AMQP_URI"]["value"]
    assert uri == "pyamqp://$(AMQP_USER):$(AMQP_PASSWORD)@$(AMQP_HOST):$(AMQP_PORT)/$(AMQP_VHOST)"
    assert config["AMQP_HOST"] == f"rabbitmq.{NAMESPACE}.svc.cluster.local"


def test_secrets_hold_only_marked_placeholders():
    for secret in of_kind("Secret"):
        assert "data" not in secret, "values go in stringData, as placeholders"
        for key, value in secret["stringData"].items():
            assert "CHANGE-ME" in value, f"{secret['metadata']['name']}.{key} looks like a real value"


def test_every_secret_key_referenced_exists():
    secrets = {s["metadata"]["name"]: set(s["stringData"]) for s in of_kind("Secret")}
    for workload in of_kinds("Deployment", "StatefulSet", "Job"):
        for container in containers(workload):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], (container["name"], ref)


def test_images_are_pinned():
    (kustomization,) = load(K8S / "kustomization.yaml")
    tags = {image["name"]: image["newTag"] for image in kustomization["images"]}
    for workload in of_kinds("Deployment", "StatefulSet", "Job"):
        for container in containers(workload):
            name, _, tag = container["image"].partition(":")
            assert tag and tag != "latest", container["image"]
            if name in tags:
                assert tag == tags[name]


# -- RabbitMQ -------------------------------------------------------------------

def rabbitmq_conf():
    text = one("ConfigMap", "rabbitmq-config")["data"]["rabbitmq.conf"]
    return dict(line.split(" = ", 1) for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#"))


def test_rabbitmq_is_a_cluster_of_three_formed_by_kubernetes_peer_discovery():
    statefulset = one("StatefulSet", "rabbitmq")
    assert statefulset["spec"]["replicas"] == 3
    (container,) = containers(statefulset, init=False)
    assert container["image"] == "rabbitmq:3.13-management"
    headless = one("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    conf = rabbitmq_conf()
    assert conf["cluster_formation.peer_discovery_backend"] == "rabbit_peer_discovery_k8s"
    assert conf["cluster_formation.k8s.service_name"] == headless["metadata"]["name"]
    assert conf["cluster_formation.k8s.hostname_suffix"] == \
        f".{headless['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    plugins = one("ConfigMap", "rabbitmq-config")["data"]["enabled_plugins"]
    assert "rabbitmq_peer_discovery_k8s" in plugins
    nodename = env_of(container)["RABBITMQ_NODENAME"]["value"]
    assert nodename.endswith(f".{headless['metadata']['name']}.$(MY_POD_NAMESPACE).svc.cluster.local")
    rules = one("Role", "rabbitmq-peer-discovery")["rules"]
    assert {"resources": ["endpoints"], "verbs": ["get"], "apiGroups": [""]} in rules


def setup_configmap():
    return one("ConfigMap", "rabbitmq-setup")["data"]


def policies():
    return json.loads(setup_configmap()["policies.json"])


def effective_policy(queue):
    """The policy RabbitMQ applies to ``queue``: the matching one of highest priority."""
    matching = [p for p in policies() if re.search(p["pattern"], queue)]
    assert matching, f"no policy matches {queue}"
    top = max(p["priority"] for p in matching)
    (policy,) = [p for p in matching if p["priority"] == top]  # ties are ambiguous
    return policy


@pytest.mark.parametrize("queue", CONSUMED_QUEUES)
def test_each_consumed_queue_dead_letters_into_its_own_dead_letter_queue(queue):
    definition = effective_policy(queue)["definition"]
    # shared/consumer.py binds <queue>.dead-letters to vss.dead-letters with
    # the queue's name as routing key: the broker must dead-letter with it too
    assert definition["dead-letter-exchange"] == DEAD_LETTER_EXCHANGE
    assert definition["dead-letter-routing-key"] == queue
    assert definition["delivery-limit"] > 0
    assert (definition["dead-letter-strategy"], definition["overflow"]) == ("at-least-once", "reject-publish")


@pytest.mark.parametrize("queue", CONSUMED_QUEUES)
def test_dead_letter_queues_do_not_dead_letter_further(queue):
    definition = effective_policy(dead_letter_queue(queue))["definition"]
    assert "dead-letter-exchange" not in definition
    assert definition.get("overflow") == "reject-publish"  # refuse rather than drop


def test_a_catch_all_policy_covers_the_services_queues():
    patterns = {p["pattern"]: p for p in policies()}
    catch_all = patterns[r"^(enrolment|benefits|reporting)\."]
    assert catch_all["definition"]["dead-letter-exchange"] == DEAD_LETTER_EXCHANGE
    assert all(p["apply-to"] == "queues" for p in policies())
    assert not any("x-queue-type" in p["definition"] or "queue-type" in p["definition"]
                   for p in policies()), "policies cannot set the queue type"


class _FakeManagementApi(BaseHTTPRequestHandler):
    calls = []
    vhosts = {}

    def _reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.calls.append(("GET", self.path, None))
        if self.path == "/api/nodes":
            self._reply(200, [{"name": f"rabbit@rabbitmq-{i}", "running": True} for i in range(3)])
        elif self.path.startswith("/api/vhosts/"):
            self._reply(200, self.vhosts.get(self.path, {}))
        else:
            self._reply(404, {"error": "not_found"})

    def do_PUT(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("PUT", self.path, body))
        if self.path.startswith("/api/vhosts/"):
            self.vhosts[self.path] = body
        self._reply(201)

    def log_message(self, *args):
        pass


def test_the_setup_job_makes_a_quorum_vhost_a_user_and_every_policy(tmp_path):
    """Runs the Job's script against a stand-in for the management API on loopback."""
    job = one("Job", "rabbitmq-setup")
    (container,) = containers(job, init=False)
    assert container["image"] == "rabbitmq:3.13-management"
    assert container["command"] == ["python3", "/setup/setup.py"]
    data = setup_configmap()
    (tmp_path / "setup.py").write_text(data["setup.py"])
    (tmp_path / "policies.json").write_text(data["policies.json"])

    _FakeManagementApi.calls, _FakeManagementApi.vhosts = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeManagementApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"RABBITMQ_API": f"http://127.0.0.1:{server.server_port}/api", "EXPECTED_NODES": "3",
               "WAIT_SECONDS": "10", "POLICIES": str(tmp_path / "policies.json"),
               "ADMIN_USER": "admin", "ADMIN_PASS": "secret", "AMQP_VHOST": "vss",
               "AMQP_USER": "vss", "AMQP_PASSWORD": "pw", "PATH": "/usr/bin:/bin"}
        result = subprocess.run([sys.executable, str(tmp_path / "setup.py")], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    puts = {path: body for method, path, body in _FakeManagementApi.calls if method == "PUT"}
    assert puts["/api/vhosts/vss"]["default_queue_type"] == "quorum"
    assert puts["/api/users/vss"]["password"] == "pw"
    assert puts["/api/permissions/vss/vss"] == {"configure": ".*", "write": ".*", "read": ".*"}
    for policy in policies():
        sent = puts[f"/api/policies/vss/{policy['name']}"]
        assert sent == {key: policy[key] for key in ("pattern", "definition", "priority", "apply-to")}
    env_names = {e["name"] for e in container["env"]} | set(one("ConfigMap", "vss-config")["data"])
    assert {"ADMIN_USER", "ADMIN_PASS", "AMQP_VHOST", "AMQP_USER", "AMQP_PASSWORD"} <= env_names
