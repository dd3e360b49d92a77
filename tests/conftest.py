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
def operator_process(kube: Kube, crds_installed: list[str], tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Path]:
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
                              ECS_SERVICE_STATUS_INTERVAL="0.5", ECS_INACTIVE_SERVICE_RETENTION="5")
    time.sleep(1.0)
    if proc.poll() is not None:
        pytest.fail(f"operator exited at start:\n{log.read_text()}")
    try:
        yield log
    finally:
        stop_operator(proc)
