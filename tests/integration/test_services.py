"""ECSServices on the real control plane: ECS's service scheduler as DescribeServices and
DescribeTasks would show it (replacement, rolling updates within their bounds, stalls, no
deployment for a desiredCount change). The operator runs with a 2 s healthy delay (ECS: 40 s)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from ecs_operator.ecs.labels import SERVICE_LABEL
from tests.helpers import wait_for
from tests.integration.test_reconcilers import Ecs

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}


class Services(Ecs):
    def service(self, name: str) -> dict[str, Any]:
        return self.get("ecsservices", name).get("status") or {}

    def tasks(self, name: str) -> list[dict[str, Any]]:
        """Every ECSTask the service has now, as (its name, its one task record, its spec)."""
        listed = self.custom.list_namespaced_custom_object("ecs.compat.dev", "v1alpha1", self.namespace, "ecstasks",
                                                           label_selector=f"{SERVICE_LABEL}={name}")["items"]
        return [{"name": o["metadata"]["name"], "spec": o["spec"],
                 **(((o.get("status") or {}).get("tasks") or [{}])[0])} for o in listed]

    def steady(self, name: str, desired: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            status = self.service(name)
            deployments = status.get("deployments") or []
            if (len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"
                    and status.get("runningCount") == desired and status.get("desiredCount") == desired):
                return status
            return None

        return wait_for(done, timeout=120, what=f"service {name} steady with {desired} tasks")


class Sampler(threading.Thread):
    """Counts a service's tasks every 0.2 s (alive: not STOPPED; running: RUNNING) and keeps the
    last record of each task seen, until stopped."""

    def __init__(self, ecs: Services, name: str) -> None:
        super().__init__(daemon=True)
        self.ecs, self.name = ecs, name
        self.samples: list[tuple[int, int]] = []
        self.seen: dict[str, dict[str, Any]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            last = self.done.is_set()  # one more sample after done: the latest state is seen too
            tasks = self.ecs.tasks(self.name)
            alive = [t for t in tasks if t.get("lastStatus") != "STOPPED"]
            self.samples.append((sum(t.get("lastStatus") == "RUNNING" and t.get("desiredStatus") == "RUNNING"
                                     for t in alive), len(alive)))
            for task in tasks:
                self.seen[task["name"]] = task
            if last:
                return
            time.sleep(0.2)


@pytest.fixture
def ecs(kube, namespace, operator_process) -> Services:
    return Services(kube, namespace)


def test_a_service_keeps_its_tasks_running_and_replaces_a_stopped_one(ecs, node_group):
    cluster = ecs.cluster(3, node_group)
    ecs.task_definition({"family": "web", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "web", {"cluster": cluster, "taskDefinition": "web", "desiredCount": 3})
    status = ecs.steady("web", 3)
    deployment = status["deployments"][0]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")
    assert len(deployment["id"]) == len("ecs-svc/") + 19
    assert status["taskDefinition"].endswith(":task-definition/web:1")
    assert status["serviceArn"].endswith(f":service/{cluster}/web")
    messages = [e["message"] for e in status["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert messages[1] == f"(service web) (deployment {deployment['id']}) deployment completed."
    assert any(m.startswith("(service web) has started 3 tasks: (task ") for m in messages)
    wait_for(lambda: ecs.get("ecsclusters", cluster).get("status", {}).get("activeServicesCount") == 1,
             what="the cluster counting its service")
    tasks = ecs.tasks("web")
    assert len(tasks) == 3 and len({t["nodeName"] for t in tasks}) == 3  # spread over the instances
    assert {(t["startedBy"], t["group"]) for t in tasks} == {(deployment["id"], "service:web")}

    victim = tasks[0]
    ecs.patch("ecstasks", victim["name"], {"spec": {"desiredStatus": "STOPPED", "stopReason": "chaos"}})
    replaced = wait_for(lambda: (live := [t for t in ecs.tasks("web") if t.get("lastStatus") == "RUNNING"
                                          and t["name"] != victim["name"]]) and len(live) == 3 and live,
                        timeout=60, what="a replacement task RUNNING")
    assert victim["taskArn"] not in {t["taskArn"] for t in replaced}
    stopped = ecs.get("ecstasks", victim["name"])["status"]["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"], stopped["stoppedReason"]) == ("STOPPED", "UserInitiated",
                                                                                     "chaos")
    status = ecs.steady("web", 3)
    assert len(status["deployments"]) == 1 and status["deployments"][0]["id"] == deployment["id"]
    assert any(e["message"].startswith("(service web) has started 1 tasks: (task ") for e in status["events"])


@pytest.mark.parametrize(("low", "high"), [(50, 200), (100, 200), (0, 100)])
def test_a_rolling_update_stays_within_its_bounds(ecs, node_group, low, high):
    cluster = ecs.cluster(4, node_group)
    ecs.task_definition({"family": "roll", "containerDefinitions": [CONTAINER]})
    name = f"roll-{low}-{high}"
    ecs.create("ecsservices", "ECSService", name, {
        "cluster": cluster, "taskDefinition": "roll:1", "desiredCount": 4,
        "deploymentConfiguration": {"minimumHealthyPercent": low, "maximumPercent": high}})
    first = ecs.steady(name, 4)["deployments"][0]["id"]
    ecs.patch("ecstaskdefinitions", "roll", {"spec": {"containerDefinitions": [{**CONTAINER, "cpu": 65}]}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", "roll").get("status", {}).get("latestRevision") == 2,
             what="revision 2")
    sampler = Sampler(ecs, name)
    sampler.start()
    try:
        ecs.patch("ecsservices", name, {"spec": {"taskDefinition": "roll:2"}})
        wait_for(lambda: ecs.service(name)["deployments"][0]["taskDefinition"].endswith("/roll:2"),
                 what="the new deployment")
        status = ecs.steady(name, 4)
    finally:
        sampler.done.set()
        sampler.join()
    second = status["deployments"][0]
    assert second["id"] != first and second["taskDefinition"].endswith(":task-definition/roll:2")
    assert second["rolloutState"] == "COMPLETED"
    floor, ceiling = -(-4 * low // 100), 4 * high // 100
    assert sampler.samples and all(running >= floor and alive <= ceiling for running, alive in sampler.samples), \
        sampler.samples
    old = [t for t in sampler.seen.values() if t.get("startedBy") == first]
    assert len(old) == 4 and all(t["spec"]["desiredStatus"] == "STOPPED" for t in old)
    stopped = [t for t in old if t.get("lastStatus") == "STOPPED"]
    assert stopped and {(t["stopCode"], t["stoppedReason"]) for t in stopped} == {
        ("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {second['id']})")}


def test_min_100_max_100_stalls_with_ecs_s_event(ecs, node_group):
    cluster = ecs.cluster(2, node_group)
    ecs.task_definition({"family": "stuck", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "stuck", {
        "cluster": cluster, "taskDefinition": "stuck:1", "desiredCount": 2,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 100}})
    ecs.steady("stuck", 2)
    ecs.patch("ecstaskdefinitions", "stuck", {"spec": {"containerDefinitions": [{**CONTAINER, "cpu": 65}]}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", "stuck").get("status", {}).get("latestRevision") == 2,
             what="revision 2")
    ecs.patch("ecsservices", "stuck", {"spec": {"taskDefinition": "stuck:2"}})
    stall = ("(service stuck) was unable to stop or start tasks during a deployment because of the service "
             "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
    status = wait_for(lambda: (s := ecs.service("stuck")) and stall in [e["message"] for e in s.get("events", [])]
                      and s, timeout=60, what="the stall event")
    assert [d["rolloutState"] for d in status["deployments"]] == ["IN_PROGRESS", "COMPLETED"]
    assert len([t for t in ecs.tasks("stuck") if t.get("lastStatus") == "RUNNING"]) == 2


def test_a_new_desired_count_with_the_same_task_definition_starts_no_deployment(ecs, node_group):
    cluster = ecs.cluster(2, node_group)
    ecs.task_definition({"family": "scale", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "scale", {"cluster": cluster, "taskDefinition": "scale",
                                                     "desiredCount": 1})
    first = ecs.steady("scale", 1)["deployments"][0]["id"]
    arn = ecs.service("scale")["taskDefinition"]
    # What `ecs scale` sends: the service's own task definition (here by family:revision) and a count.
    ecs.patch("ecsservices", "scale", {"spec": {"taskDefinition": "scale:1", "desiredCount": 3}})
    wait_for(lambda: ecs.service("scale")["desiredCount"] == 3, what="desiredCount 3 seen")
    status = ecs.steady("scale", 3)
    assert [d["id"] for d in status["deployments"]] == [first] and status["taskDefinition"] == arn
    assert len([t for t in ecs.tasks("scale") if t.get("lastStatus") == "RUNNING"]) == 3


def test_an_invalid_service_is_refused_at_admission_with_ecs_s_message(ecs, kubectl):
    name = f"d{uuid.uuid4().hex[:6]}"
    document = ("apiVersion: ecs.compat.dev/v1alpha1\nkind: ECSService\nmetadata:\n"
                f"  name: {name}\n  namespace: {ecs.namespace}\n"
                "spec:\n  taskDefinition: web\n  schedulingStrategy: DAEMON\n  desiredCount: 1\n")
    result = kubectl("apply", "-f", "-", input=document)
    assert result.returncode != 0
    assert ("The daemon scheduling strategy does not support a desired count for services. Remove the desired "
            "count value and try again") in result.stderr


def test_a_deleted_service_drains_then_stays_describable_as_inactive_then_goes(ecs, node_group):
    cluster = ecs.cluster(2, node_group)
    ecs.task_definition({"family": "gone", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "gone", {"cluster": cluster, "taskDefinition": "gone",
                                                    "desiredCount": 2})
    ecs.steady("gone", 2)
    # What DeleteService does (kubectl ecs delete-service --force, the endpoint's DeleteService).
    ecs.patch("ecsservices", "gone", {"metadata": {"annotations": {
        "ecs.compat.dev/delete-requested": "2026-12-03T00:00:00Z"}}})
    seen = set()

    def inactive() -> dict[str, Any] | None:
        status = ecs.service("gone")
        seen.add(status.get("status"))
        return status if status.get("status") == "INACTIVE" else None

    status = wait_for(inactive, timeout=60, what="the service INACTIVE")
    assert "DRAINING" in seen or status["runningCount"] == 0
    assert (status["desiredCount"], status["runningCount"]) == (0, 0)
    assert all(t.get("lastStatus") == "STOPPED" for t in ecs.tasks("gone"))
    wait_for(lambda: ecs.get("ecsclusters", cluster).get("status", {}).get("activeServicesCount") == 0,
             what="the cluster no longer counting it")

    def gone() -> bool:
        try:
            ecs.get("ecsservices", "gone")
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, timeout=60, what="the INACTIVE service's object gone after its retention")


def test_a_cluster_with_an_active_service_is_not_deleted_until_the_service_is(ecs, node_group):
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "held", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "held", {"cluster": cluster, "taskDefinition": "held",
                                                    "desiredCount": 0})
    wait_for(lambda: ecs.get("ecsclusters", cluster).get("status", {}).get("activeServicesCount") == 1,
             what="the cluster counting its service")
    ecs.custom.delete_namespaced_custom_object("ecs.compat.dev", "v1alpha1", ecs.namespace, "ecsclusters", cluster)

    def refused() -> bool:
        events = ecs.kube.core.list_namespaced_event(ecs.namespace, field_selector=(
            f"involvedObject.kind=ECSCluster,involvedObject.name={cluster}")).items
        return any(e.reason == "ClusterContainsServices" and "ClusterContainsServicesException" in e.message
                   for e in events)

    wait_for(refused, what="a ClusterContainsServices Event")
    assert ecs.get("ecsclusters", cluster)["metadata"].get("deletionTimestamp")
    ecs.patch("ecsservices", "held", {"metadata": {"annotations": {
        "ecs.compat.dev/delete-requested": "2026-12-03T00:00:00Z"}}})

    def cluster_gone() -> bool:
        try:
            ecs.get("ecsclusters", cluster)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(cluster_gone, timeout=90, what="the cluster deleted once its service is INACTIVE")


def test_the_example_manifests_run(ecs, node_group, kubectl):
    node_group(cluster="default", count=2)  # the seed task and the service's each take host port 443
    examples = Path(__file__).resolve().parents[2] / "examples" / "manifests"
    applied = kubectl("apply", "-n", ecs.namespace, "-f", str(examples / "seed.yaml"), "-f",
                      str(examples / "service.yaml"))
    assert applied.returncode == 0, applied.stderr
    status = ecs.steady("application", 1)
    assert status["taskDefinition"].endswith(":task-definition/application-name:1")


def test_a_task_on_a_draining_instance_is_replaced_elsewhere_within_the_bounds(ecs, node_group):
    cluster = ecs.cluster(3, node_group)
    ecs.task_definition({"family": "drain", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "drain", {"cluster": cluster, "taskDefinition": "drain",
                                                     "desiredCount": 2})  # min 100 / max 200
    ecs.steady("drain", 2)
    node = next(t["nodeName"] for t in ecs.tasks("drain") if t.get("lastStatus") == "RUNNING")
    sampler = Sampler(ecs, "drain")
    sampler.start()
    try:
        ecs.patch("ecsclusters", cluster, {"spec": {"drainingInstances": [node]}})
        wait_for(lambda: (live := [t for t in ecs.tasks("drain") if t.get("lastStatus") == "RUNNING"])
                 and len(live) == 2 and all(t["nodeName"] != node for t in live), timeout=90,
                 what="both tasks RUNNING off the draining instance")
        ecs.steady("drain", 2)
    finally:
        sampler.done.set()
        sampler.join()
    assert all(running >= 2 and alive <= 4 for running, alive in sampler.samples), sampler.samples
    moved = [t for t in sampler.seen.values() if t.get("nodeName") == node]
    assert moved and all(t.get("stopCode") in (None, "ServiceSchedulerInitiated") for t in moved)
