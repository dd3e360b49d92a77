"""The operator on the real control plane: ECS behaviour as `aws ecs describe-*` would show it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from tests.helpers import wait_for

pytestmark = pytest.mark.controlplane

SEED = json.loads((Path(__file__).resolve().parents[2] / "examples" / "seed-three-tier.json").read_text())
TASK_ARN = r"^arn:aws:ecs:us-east-1:000000000000:task/{cluster}/[0-9a-f]{{32}}$"


class Ecs:
    """Create ECS resources in one namespace and read them back the way a user would."""

    def __init__(self, kube: Any, namespace: str):
        self.kube = kube
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(kube.api)

    def create(self, plural: str, kind: str, name: str, spec: dict[str, Any], **meta: Any) -> None:
        body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
                "metadata": {"name": name, **meta}, "spec": spec}
        self.custom.create_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, plural, name)

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, plural, name, body)

    def cluster(self, nodes: int, node_group: Any, **node_shape: Any) -> str:
        name = f"c{uuid.uuid4().hex[:8]}"
        node_group(cluster=name, count=nodes, **node_shape)
        self.create("ecsclusters", "ECSCluster", name, {})
        return name

    def task_definition(self, definition: dict[str, Any], name: str | None = None) -> str:
        name = name or definition["family"].lower().replace("_", "-")
        self.create("ecstaskdefinitions", "ECSTaskDefinition", name, definition)
        wait_for(lambda: self.get("ecstaskdefinitions", name).get("status", {}).get("latestRevision"),
                 what=f"{name} registered")
        return name

    def run_task(self, name: str, cluster: str, task_definition: str, **spec: Any) -> None:
        self.create("ecstasks", "ECSTask", name, {"cluster": cluster, "taskDefinition": task_definition, **spec})

    def task(self, name: str, index: int = 0) -> dict[str, Any]:
        tasks = self.get("ecstasks", name).get("status", {}).get("tasks", [])
        return tasks[index] if index < len(tasks) else {}

    def wait_task(self, name: str, last_status: str, index: int = 0, timeout: float = 60) -> dict[str, Any]:
        return wait_for(lambda: (t := self.task(name, index)).get("lastStatus") == last_status and t,
                        timeout=timeout, what=f"task {name}[{index}] {last_status}")

    def containers(self, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in record["containers"]}

    def exit_container(self, pod: str, container: str, code: int) -> None:
        self.kube.core.patch_namespaced_pod(pod, self.namespace, {"metadata": {"annotations": {
            f"exit.kwok.ecs-operator.dev/{container}": str(code)}}})

    def instance(self, cluster: str) -> dict[str, Any]:
        instances = self.get("ecsclusters", cluster).get("status", {}).get("containerInstances", [])
        return instances[0] if instances else {}


def resources(instance: dict[str, Any], which: str) -> dict[str, Any]:
    return {r["name"]: r.get("integerValue", r.get("stringSetValue")) for r in instance[which]}


@pytest.fixture
def ecs(kube, namespace, operator_process) -> Ecs:
    return Ecs(kube, namespace)


def test_seed_task_runs_and_reads_like_describe_tasks(ecs, node_group, kubectl):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition(SEED)
    ecs.run_task("seed", cluster, "application-name")
    task = ecs.wait_task("seed", "RUNNING")

    import re
    assert re.match(TASK_ARN.format(cluster=cluster), task["taskArn"])
    assert task["clusterArn"] == f"arn:aws:ecs:us-east-1:000000000000:cluster/{cluster}"
    assert task["taskDefinitionArn"].endswith(":task-definition/application-name:1")
    assert task["desiredStatus"] == "RUNNING" and task["group"] == "family:application-name"
    assert task["containerInstanceArn"].startswith(f"arn:aws:ecs:us-east-1:000000000000:container-instance/{cluster}/")
    for key in ("createdAt", "startedAt"):
        assert task[key]
    containers = ecs.containers(task)
    assert set(containers) == {"load-balancer", "web", "database"}
    assert all(c["lastStatus"] == "RUNNING" for c in containers.values())
    lb = containers["load-balancer"]["networkBindings"][0]
    assert (lb["containerPort"], lb["hostPort"], lb["protocol"]) == (9443, 443, "tcp")
    # the task definition keeps the preview's version label next to the revision
    revisions = ecs.get("ecstaskdefinitions", "application-name")["status"]["revisions"]
    assert revisions[0]["version"] == "9a56714245e7e603127"

    table = kubectl("get", "ecstasks", "-n", ecs.namespace)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[:4] == ["NAME", "CLUSTER", "TASK", "DEFINITION"] and "STATUS" in header
    assert "RUNNING" in table.stdout.splitlines()[1]


def test_port_conflict_on_a_one_node_group_reports_resource_ports(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition(SEED)
    ecs.run_task("first", cluster, "application-name")
    ecs.wait_task("first", "RUNNING")
    ecs.run_task("second", cluster, "application-name")
    record = wait_for(lambda: (t := ecs.task("second")).get("failures") and t, what="placement failure")
    assert record["lastStatus"] == "PROVISIONING"
    assert {"arn": record["taskArn"], "reason": "RESOURCE:PORTS"} in record["failures"]
    status = ecs.get("ecstasks", "second")["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "RESOURCE:PORTS" in ready["message"]


def test_dynamic_host_ports_let_two_copies_share_a_node(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    definition = {"family": "dyn", "containerDefinitions": [
        {"name": "web", "image": "nginx", "cpu": 256, "memory": 256,
         "portMappings": [{"containerPort": 80, "hostPort": 0}]}]}
    ecs.task_definition(definition)
    ecs.run_task("copies", cluster, "dyn", count=2)
    first = ecs.wait_task("copies", "RUNNING", 0)
    second = ecs.wait_task("copies", "RUNNING", 1)
    assert first["containerInstanceArn"] == second["containerInstanceArn"]
    bindings = [ecs.containers(t)["web"]["networkBindings"][0] for t in (first, second)]
    assert bindings[0]["bindIP"] != bindings[1]["bindIP"]  # each task on its own address
    assert first["taskArn"] != second["taskArn"]


def test_essential_container_exit_stops_the_task(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "ess", "containerDefinitions": [
        {"name": "app", "image": "app", "memory": 128},
        {"name": "sidecar", "image": "side", "memory": 64, "essential": False}]})
    ecs.run_task("ess", cluster, "ess")
    ecs.wait_task("ess", "RUNNING")
    ecs.exit_container("ess-0", "app", 2)
    task = ecs.wait_task("ess", "STOPPED")
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["desiredStatus"] == "STOPPED" and task["stoppedAt"]
    containers = ecs.containers(task)
    assert containers["app"]["exitCode"] == 2
    assert containers["sidecar"]["lastStatus"] == "STOPPED"  # stopped with the task
    wait_for(lambda: _pod_gone(ecs, "ess-0"), what="the task's Pod removed")
    event = wait_for(lambda: next((e for e in ecs.kube.core.list_namespaced_event(ecs.namespace).items
                                   if e.reason == "TaskStopped" and e.involved_object.name == "ess"), None),
                     what="a TaskStopped Event")
    assert event.type == "Warning" and "EssentialContainerExited" in event.message and "app=2" in event.message


def test_non_essential_exit_leaves_the_task_running(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "nonessential", "containerDefinitions": [
        {"name": "app", "image": "app", "memory": 128},
        {"name": "migrate", "image": "tool", "memory": 64, "essential": False}]})
    ecs.run_task("ne", cluster, "nonessential")
    ecs.wait_task("ne", "RUNNING")
    ecs.exit_container("ne-0", "migrate", 0)
    task = wait_for(lambda: (t := ecs.task("ne")) and ecs.containers(t)["migrate"]["lastStatus"] == "STOPPED" and t,
                    what="migrate STOPPED")
    assert task["lastStatus"] == "RUNNING" and "stopCode" not in task
    assert ecs.containers(task)["migrate"]["exitCode"] == 0
    assert ecs.containers(task)["app"]["lastStatus"] == "RUNNING"


def test_stop_task_stops_gracefully_with_the_users_reason(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "stoppable", "containerDefinitions": [
        {"name": "app", "image": "app", "memory": 128, "stopTimeout": 5}]})
    ecs.run_task("st", cluster, "stoppable")
    ecs.wait_task("st", "RUNNING")
    assert ecs.kube.core.read_namespaced_pod("st-0", ecs.namespace).spec.termination_grace_period_seconds == 5
    ecs.patch("ecstasks", "st", {"spec": {"desiredStatus": "STOPPED", "stopReason": "maintenance"}})
    task = ecs.wait_task("st", "STOPPED")
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "maintenance"
    assert task["stoppingAt"] <= task["stoppedAt"]
    # A stopped task cannot be started again: the CRD's transition rule refuses it.
    with pytest.raises(ApiException) as err:
        ecs.patch("ecstasks", "st", {"spec": {"desiredStatus": "RUNNING"}})
    assert "cannot be started again" in err.value.body


def test_new_revision_leaves_running_task_on_its_revision_and_deregistered_is_refused(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    definition = {"family": "rev", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]}
    ecs.task_definition(definition)
    ecs.run_task("old", cluster, "rev")
    ecs.wait_task("old", "RUNNING")
    ecs.patch("ecstaskdefinitions", "rev", {"spec": {"containerDefinitions": [
        {"name": "app", "image": "app:2", "memory": 128}]}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", "rev")["status"]["latestRevision"] == 2, what="revision 2")
    old = ecs.task("old")
    assert old["taskDefinitionArn"].endswith("rev:1") and old["lastStatus"] == "RUNNING"
    assert ecs.kube.core.read_namespaced_pod("old-0", ecs.namespace).spec.containers[0].image == "app:1"
    ecs.run_task("new", cluster, "rev")
    assert ecs.wait_task("new", "RUNNING")["taskDefinitionArn"].endswith("rev:2")

    # Deregister revision 1: the running task keeps running, a new task naming it is refused.
    ecs.patch("ecstaskdefinitions", "rev", {"metadata": {"annotations": {
        f"{API_GROUP}/deregistered-revisions": "1"}}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", "rev")["status"]["revisions"][0]["status"] == "INACTIVE",
             what="revision 1 INACTIVE")
    ecs.run_task("refused", cluster, "rev:1")
    status = wait_for(lambda: (s := ecs.get("ecstasks", "refused").get("status", {})).get("failures") and s,
                      what="refusal")
    assert "TaskDefinition is inactive" in status["failures"][0]["detail"]
    assert _pod_gone(ecs, "refused-0")  # nothing created
    assert ecs.task("old")["lastStatus"] == "RUNNING"


def test_remaining_resources_follow_tasks(ecs, node_group):
    cluster = ecs.cluster(1, node_group, cpu="2", memory="4Gi")
    wait_for(lambda: ecs.instance(cluster), what="container instance listed")
    registered = resources(ecs.instance(cluster), "registeredResources")
    assert (registered["CPU"], registered["MEMORY"]) == (2048, 4096)
    ecs.task_definition({"family": "res", "containerDefinitions": [
        {"name": "app", "image": "app", "cpu": 512, "memory": 512, "memoryReservation": 256,
         "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]})
    ecs.run_task("res", cluster, "res")
    ecs.wait_task("res", "RUNNING")
    remaining = wait_for(lambda: (r := resources(ecs.instance(cluster), "remainingResources"))["CPU"] == 1536 and r,
                         what="remaining CPU down")
    assert remaining["MEMORY"] == 4096 - 256  # memoryReservation counts before memory
    assert "8080" in remaining["PORTS"]
    wait_for(lambda: ecs.instance(cluster)["runningTasksCount"] == 1, what="the task counted as running")
    ecs.patch("ecstasks", "res", {"spec": {"desiredStatus": "STOPPED"}})
    ecs.wait_task("res", "STOPPED")
    back = wait_for(lambda: (r := resources(ecs.instance(cluster), "remainingResources"))["CPU"] == 2048 and r,
                    what="remaining CPU back")
    assert back["MEMORY"] == 4096 and "8080" not in back["PORTS"]


def test_pod_deleted_by_someone_else_or_lost_with_its_node_ends_the_task(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "lost", "containerDefinitions": [{"name": "app", "image": "app", "memory": 64}]})
    ecs.run_task("deleted", cluster, "lost")
    ecs.wait_task("deleted", "RUNNING")
    ecs.kube.core.delete_namespaced_pod("deleted-0", ecs.namespace)
    task = ecs.wait_task("deleted", "STOPPED")
    assert task["stopCode"] == "TerminationNotice" and "deleted outside" in task["stoppedReason"]
    assert _pod_gone(ecs, "deleted-0")  # never re-created

    ecs.run_task("orphan", cluster, "lost")
    record = ecs.wait_task("orphan", "RUNNING")
    ecs.kube.core.delete_node(record["nodeName"])
    task = ecs.wait_task("orphan", "STOPPED", timeout=90)  # the pod GC removes Pods of deleted nodes
    assert task["stopCode"] == "InfrastructureHealth"
    wait_for(lambda: not ecs.get("ecsclusters", cluster)["status"]["containerInstances"], what="instance gone")


def test_unknown_cluster_is_reported_and_nothing_created(ecs):
    ecs.task_definition({"family": "orphaned", "containerDefinitions": [{"name": "a", "image": "a", "memory": 64}]})
    ecs.run_task("nowhere", "no-such-cluster", "orphaned")
    status = wait_for(lambda: (s := ecs.get("ecstasks", "nowhere").get("status", {})).get("conditions") and s,
                      what="condition")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "Unresolved"
    assert "ClusterNotFoundException" in ready["message"]
    assert _pod_gone(ecs, "nowhere-0")
    event = wait_for(lambda: next((e for e in ecs.kube.core.list_namespaced_event(ecs.namespace).items
                                   if e.reason == "Unresolved" and e.involved_object.name == "nowhere"), None),
                     what="an Unresolved Event")
    assert event.type == "Warning" and "no-such-cluster" in event.message


def test_stopped_ephemeral_task_expires_after_the_retention_with_its_record_in_an_event(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "brief", "containerDefinitions": [{"name": "a", "image": "a", "memory": 64}]})
    ecs.create("ecstasks", "ECSTask", "brief", {"cluster": cluster, "taskDefinition": "brief"},
               labels={f"{API_GROUP}/ephemeral": "true"})
    ecs.run_task("kept", cluster, "brief")
    ecs.wait_task("brief", "RUNNING")
    ecs.wait_task("kept", "RUNNING")
    for name in ("brief", "kept"):
        ecs.exit_container(f"{name}-0", "a", 0)
    stopped = ecs.wait_task("brief", "STOPPED")
    assert ecs.containers(stopped)["a"]["exitCode"] == 0
    wait_for(lambda: _gone(ecs, "ecstasks", "brief"), timeout=30, what="the ephemeral task deleted")  # retention 3 s
    event = wait_for(lambda: next((e for e in ecs.kube.core.list_namespaced_event(ecs.namespace).items
                                   if e.reason == "TaskExpired"), None), what="the TaskExpired Event")
    assert stopped["taskArn"] in event.message and "a=0" in event.message
    assert ecs.wait_task("kept", "STOPPED")  # a declaratively applied task keeps its record


def _pod_gone(ecs: Ecs, name: str) -> bool:
    try:
        ecs.kube.core.read_namespaced_pod(name, ecs.namespace)
    except ApiException as err:
        return err.status == 404
    return False


def test_draining_an_instance_cordons_it_and_new_tasks_wait(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    node = wait_for(lambda: ecs.instance(cluster).get("ec2InstanceId"), what="instance listed")
    ecs.patch("ecsclusters", cluster, {"spec": {"drainingInstances": [node]}})
    wait_for(lambda: ecs.instance(cluster).get("status") == "DRAINING", what="instance DRAINING")
    assert ecs.kube.core.read_node(node).spec.unschedulable is True
    ecs.task_definition({"family": "drain", "containerDefinitions": [{"name": "a", "image": "a", "memory": 64}]})
    ecs.run_task("waits", cluster, "drain")
    record = wait_for(lambda: (t := ecs.task("waits")).get("failures") and t, what="no instance to place on")
    assert record["lastStatus"] == "PROVISIONING"
    ecs.patch("ecsclusters", cluster, {"spec": {"drainingInstances": None}})
    ecs.wait_task("waits", "RUNNING")
    wait_for(lambda: ecs.instance(cluster)["status"] == "ACTIVE", what="instance ACTIVE again")
    assert not ecs.kube.core.read_node(node).spec.unschedulable


def test_deleting_a_cluster_with_running_tasks_waits_for_them_to_stop(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "busy", "containerDefinitions": [{"name": "a", "image": "a", "memory": 64}]})
    ecs.run_task("busy", cluster, "busy")
    ecs.wait_task("busy", "RUNNING")
    ecs.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, ecs.namespace, "ecsclusters", cluster)
    event = wait_for(lambda: next((e for e in ecs.kube.core.list_namespaced_event(ecs.namespace).items
                                   if e.involved_object.name == cluster and "ClusterContainsTasks" in e.message),
                                  None), what="the refusal Event")
    assert event.type == "Error" or event.type == "Warning"
    assert ecs.get("ecsclusters", cluster)["metadata"]["deletionTimestamp"]  # held, not gone
    assert ecs.task("busy")["lastStatus"] == "RUNNING"  # the task is untouched
    ecs.patch("ecstasks", "busy", {"spec": {"desiredStatus": "STOPPED"}})
    wait_for(lambda: _gone(ecs, "ecsclusters", cluster), timeout=60, what="cluster deleted after its tasks stopped")


def _gone(ecs: Ecs, plural: str, name: str) -> bool:
    try:
        ecs.get(plural, name)
    except ApiException as err:
        return err.status == 404
    return False


def test_a_second_resource_for_the_same_family_is_refused(ecs):
    ecs.task_definition({"family": "shared", "containerDefinitions": [{"name": "a", "image": "a:1", "memory": 64}]},
                        name="first")
    ecs.create("ecstaskdefinitions", "ECSTaskDefinition", "second", {"family": "shared", "containerDefinitions": [
        {"name": "a", "image": "a:2", "memory": 64}]})
    status = wait_for(lambda: (s := ecs.get("ecstaskdefinitions", "second").get("status", {})).get("conditions")
                      and s, what="refusal")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "FamilyTaken" and "first" in ready["message"]
    assert "latestRevision" not in status
    assert ecs.get("ecstaskdefinitions", "first")["status"]["latestRevision"] == 1
