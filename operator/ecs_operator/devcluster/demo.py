"""The main job: the operator plus a demo, on a local control plane unless KUBECONFIG is given.

Through the ECS API layer, as `kubectl ecs` would: registers the example task definitions (the
2014 preview's three-tier seed and the classic WordPress + MySQL pair linked by name), runs one
task of each, and prints them as `aws ecs describe-tasks` does. It also serves ECS's HTTP API
(`ecs-operator api` on loopback) and prints the `export AWS_…` lines that point the aws CLI, boto3
and the SDKs at it, with an access key of a demo user bound to the chart's ClusterRole
ecs-full-access in the demo namespace. Everything it started stops on exit or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..api import EcsError, Session, access_keys, call
from ..api.shapes import iso_timestamps, resource_id
from ..ecs.crds import crds

EXAMPLES = ("seed-three-tier.json", "wordpress.json")
NAMESPACE = "ecs-demo"
# The ECS endpoint: its port when free (the `ecs-operator api` default), the demo user's name, and
# the chart's ClusterRoles for users, read from the rendered chart (manifests/), never copied here.
ENDPOINT_PORT = 5373
DEMO_USER = "ecs-demo-user"
USER_CLUSTER_ROLES = ("ecs-full-access", "ecs-read-only")


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def cluster(state_dir: Path) -> Iterator[tuple[str, bool]]:
    """(kubeconfig path, local?) — the given KUBECONFIG, or a local control plane for the block."""
    given = os.environ.get("KUBECONFIG")
    if given:
        step(f"using the cluster in KUBECONFIG={given}")
        yield given, False
        return
    from . import build
    from .controlplane import running

    if not build.binaries_ready():
        step("building the pinned control plane (once; several minutes)")
        build.build()
    step(f"starting a local control plane in {state_dir}")
    started = time.monotonic()
    with running(state_dir) as plane:
        step(f"control plane ready in {time.monotonic() - started:.1f} s")
        yield str(plane.kubeconfig), True


def install_crds(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    for manifest in crds().values():
        name = manifest["metadata"]["name"]
        try:
            current = ext.read_custom_resource_definition(name)
            manifest["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, manifest)
        except ApiException as err:
            if err.status != 404:
                raise
            ext.create_custom_resource_definition(manifest)
    for manifest in crds().values():
        name = manifest["metadata"]["name"]
        while not any(c.type == "Established" and c.status == "True"
                      for c in ext.read_custom_resource_definition(name).status.conditions or []):
            time.sleep(0.1)


def _loopback_port(preferred: int) -> int:
    """`preferred` when it is free on loopback, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free loopback port")


def start_endpoint(kubeconfig: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`ecs-operator api` on loopback (with the demo's kubeconfig), its output to `log`."""
    url = f"http://127.0.0.1:{_loopback_port(ENDPOINT_PORT)}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "api", "--listen", url.removeprefix("http://"),
                                 "--kubeconfig", kubeconfig], stdout=out, stderr=subprocess.STDOUT)
    return proc, url


def endpoint_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def apply_user_cluster_roles(api: client.ApiClient, manifests: Path) -> None:
    """The chart's ClusterRoles for users (ecs-full-access, ecs-read-only), from the rendered chart."""
    documents = [d for d in yaml.safe_load_all(manifests.read_text()) if d]
    roles = [d for d in documents if d.get("kind") == "ClusterRole" and d["metadata"]["name"] in USER_CLUSTER_ROLES]
    if len(roles) != len(USER_CLUSTER_ROLES):
        raise ValueError(f"{manifests} has no ClusterRoles {', '.join(USER_CLUSTER_ROLES)}: run make manifests")
    rbac = client.RbacAuthorizationV1Api(api)
    for role in roles:
        try:
            rbac.create_cluster_role(role)
        except ApiException as err:
            if err.status != 409:
                raise
            rbac.replace_cluster_role(role["metadata"]["name"], role)


def demo_access_key(api: client.ApiClient) -> access_keys.AccessKey:
    """A key for DEMO_USER, bound to ecs-full-access in the demo namespace (as an administrator would)."""
    rbac = client.RbacAuthorizationV1Api(api)
    with contextlib.suppress(ApiException):  # already bound (an earlier run on the same cluster)
        rbac.create_namespaced_role_binding(NAMESPACE, {
            "metadata": {"name": f"{DEMO_USER}-ecs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ecs-full-access"},
            "subjects": [{"kind": "User", "name": DEMO_USER, "apiGroup": "rbac.authorization.k8s.io"}]})
    return access_keys.create_access_key(client.CoreV1Api(api), DEMO_USER, [], NAMESPACE)


