"""What the cluster reports → ECS's words: the pure functions behind task and instance status."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_operator.ecs.status import (
    TaskIdentity,
    container_instance,
    cpu_units,
    memory_mib,
    placement_failures,
    pod_usage,
    task_record,
)

IDENTITY = TaskIdentity(
    task_arn="arn:aws:ecs:us-east-1:000000000000:task/c/" + "a" * 32,
    cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/c",
    task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/f:1",
    pod_name="t-0", group="family:f", started_by=None, containers=(("web", "web", "nginx"),),
)
ESSENTIAL = {"ecs.compat.dev/essential-containers": "web"}


def pod(state: dict[str, Any] | None, phase: str = "Running", node: str | None = "n1", **extra: Any) -> dict[str, Any]:
    statuses = [{"name": "web", "state": state, "ready": "running" in (state or {})}] if state else []
    return {"metadata": {"name": "t-0", "creationTimestamp": "2026-01-01T00:00:00Z", "annotations": ESSENTIAL},
            "spec": {"nodeName": node, "containers": [{"name": "web", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": phase, "containerStatuses": statuses, "podIP": "10.0.0.5", **extra}}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:01Z"}}


@pytest.mark.parametrize(("value", "units"), [("500m", 512), ("125m", 128), ("1", 1024), ("2", 2048), (None, 0)])
def test_cpu_units_from_kubernetes_quantities(value, units):
    assert cpu_units(value) == units


@pytest.mark.parametrize(("value", "mib"), [("512Mi", 512), ("8Gi", 8192), ("1073741824", 1024), (None, 0)])
def test_memory_mib_from_kubernetes_quantities(value, mib):
    assert memory_mib(value) == mib


@pytest.mark.parametrize(("message", "reasons"), [
    ("0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.", ["RESOURCE:PORTS"]),
    ("0/2 nodes are available: 2 Insufficient cpu.", ["RESOURCE:CPU"]),
    ("0/2 nodes are available: 2 Insufficient memory.", ["RESOURCE:MEMORY"]),
    ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
     ["MemberOf placement constraint unsatisfied."]),
])
def test_scheduler_reasons_become_ecs_run_task_failures(message, reasons):
    unschedulable = pod(None, phase="Pending", node=None,
                        conditions=[{"type": "PodScheduled", "status": "False", "message": message}])
    assert placement_failures(unschedulable) == reasons


def test_lifecycle_provisioning_pending_running():
    provisioning = task_record(IDENTITY, pod(None, phase="Pending", node=None), None, desired_status="RUNNING",
                               now="t1")
    assert provisioning["lastStatus"] == "PROVISIONING"
    running = task_record(IDENTITY, pod(RUNNING), provisioning, desired_status="RUNNING", now="t2")
    assert running["lastStatus"] == "RUNNING" and running["startedAt"] == "2026-01-01T00:00:01Z"
    assert running["containers"][0]["networkBindings"] == [
        {"bindIP": "10.0.0.5", "containerPort": 80, "hostPort": 80, "protocol": "tcp"}]


def test_a_task_never_goes_back_when_a_stale_pod_is_read_after_a_newer_write():
    running = task_record(IDENTITY, pod(RUNNING), None, desired_status="RUNNING", now="t1")
    stale = pod({"waiting": {"reason": "ContainerCreating"}}, phase="Pending")
    assert task_record(IDENTITY, stale, running, desired_status="RUNNING", now="t2") == running


def test_essential_exit_and_a_gone_pod_end_in_stopped_with_the_exit_code():
    running = task_record(IDENTITY, pod(RUNNING), None, desired_status="RUNNING", now="t1")
    exited = pod({"terminated": {"exitCode": 137, "reason": "Error"}}, phase="Failed")
    stopped = task_record(IDENTITY, exited, running, desired_status="RUNNING", now="t2")
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert stopped["containers"][0]["exitCode"] == 137
    assert task_record(IDENTITY, None, stopped, desired_status="RUNNING", now="t3") == stopped  # frozen


def test_a_pod_gone_outside_the_operator_or_with_its_node():
    running = task_record(IDENTITY, pod(RUNNING), None, desired_status="RUNNING", now="t1")
    deleted = task_record(IDENTITY, None, running, desired_status="RUNNING", now="t2")
    assert deleted["stopCode"] == "TerminationNotice"
    lost = task_record(IDENTITY, None, running, desired_status="RUNNING", now="t2", node_gone=True)
    assert lost["stopCode"] == "InfrastructureHealth"
    stopped = task_record(IDENTITY, None, running, desired_status="STOPPED", now="t2", stop_reason="bye")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "bye")


def test_container_instance_remaining_resources():
    node = {"metadata": {"name": "n1", "uid": "1234-5678", "labels": {"topology.kubernetes.io/zone": "us-east-1a",
                                                                      "kubernetes.io/arch": "amd64"}},
            "spec": {}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}}
    task = pod(RUNNING)
    task["spec"]["containers"][0].update({"resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                                          "ports": [{"containerPort": 80, "hostPort": 8080}]})
    instance = container_instance(node, [pod_usage(task)], "c", False, "us-east-1", "000000000000")
    left = {r["name"]: r.get("integerValue", r.get("stringSetValue")) for r in instance["remainingResources"]}
    assert (left["CPU"], left["MEMORY"]) == (2048 - 512, 4096 - 256)
    assert "8080" in left["PORTS"] and "22" in left["PORTS"]
    assert instance["runningTasksCount"] == 1 and instance["status"] == "ACTIVE"
    assert {"name": "ecs.availability-zone", "value": "us-east-1a"} in instance["attributes"]
    assert {"name": "ecs.cpu-architecture", "value": "x86_64"} in instance["attributes"]


def test_a_container_that_failed_to_start_never_ran():
    """The kubelet reports startedAt 1970-01-01T00:00:00Z for a container that failed to start
    (kubernetes/kubernetes#120331): the task never ran, and a service's circuit breaker counts it."""
    from ecs_operator.ecs.status import container_states

    pod = {"spec": {"containers": [{"name": "web"}]}, "status": {"containerStatuses": [
        {"name": "web", "state": {"terminated": {"exitCode": 128, "reason": "StartError",
                                                  "startedAt": "1970-01-01T00:00:00Z",
                                                  "finishedAt": "2026-12-03T00:00:01Z"}}}]}}
    assert container_states(pod)["web"].started_at is None
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"] = "2026-12-03T00:00:00Z"
    assert container_states(pod)["web"].started_at == "2026-12-03T00:00:00Z"
