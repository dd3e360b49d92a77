"""kube-apiserver restarts and expired watches (etcd compaction): no transition is missed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from ecs_operator.devcluster.controlplane import ControlPlane
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group
from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from tests.helpers import start_operator, stop_operator, wait_for
from tests.stall_proxy import StallProxy

pytestmark = pytest.mark.controlplane

RESTARTS = 3
DOWNTIME = 12.0  # longer than etcd's compaction period below: watches resume from compacted revisions


@pytest.fixture
def faulty(kube, tmp_path) -> Iterator[tuple[ControlPlane, Any, subprocess.Popen]]:
    """A control plane of its own (etcd compacts every 10 s) with its own operator."""
    if not kube.local:
        pytest.skip("restarts the local control plane's apiserver")
    os.environ["ECS_DEV_ETCD_COMPACTION"] = "10s"
    plane = ControlPlane(tmp_path / "plane")
    try:
        plane.start()
    finally:
        del os.environ["ECS_DEV_ETCD_COMPACTION"]
    log = (tmp_path / "operator.log").open("wb")
    operator = None
    try:
        api = config.new_client_from_config(str(plane.kubeconfig))
        install_crds(api)
        create_node_group(client.CoreV1Api(api), NodeGroup(cluster="default", count=2))
        operator = start_operator(plane.kubeconfig, log, ECS_CLUSTER_STATUS_INTERVAL="0.5")
        yield plane, api, operator
    finally:
        if operator is not None:
            stop_operator(operator)
        log.close()
        plane.stop()


def test_container_exits_across_apiserver_restarts_and_expired_watches_stop_their_tasks(faulty, tmp_path):
    plane, api, operator = faulty
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)

    def create(plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, "default", plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    def record(name: str) -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, "default", "ecstasks", name)
        return ((obj.get("status") or {}).get("tasks") or [{}])[0]

    create("ecsclusters", "ECSCluster", "default", {})
    create("ecstaskdefinitions", "ECSTaskDefinition", "app", {"family": "app", "containerDefinitions": [
        {"name": "main", "image": "app", "memory": 64}]})
    names = [f"t{i}" for i in range(RESTARTS)]
    for name in names:
        create("ecstasks", "ECSTask", name, {"cluster": "default", "taskDefinition": "app"})
    for name in names:
        wait_for(lambda n=name: record(n).get("lastStatus") == "RUNNING", what=f"{name} RUNNING")

    resync = []
    for name in names:
        plane.restart("kube-apiserver", downtime=DOWNTIME)
        back = time.monotonic()
        # The container exits while the operator is still re-opening its watches.
        core.patch_namespaced_pod(f"{name}-0", "default", {"metadata": {"annotations": {
            "exit.kwok.ecs-operator.dev/main": "3"}}})
        def exited(pod: str = f"{name}-0") -> bool:  # kwok (the "kubelet") has to reconnect too
            try:
                statuses = core.read_namespaced_pod(pod, "default").status.container_statuses or []
            except client.exceptions.ApiException:
                return True  # already stopped and removed by the operator
            return any(c.state.terminated for c in statuses)

        wait_for(exited, timeout=90, what=f"kwok terminating {name}'s container")
        kubelet_done = time.monotonic()
        stopped = wait_for(lambda n=name: (r := record(n)).get("lastStatus") == "STOPPED" and r, timeout=90,
                           what=f"{name} STOPPED after the restart")
        resync.append((kubelet_done - back, time.monotonic() - kubelet_done))
        assert stopped["stopCode"] == "EssentialContainerExited"
        assert next(c for c in stopped["containers"] if c["name"] == "main")["exitCode"] == 3

    # Watches work after all that: a new task runs.
    create("ecstasks", "ECSTask", "after", {"cluster": "default", "taskDefinition": "app"})
    wait_for(lambda: record("after").get("lastStatus") == "RUNNING", what="a new task RUNNING")
    log = (tmp_path / "operator.log").read_text()
    expired = log.count("410") + log.lower().count("expired")
    print(f"\nfaults: apiserver_restarts={RESTARTS} downtime={DOWNTIME:.0f}s "
          f"kwok_exit_after_restart_s={','.join(f'{k:.1f}' for k, _ in resync)} "
          f"operator_stopped_after_exit_s={','.join(f'{o:.1f}' for _, o in resync)} "
          f"watch_expiry_log_lines={expired}")
    assert operator.poll() is None  # API errors during the outages were retried, nothing crashed


def test_a_silently_stalled_watch_is_detected_and_the_exit_it_hid_still_stops_the_task(kube, crds_installed,
                                                                                       node_group, tmp_path):
    """Every connection of the operator goes silent without closing; only its own inactivity check
    (no event, not even a bookmark, for ECS_WATCH_INACTIVITY_TIMEOUT) gets it past that."""
    if not kube.local:
        pytest.skip("needs the local control plane's address for the proxy")
    plane = kube.plane
    proxy = StallProxy(plane.ports["apiserver"])
    stalled_config = tmp_path / "kubeconfig"
    stalled_config.write_text(plane.kubeconfig.read_text().replace(
        f"127.0.0.1:{plane.ports['apiserver']}", f"127.0.0.1:{proxy.port}"))
    namespace = f"stall-{os.urandom(4).hex()}"
    core = kube.core
    custom = client.CustomObjectsApi(kube.api)
    core.create_namespace({"metadata": {"name": namespace}})
    log = (tmp_path / "operator.log").open("wb")
    operator = start_operator(stalled_config, log, "--namespace", namespace, "--log-level", "debug",
                              ECS_WATCH_INACTIVITY_TIMEOUT="5", ECS_API_READ_TIMEOUT="5")

    def create(plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    def record() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks", "quiet")
        return ((obj.get("status") or {}).get("tasks") or [{}])[0]

    try:
        cluster = f"st{os.urandom(3).hex()}"
        node_group(cluster=cluster, count=1)
        create("ecsclusters", "ECSCluster", cluster, {})
        create("ecstaskdefinitions", "ECSTaskDefinition", "app", {"family": "app", "containerDefinitions": [
            {"name": "main", "image": "app", "memory": 64}]})
        create("ecstasks", "ECSTask", "quiet", {"cluster": cluster, "taskDefinition": "app"})
        wait_for(lambda: record().get("lastStatus") == "RUNNING", what="RUNNING before the stall")
        frozen = proxy.freeze()
        stalled_at = time.monotonic()
        core.patch_namespaced_pod("quiet-0", namespace, {"metadata": {"annotations": {
            "exit.kwok.ecs-operator.dev/main": "4"}}})
        # The watches would stay silent for their whole 300 s server timeout without the check.
        stopped = wait_for(lambda: (r := record()).get("lastStatus") == "STOPPED" and r, timeout=90,
                           what="STOPPED although the operator's connections went silent")
        print(f"\nstall: frozen_connections={frozen} stopped_after_s={time.monotonic() - stalled_at:.1f}")
        assert frozen >= 3  # the watches of ECSTasks and Pods at least, and the pooled API connections
        assert next(c for c in stopped["containers"] if c["name"] == "main")["exitCode"] == 4
        assert operator.poll() is None
    finally:
        stop_operator(operator)
        log.close()
        proxy.close()
        core.delete_namespace(namespace)
    assert "is inactive, reconnecting" in (tmp_path / "operator.log").read_text()
