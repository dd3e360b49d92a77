"""kill -9 the operator while it creates tasks: after restarts, one Pod per task, none lost."""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from kubernetes import client

from ecs_operator.ecs.labels import API_GROUP, API_VERSION, TASK_LABEL
from tests.helpers import start_operator, stop_operator, wait_for

pytestmark = pytest.mark.controlplane

TASKS = 30
COUNT = 2  # tasks per ECSTask: 60 tasks in all
KILLS = 4


def test_operator_killed_mid_burst_creates_each_pod_once_and_loses_no_task(kube, crds_installed, node_group,
                                                                             tmp_path):
    namespace = f"crash-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace({"metadata": {"name": namespace}})
    cluster = f"crash{uuid.uuid4().hex[:6]}"
    node_group(cluster=cluster, count=3, cpu="32", memory="64Gi", pods="200")
    custom = client.CustomObjectsApi(kube.api)

    def create(plural: str, kind: str, name: str, spec: dict) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    log = (tmp_path / "operator.log").open("ab")
    operator = start_operator(kube.kubeconfig, log, "--namespace", namespace, "--log-level", "warning")
    try:
        create("ecsclusters", "ECSCluster", cluster, {})
        create("ecstaskdefinitions", "ECSTaskDefinition", "burst", {"family": "burst", "containerDefinitions": [
            {"name": "app", "image": "app", "cpu": 64, "memory": 64, "portMappings": [{"containerPort": 80}]}]})
        for i in range(TASKS):
            create("ecstasks", "ECSTask", f"b{i}", {"cluster": cluster, "taskDefinition": "burst", "count": COUNT})
        for kill in range(KILLS):
            time.sleep(0.7 + 0.4 * kill)
            operator.send_signal(signal.SIGKILL)
            operator.wait()
            operator = start_operator(kube.kubeconfig, log, "--namespace", namespace, "--log-level", "warning")

        def all_running():
            items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks")["items"]
            records = [r for item in items for r in (item.get("status") or {}).get("tasks", [])]
            return len(records) == TASKS * COUNT and all(r["lastStatus"] == "RUNNING" for r in records) and records

        records = wait_for(all_running, timeout=120, what="every task RUNNING after the restarts")
        pods = kube.core.list_namespaced_pod(namespace).items
        per_task: dict[str, int] = {}
        for pod in pods:
            per_task[pod.metadata.labels[TASK_LABEL]] = per_task.get(pod.metadata.labels[TASK_LABEL], 0) + 1
        assert len(pods) == TASKS * COUNT  # no duplicates
        assert per_task == {f"b{i}": COUNT for i in range(TASKS)}
        assert len({r["taskArn"] for r in records}) == TASKS * COUNT  # task ids stable across restarts
    finally:
        stop_operator(operator)
        log.close()
        kube.core.delete_namespace(namespace)