def run_demo(examples: Path, state_dir: Path, hold: bool, timeout: float = 120,
             manifests: Path = Path("manifests/ecs-operator.yaml")) -> int:
    with cluster(state_dir) as (kubeconfig, local):
        api = config.new_client_from_config(kubeconfig)
        core = client.CoreV1Api(api)
        if local:
            from .nodes import NodeGroup, create_node_group

            step("adding 3 kwok nodes (m5.large) to the node group of ECS cluster 'default'")
            create_node_group(core, NodeGroup(cluster="default", count=3))
        step("installing the CRDs")
        install_crds(api)
        with contextlib.suppress(ApiException):
            core.create_namespace({"metadata": {"name": NAMESPACE}})
        step("starting the operator (ecs-operator run)")
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        operator = subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", "--log-level", "warning"],
                                    env=env)
        step("starting the ECS endpoint (ecs-operator api) on loopback")
        endpoint_log = state_dir / "endpoint.log"
        endpoint, url = start_endpoint(kubeconfig, endpoint_log)
        key: access_keys.AccessKey | None = None
        try:
            # The ECS actions, as `kubectl ecs` and the aws CLI make them, through the ECS API layer.
            session = Session(api, NAMESPACE, wait_seconds=timeout)
            step("create-cluster --cluster-name default")
            call(session, "CreateCluster", {"clusterName": "default"})
            arns = []
            for example in EXAMPLES:
                document = json.loads((examples / example).read_text())
                family = call(session, "RegisterTaskDefinition", document)["taskDefinition"]["family"]
                step(f"register-task-definition {family} (from examples/{example})")
                step(f"run-task --cluster default --task-definition {family}")
                run = call(session, "RunTask", {"cluster": "default", "taskDefinition": family,
                                                "startedBy": "ecs-operator-demo"})
                arns += [t["taskArn"] for t in run["tasks"]]
            step("waiting for the tasks to be RUNNING")
            deadline = time.monotonic() + timeout
            while True:
                answer = call(session, "DescribeTasks", {"cluster": "default", "tasks": arns})
                ok = bool(arns) and all(t.get("lastStatus") == "RUNNING" for t in answer["tasks"])
                if ok or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            print(json.dumps(iso_timestamps(answer), indent=4))
            if not ok:
                step("not every task reached RUNNING in time")
            problem = ""
            if not endpoint_ready(endpoint, url):
                problem = (f"it did not start (its log: {endpoint_log}); run `ecs-operator api --listen "
                           f"{url.removeprefix('http://')}` to see why")
            else:
                try:
                    apply_user_cluster_roles(api, manifests)
                    key = demo_access_key(api)
                except (OSError, ValueError) as err:
                    problem = (f"no ClusterRoles for its users ({err}); run `make manifests`, or name the rendered "
                               "chart with --manifests")
                except ApiException as err:
                    problem = f"the Kubernetes API refused its setup: {err.status} {err.reason}"
                except EcsError as err:
                    problem = f"no access key: {err.code}: {err.message}"
            if problem:
                ok = False
                step(f"error: the ECS endpoint is not available: {problem}")
            else:
                assert key is not None
                step(f"the ECS endpoint serves {url}, as {DEMO_USER} (ecs-full-access in namespace {NAMESPACE}):")
                print(f"export AWS_ENDPOINT_URL_ECS={url} AWS_ACCESS_KEY_ID={key.access_key_id} "
                      f"AWS_SECRET_ACCESS_KEY={key.secret_access_key} AWS_DEFAULT_REGION=us-east-1")
                example = resource_id(arns[0]) if arns else "<task id>"
                print(f"aws ecs describe-tasks --cluster default --tasks {example}", flush=True)
                if not hold:
                    step("make run HOLD=1 keeps the endpoint up for these lines")
            if hold:
                step(f"running; KUBECONFIG={kubeconfig}; Ctrl-C stops everything")
                with contextlib.suppress(KeyboardInterrupt):
                    operator.wait()
            return 0 if ok else 1
        except EcsError as err:
            step(f"error: {err.code}: {err.message}")
            return 1
        finally:
            for proc in (endpoint, operator):
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if key is not None:  # the key dies with the endpoint (on a cluster that outlives the demo)
                with contextlib.suppress(EcsError):
                    access_keys.delete_access_key(core, key.access_key_id)
