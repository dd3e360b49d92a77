"""The ECSTask reconciler's pure parts: caches keep what status needs; status derived from Pods."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from ecs_operator.controller import caches, kit, tasks
from ecs_operator.controller.revisions import ResolvedRevision
from ecs_operator.ecs.models import ClusterSpec, TaskSpec
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.status import pod_last_status, task_record
from ecs_operator.ecs.translate import ClusterRef, TaskRef, task_pod

UID = "6f1c3f4e-8a0e-4d55-9a8e-0c1d2e3f4a5b"
DEFINITION = parse_task_definition({"family": "web", "containerDefinitions": [
    {"name": "web_1", "image": "nginx", "memory": 64, "cpu": 128, "links": ["db"],
     "portMappings": [{"containerPort": 80, "hostPort": 8080}]},
    {"name": "db", "image": "mysql", "memory": 64, "essential": False,
     "healthCheck": {"command": ["CMD", "true"]}}]}).definition
RESOLVED = ResolvedRevision("web", 3, "web-r3", DEFINITION)
STAMP = "2026-11-25T12:00:00Z"


def spec(**fields: Any) -> TaskSpec:
    return TaskSpec.model_validate({"cluster": "main", "taskDefinition": "web", **fields})


def running_pod(ref: TaskRef, node: str = "n1") -> dict[str, Any]:
    """A whole Pod as the apiserver returns it, running, with fields the reconciler does not need."""
    pod = task_pod(DEFINITION, 3, spec(), ClusterRef("main", ClusterSpec()), ref, "us-east-1", "123456789012")
    pod["metadata"].update({"uid": "p-uid", "creationTimestamp": "2026-11-25T11:59:58Z", "resourceVersion": "7",
                            "managedFields": [{"manager": "x" * 500}],
                            "ownerReferences": [{"apiVersion": "ecs.compat.dev/v1alpha1", "kind": "ECSTask",
                                                 "name": ref.name, "uid": UID, "controller": True}]})
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{" + "x" * 1000 + "}"
    pod["spec"]["nodeName"] = node
    for container in pod["spec"]["containers"]:
        container["env"] = [{"name": f"E{i}", "value": "v" * 50} for i in range(20)]
    pod["status"] = {
        "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.5", "qosClass": "Burstable",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"],
                               "state": {"running": {"startedAt": "2026-11-25T11:59:59Z"}}}
                              for c in pod["spec"]["containers"]],
    }
    return pod


def test_a_trimmed_pod_derives_the_same_task_record_and_is_much_smaller() -> None:
    ref = TaskRef("t", "ns", UID, 0)
    whole = running_pod(ref)
    trimmed = caches.trim_pod(whole)
    ident = tasks.identity(ref, RESOLVED, spec())
    assert pod_last_status(trimmed) == pod_last_status(whole) == "RUNNING"
    assert task_record(ident, trimmed, None, desired_status="RUNNING", now=STAMP) == \
        task_record(ident, whole, None, desired_status="RUNNING", now=STAMP)
    assert len(repr(trimmed)) < len(repr(whole)) / 2


def test_a_pod_belongs_to_the_ecstask_that_owns_it() -> None:
    pod = running_pod(TaskRef("t", "ns", UID, 0))
    assert caches.owner_task(pod) == "t"
    pod["metadata"]["ownerReferences"][0]["kind"] = "ReplicaSet"
    assert caches.owner_task(pod) is None


def test_a_packed_task_is_text_and_loses_nothing_the_reconciler_reads() -> None:
    body = {"metadata": {"name": "t", "namespace": "ns", "uid": UID, "generation": 1, "resourceVersion": "9",
                         "creationTimestamp": STAMP, "labels": {"a": "b"}, "managedFields": [{}]},
            "spec": {"cluster": "main"}, "status": {"lastStatus": "RUNNING", "tasks": [{"lastStatus": "RUNNING"}]}}
    packed = caches.pack(caches.trim_task(body))
    assert isinstance(packed, str) and "managedFields" not in packed
    unpacked = json.loads(packed)
    assert unpacked["metadata"]["resourceVersion"] == "9" and unpacked["spec"] == {"cluster": "main"}
    assert unpacked["status"] == body["status"] and unpacked["metadata"]["labels"] == {"a": "b"}


def test_a_packed_pod_is_a_fraction_of_the_memory_of_the_trimmed_dicts() -> None:
    trimmed = caches.trim_pod(running_pod(TaskRef("t", "ns", UID, 0)))
    packed = caches.pack(trimmed)
    assert json.loads(packed) == trimmed
    assert sys.getsizeof(packed) * 3 < deep_size(trimmed)


def deep_size(obj: Any) -> int:
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(deep_size(k) + deep_size(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return sys.getsizeof(obj) + sum(deep_size(v) for v in obj)
    return sys.getsizeof(obj)


def derive(old: dict[str, Any], run: TaskSpec, pods: dict[str, dict[str, Any]], count: int = 1) -> dict[str, Any]:
    refs = [TaskRef("t", "ns", UID, i) for i in range(count)]
    return tasks.derive_status(old, run, [tasks.identity(r, RESOLVED, run) for r in refs], pods, {"n1": "node-uid"},
                               RESOLVED.reference(), 1, STAMP)


def test_status_of_running_tasks_records_the_revision_and_the_instance() -> None:
    pods = {f"t-{i}": caches.trim_pod(running_pod(TaskRef("t", "ns", UID, i))) for i in range(2)}
    status = derive({}, spec(count=2), pods, count=2)
    assert status["lastStatus"] == "RUNNING" and status["desiredStatus"] == "RUNNING"
    assert status["resolved"] == {"family": "web", "revision": 3, "configMap": "web-r3"}
    assert status["taskDefinitionArn"].endswith(":task-definition/web:3")
    assert [r["lastStatus"] for r in status["tasks"]] == ["RUNNING", "RUNNING"]
    assert all(r["containerInstanceArn"].endswith("/main/nodeuid") for r in status["tasks"])
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["message"] == "2/2 tasks RUNNING"
    assert derive(status, spec(count=2), pods, count=2) == status  # nothing new: nothing to write


def test_a_user_stop_is_recorded_before_the_pod_is_gone_and_completed_after() -> None:
    pod = caches.trim_pod(running_pod(TaskRef("t", "ns", UID, 0)))
    running = derive({}, spec(), {"t-0": pod})
    stop = spec(desiredStatus="STOPPED", stopReason="scaling in")
    stopping = derive(running, stop, {"t-0": pod})
    record = stopping["tasks"][0]
    assert record["stopCode"] == "UserInitiated" and record["stoppedReason"] == "scaling in"
    assert record["desiredStatus"] == "STOPPED" and record["lastStatus"] == "RUNNING"
    stopped = derive(stopping, stop, {})
    assert stopped["lastStatus"] == "STOPPED" and stopped["tasks"][0]["stoppedAt"] == STAMP
    assert stopped["tasks"][0]["stopCode"] == "UserInitiated"


def test_a_task_stopped_before_its_pod_was_created_is_stopped_not_provisioning() -> None:
    status = derive({}, spec(desiredStatus="STOPPED"), {})
    assert status["lastStatus"] == "STOPPED"
    assert status["tasks"][0]["stopCode"] == "UserInitiated"


def test_progress_short_of_running_waits_but_running_failures_and_stops_do_not() -> None:
    pod = caches.trim_pod(running_pod(TaskRef("t", "ns", UID, 0)))
    pending = copy.deepcopy(pod)
    pending["status"] = {"phase": "Pending"}
    unschedulable = copy.deepcopy(pending)
    unschedulable["spec"]["nodeName"] = None
    unschedulable["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                              "message": "0/1 nodes are available: 1 Insufficient cpu."}]
    assert tasks._only_on_the_way({}, derive({}, spec(), {"t-0": pending}))
    assert not tasks._only_on_the_way({}, derive({}, spec(), {"t-0": pod}))
    assert not tasks._only_on_the_way({}, derive({}, spec(), {"t-0": unschedulable}))
    assert not tasks._only_on_the_way({}, derive({}, spec(desiredStatus="STOPPED"), {}))


def test_a_run_whose_other_tasks_are_on_their_way_is_held_but_not_for_stuck_or_stopped_ones() -> None:
    refs = [TaskRef("t", "ns", UID, i) for i in range(2)]
    running = caches.trim_pod(running_pod(refs[0]))
    pending = copy.deepcopy(caches.trim_pod(running_pod(refs[1])))
    pending["status"] = {"phase": "Pending"}
    unschedulable = copy.deepcopy(pending)
    unschedulable["spec"]["nodeName"] = None
    unschedulable["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                              "message": "0/1 nodes are available: 1 Insufficient cpu."}]
    two = spec(count=2)
    assert tasks._some_on_the_way(derive({}, two, {"t-0": running, "t-1": pending}, count=2))
    assert not tasks._some_on_the_way(derive({}, two, {"t-0": running, "t-1": running}, count=2))
    assert not tasks._some_on_the_way(derive({}, two, {"t-0": running, "t-1": unschedulable}, count=2))
    assert not tasks._some_on_the_way(derive({}, spec(count=2, desiredStatus="STOPPED"), {}, count=2))


def test_a_status_writer_knows_its_own_writes_echo_once_and_nothing_newer() -> None:
    writer = kit.StatusWriter("ecstasks", "ecs.compat.dev/v1", "ECSTask", lambda answer: "{}", lambda *_: None)
    key = ("ns", "t")
    writer._written[key] = (41, "{}")  # as after a write answered with resourceVersion 41
    assert not writer.echoes(key, {"metadata": {"resourceVersion": "42"}})  # somebody else's change
    assert writer.echoes(key, {"metadata": {"resourceVersion": "41"}})
    assert not writer.echoes(key, {"metadata": {"resourceVersion": "41"}})  # once: the watch has caught up
    # a write still waiting for its answer when the watch already shows what it sent
    writer._sending[key] = {"lastStatus": "RUNNING"}
    assert not writer.echoes(key, {"metadata": {"resourceVersion": "43"}, "status": {"lastStatus": "PENDING"}})
    assert writer.echoes(key, {"metadata": {"resourceVersion": "44"}, "status": {"lastStatus": "RUNNING"}})
    assert writer._echoed[key] == 44  # so that its answer (version 44) is not kept as newer than the watch
