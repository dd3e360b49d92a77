"""Fixtures for tests on a real Kubernetes control plane.

Without KUBECONFIG the session starts the project's own local control plane (etcd,
kube-apiserver, kube-scheduler, kube-controller-manager and kwok); with KUBECONFIG it uses that
cluster (kind on a laptop or in GitHub Actions). Tests that need kwok nodes ask for the
`node_group` fixture; on an external cluster they run only when ECS_TEST_KWOK=1 says kwok
manages nodes there.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Kube:
    kubeconfig: Path
    api: object  # kubernetes.client.ApiClient
    local: bool  # our own control plane (kwok nodes available)
    plane: object | None = None  # the local ControlPlane, for fault tests (restart a component)

    @property
    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api)


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    from kubernetes import config

    external = os.environ.get("KUBECONFIG")
    if external:
        yield Kube(Path(external), config.new_client_from_config(external), local=False)
        return
    from ecs_operator.devcluster import build
    from ecs_operator.devcluster.controlplane import running

    if not build.binaries_ready():
        build.build()
    with running(tmp_path_factory.mktemp("controlplane")) as plane:
        yield Kube(plane.kubeconfig, config.new_client_from_config(str(plane.kubeconfig)), local=True, plane=plane)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)


@pytest.fixture
def node_group(kube: Kube) -> Iterator[Callable[..., list[str]]]:
    """Factory: node_group(cluster=..., count=..., **shape) creates kwok nodes and waits for Ready."""
    from ecs_operator.devcluster.nodes import NodeGroup, create_node_group

    if not kube.local and os.environ.get("ECS_TEST_KWOK") != "1":
        pytest.skip("needs kwok-managed nodes (local control plane, or ECS_TEST_KWOK=1)")
    created: list[str] = []

    def make(**kwargs: object) -> list[str]:
        kwargs.setdefault("name", f"g{uuid.uuid4().hex[:8]}")
        names = create_node_group(kube.core, NodeGroup(**kwargs))  # type: ignore[arg-type]
        created.extend(names)
        return names

    yield make
    from kubernetes.client.exceptions import ApiException

    for name in created:
        try:
            kube.core.delete_node(name)
        except ApiException as err:
            if err.status != 404:  # a test may have removed it (node loss)
                raise




@pytest.fixture(scope="session")
def crds_installed(kube: Kube) -> list[str]:
    """The CRDs (as `make crds` writes them to crds/) applied to the cluster and Established."""
    from ecs_operator.devcluster.demo import install_crds
    from ecs_operator.ecs.crds import crds

    install_crds(kube.api)
    return [manifest["metadata"]["name"] for manifest in crds().values()]


@pytest.fixture(scope="session")
def kubectl(kube: Kube) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the pinned kubectl against the test cluster: kubectl("apply", "-f", "-", input=...)."""
    import shutil
    import subprocess

    from ecs_operator.devcluster import build

    binary = build.bin_dir() / "kubectl"
    path = str(binary) if binary.exists() else shutil.which("kubectl")
    if path is None:
        pytest.skip("no kubectl")

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([path, f"--kubeconfig={kube.kubeconfig}", *args], input=input,
                              capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture(scope="session")
def endpoint_port() -> int:
    """The loopback port of the `endpoint` fixture, known before the operator starts (its tasks'
    containers get the task metadata endpoint's URI under it)."""
    return free_port()


@pytest.fixture(scope="session")
def operator_process(kube: Kube, crds_installed: list[str], tmp_path_factory: pytest.TempPathFactory,
                     endpoint_port: int) -> Iterator[Path]:
    """`ecs-operator run` as a real process against the test cluster; yields its log file."""
    import time

    if os.environ.get("ECS_TEST_OPERATOR") == "external":
        yield Path("/dev/null")  # the operator runs in the cluster (helm install in the kind workflow)
        return
    from tests.helpers import start_operator, stop_operator

    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with log.open("wb") as out:
        # Only the test namespaces (`t-*`): tests that run an operator of their own use other names.
        proc = start_operator(kube.kubeconfig, out, "--log-level", "info", "--namespace", "t-*",
                              ECS_CLUSTER_STATUS_INTERVAL="1", ECS_STOPPED_TASK_RETENTION="3",
                              ECS_SERVICE_HEALTHY_AFTER="2", ECS_SERVICE_THROTTLE_BASE="1",
                              ECS_SERVICE_STATUS_INTERVAL="0.5", ECS_INACTIVE_SERVICE_RETENTION="5",
                              ECS_METADATA_ENDPOINT=f"http://127.0.0.1:{endpoint_port}")
    time.sleep(1.0)
    if proc.poll() is not None:
        pytest.fail(f"operator exited at start:\n{log.read_text()}")
    try:
        yield log
    finally:
        stop_operator(proc)


# --------------------------------------------------------------------------- the ECS endpoint

# What a tenant bound to the chart's ecs-full-access ClusterRole may do (the endpoint tests grant it
# with a Role in the test namespace; the chart test checks the ClusterRole itself).
ECS_FULL_ACCESS_RULES = [{"apiGroups": ["ecs.compat.dev"],
                          "resources": ["ecsclusters", "ecstaskdefinitions", "ecstasks", "ecsservices"],
                          "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]


@dataclass
class Endpoint:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]


@dataclass
class EcsCredentials:
    access_key_id: str
    secret_access_key: str
    user: str
    namespace: str

    def env(self, endpoint: Endpoint) -> dict[str, str]:
        """The environment an unmodified AWS client needs to use the endpoint with this key."""
        return {"AWS_ENDPOINT_URL_ECS": endpoint.url, "AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_endpoint(kubeconfig: Path, log: Path, port: int, *args: str,
                   health_scheme: str = "http") -> subprocess.Popen[bytes]:
    """`ecs-operator api` as a real process; returns once /healthz answers."""
    import ssl
    import sys
    import time
    import urllib.request

    unverified = ssl._create_unverified_context()  # only to see it answer: the test checks the certificate

    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "api", "--listen", f"127.0.0.1:{port}",
                                 "--kubeconfig", str(kubeconfig), *args], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ecs-operator api exited at start:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"{health_scheme}://127.0.0.1:{port}/healthz", timeout=1,
                                   context=unverified if health_scheme == "https" else None).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"ecs-operator api did not answer /healthz in 30 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def endpoint(kube: Kube, operator_process: Path, tmp_path_factory: pytest.TempPathFactory,
             endpoint_port: int) -> Iterator[Endpoint]:
    """`ecs-operator api` on a free loopback port, with the operator running."""
    from tests.helpers import stop_operator

    log = tmp_path_factory.mktemp("endpoint") / "endpoint.log"
    port = endpoint_port
    proc = start_endpoint(kube.kubeconfig, log, port, "--rate", "1000", "--burst", "2000")
    try:
        yield Endpoint(f"http://127.0.0.1:{port}", log, proc)
    finally:
        stop_operator(proc)


def grant_ecs_access(kube: Kube, namespace: str, user: str, verbs: list[str] | None = None) -> None:
    """A Role (ECS full access, or the verbs given) in `namespace`, bound to `user`."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(kube.api)
    rules = [{**rule, "verbs": verbs or rule["verbs"]} for rule in ECS_FULL_ACCESS_RULES]
    name = f"ecs-{user}"
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})


@pytest.fixture
def ecs_credentials(kube: Kube, namespace: str) -> Callable[..., EcsCredentials]:
    """Factory: an access key for a fresh user of `namespace` (ECS full access there unless granted=False)."""
    from kubernetes import client

    from ecs_operator.api.access_keys import create_access_key

    def make(granted: bool = True, target: str | None = None, verbs: list[str] | None = None) -> EcsCredentials:
        where = target or namespace
        user = f"u-{uuid.uuid4().hex[:8]}"
        if granted:
            grant_ecs_access(kube, where, user, verbs)
        key = create_access_key(client.CoreV1Api(kube.api), user, [], where)
        return EcsCredentials(key.access_key_id, key.secret_access_key, user, where)

    return make
