"""ECSServices when things go wrong, on the real control plane: tasks that fail on start (the dev
cluster's kwok facility, asked for by the task definition's dockerLabels) trip the circuit
breaker, with and without rollback; a DAEMON service follows its instances as they join and
drain; kill -9 of the operator during a rolling update neither breaks the bounds nor duplicates
a task. The shared operator runs with a 2 s healthy delay (ECS: 40 s) and a 1 s throttle base."""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from typing import Any

import pytest

from tests.helpers import start_operator, stop_operator, wait_for
from tests.integration.test_services import CONTAINER, Sampler, Services

pytestmark = pytest.mark.controlplane

FAIL_START = "fail-start.kwok.ecs-operator.dev/"
BREAKER_FAILED = "ECS deployment circuit breaker: tasks failed to start."


@pytest.fixture
def ecs(kube, namespace, operator_process) -> Services:
    return Services(kube, namespace)


class StatusSampler(threading.Thread):
    """Keeps every distinct state of a service's deployments seen, polling every 0.2 s until stopped."""

    def __init__(self, ecs: Services, name: str) -> None:
        super().__init__(daemon=True)
        self.ecs, self.name = ecs, name
        self.deployments: dict[tuple[str, str, str], dict[str, Any]] = {}  # (id, status, rolloutState) → record
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for record in self.ecs.service(self.name).get("deployments") or []:
                self.deployments[(record["id"], record["status"], record.get("rolloutState", ""))] = record
            time.sleep(0.2)

    def stop(self) -> None:
        self.done.set()
        self.join()


def failing(container: dict[str, Any], code: int = 1) -> dict[str, Any]:
    """The container as a task definition asks kwok to fail it on start."""
    return {**container, "dockerLabels": {f"{FAIL_START}{container['name']}": str(code)}}


def messages(status: dict[str, Any]) -> list[str]:
    return [e["message"] for e in status.get("events") or []]  # newest first


def two_revisions(ecs: Services, family: str) -> tuple[str, str]:
    """Revision 1 runs; revision 2's essential container fails on start. Their references."""
    ecs.task_definition({"family": family, "containerDefinitions": [CONTAINER]})
    ecs.patch("ecstaskdefinitions", family, {"spec": {"containerDefinitions": [failing(CONTAINER)]}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", family).get("status", {}).get("latestRevision") == 2,
             what=f"{family} revision 2")
    return f"{family}:1", f"{family}:2"


def breaker_service(ecs: Services, name: str, cluster: str, rollback: bool) -> dict[str, Any]:
    ecs.create("ecsservices", "ECSService", name, {
        "cluster": cluster, "taskDefinition": f"{name}:1", "desiredCount": 4,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": rollback}}})
    return ecs.steady(name, 4)


def test_the_facility_fails_a_task_on_start_never_running(ecs, node_group):
    """What the breaker counts: a task that goes to STOPPED without ever being RUNNING, no startedAt."""
    cluster = ecs.cluster(1, node_group)
    ecs.task_definition({"family": "nostart", "containerDefinitions": [
        failing(CONTAINER, 3), {**CONTAINER, "name": "side", "essential": False}]})
    statuses: list[str] = []

    def stopped() -> dict[str, Any] | None:
        record = ecs.task("nostart")
        statuses.append(record.get("lastStatus", ""))
        return record if record.get("lastStatus") == "STOPPED" else None

    ecs.run_task("nostart", cluster, "nostart")
    record = wait_for(stopped, timeout=60, interval=0.05, what="the task STOPPED")
    assert "RUNNING" not in statuses and set(statuses) <= {"", "PROVISIONING", "PENDING", "STOPPED"}, statuses
    assert "startedAt" not in record, record
    assert (record["stopCode"], record["stoppedReason"]) == ("EssentialContainerExited",
                                                             "Essential container in task exited")
    containers = ecs.containers(record)
    assert (containers["web"]["lastStatus"], containers["web"]["exitCode"]) == ("STOPPED", 3)
    assert containers["side"]["lastStatus"] == "STOPPED" and "exitCode" not in containers["side"]

    # Its sibling `exit.` label: the container runs first, then exits (a task that did start).
    ecs.task_definition({"family": "exits", "containerDefinitions": [
        {**CONTAINER, "dockerLabels": {"exit.kwok.ecs-operator.dev/web": "2"}}]})
    ecs.run_task("exits", cluster, "exits")
    record = ecs.wait_task("exits", "STOPPED")
    assert record.get("startedAt") and record["stopCode"] == "EssentialContainerExited", record
    assert ecs.containers(record)["web"]["exitCode"] == 2


def test_circuit_breaker_rolls_back_to_the_last_completed_deployment(ecs, node_group):
    cluster = ecs.cluster(4, node_group)
    _, bad = two_revisions(ecs, "brk")
    status = breaker_service(ecs, "brk", cluster, rollback=True)
    first, first_arn = status["deployments"][0]["id"], status["taskDefinition"]
    assert first_arn.endswith(":task-definition/brk:1")
    tasks, deployments = Sampler(ecs, "brk"), StatusSampler(ecs, "brk")
    tasks.start()
    deployments.start()
    try:
        ecs.patch("ecsservices", "brk", {"spec": {"taskDefinition": bad}})
        failed = wait_for(lambda: next((i for (i, _, _), r in list(deployments.deployments.items())
                                        if r["taskDefinition"].endswith("/brk:2")), None),
                          what="the deployment of revision 2")
        failure = f"(service brk) (deployment {failed}) deployment failed: tasks failed to start."
        rolling_back = f"(service brk) rolling back to deployment {first}."
        wait_for(lambda: failure in messages(ecs.service("brk")), timeout=120, what="the circuit breaker's event")
        wait_for(lambda: ecs.service("brk")["taskDefinition"] == first_arn, timeout=60,
                 what="the service back on revision 1")
        status = ecs.steady("brk", 4)
        time.sleep(1.0)  # the last task records, for the sampler
    finally:
        tasks.done.set()
        tasks.join()
        deployments.stop()

    events = messages(status)
    assert failure in events and rolling_back in events
    assert events.index(rolling_back) < events.index(failure)  # newest first: the rollback came after
    # The failed deployment: FAILED with ECS's reason once its failures reached the threshold (3),
    # listed ACTIVE beside the rollback deployment until the rollback is done (as ECS shows it).
    seen_failed = [r for (i, _, state), r in deployments.deployments.items() if i == failed and state == "FAILED"]
    assert seen_failed, f"deployment {failed} never listed as FAILED: {sorted(deployments.deployments)}"
    for record in seen_failed:
        assert record["rolloutStateReason"] == BREAKER_FAILED and record["failedTasks"] >= 3, record
        assert record["taskDefinition"].endswith(":task-definition/brk:2"), record
    bad_tasks = [t for t in tasks.seen.values() if t.get("startedBy") == failed]
    assert len(bad_tasks) >= 3 and not any(t.get("startedAt") for t in bad_tasks), bad_tasks  # none ever ran
    stopped_bad = [t for t in bad_tasks if t.get("lastStatus") == "STOPPED"]
    assert len(stopped_bad) >= 3 and all(ecs.containers(t)["web"].get("exitCode") == 1 for t in stopped_bad
                                         if t.get("stopCode") == "EssentialContainerExited")
    # The rollback: a new PRIMARY deployment of revision 1, which completed; revision 1 runs again.
    [rollback] = status["deployments"]
    assert rollback["id"] not in (first, failed) and rollback["taskDefinition"] == first_arn
    assert (rollback["status"], rollback["rolloutState"]) == ("PRIMARY", "COMPLETED")
    reasons = {r["rolloutStateReason"] for (i, _, _), r in deployments.deployments.items() if i == rollback["id"]}
    assert f"ECS deployment circuit breaker: rolling back to deploymentId {first}." in reasons, reasons
    assert status["taskDefinition"] == first_arn and status["runningCount"] == 4
    running = [t for t in ecs.tasks("brk") if t.get("lastStatus") == "RUNNING"]
    assert len(running) == 4 and {t["taskDefinitionArn"] for t in running} == {first_arn}
    assert events[0] == "(service brk) has reached a steady state."
    assert ecs.service("brk")["steady"] is True


def test_circuit_breaker_without_rollback_keeps_the_old_tasks_and_starts_no_more(ecs, node_group):
    cluster = ecs.cluster(4, node_group)
    _, bad = two_revisions(ecs, "nrb")
    status = breaker_service(ecs, "nrb", cluster, rollback=False)
    first, first_arn = status["deployments"][0]["id"], status["taskDefinition"]
    tasks = Sampler(ecs, "nrb")
    tasks.start()
    try:
        ecs.patch("ecsservices", "nrb", {"spec": {"taskDefinition": bad}})

        def failed_primary() -> dict[str, Any] | None:
            deployments = ecs.service("nrb").get("deployments") or []
            return deployments[0] if deployments and deployments[0].get("rolloutState") == "FAILED" else None

        primary = wait_for(failed_primary, timeout=120, what="the PRIMARY deployment FAILED")
        time.sleep(1.0)  # tasks already started when it failed go on to fail; the count settles

        def started() -> set[str]:
            return {name for name, t in list(tasks.seen.items()) if t.get("startedBy") == primary["id"]}

        after_failure = started()
        time.sleep(8.0)  # well past the throttle's delays (1 s base): a launch would have happened
        later = started()
    finally:
        tasks.done.set()
        tasks.join()
    assert later == after_failure, (sorted(after_failure), sorted(later))
    assert len(after_failure) >= 3
    status = ecs.service("nrb")
    deployments = status["deployments"]
    assert [(d["id"], d["status"], d["rolloutState"]) for d in deployments] == [
        (primary["id"], "PRIMARY", "FAILED"), (first, "ACTIVE", "COMPLETED")]
    assert deployments[0]["rolloutStateReason"] == BREAKER_FAILED and deployments[0]["failedTasks"] >= 3
    assert deployments[0]["taskDefinition"].endswith(":task-definition/nrb:2")
    assert f"(service nrb) (deployment {primary['id']}) deployment failed: tasks failed to start." in messages(status)
    assert not any("rolling back" in m for m in messages(status))
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "DeploymentFailed", BREAKER_FAILED)
    # The 4 old tasks keep running; nothing of revision 2 is alive.
    live = [t for t in ecs.tasks("nrb") if t.get("lastStatus") != "STOPPED"]
    assert len(live) == 4 and all(t.get("lastStatus") == "RUNNING" and t.get("startedBy") == first
                                  and t["taskDefinitionArn"] == first_arn for t in live), live
    assert deployments[1]["runningCount"] == 4 and status["runningCount"] == 4


def test_a_daemon_service_runs_one_task_per_instance_as_instances_join_and_drain(ecs, node_group):
    cluster = ecs.cluster(3, node_group)
    ecs.task_definition({"family": "agent", "containerDefinitions": [CONTAINER]})
    ecs.create("ecsservices", "ECSService", "agent", {"cluster": cluster, "taskDefinition": "agent",
                                                     "schedulingStrategy": "DAEMON"})

    def live() -> list[dict[str, Any]]:
        return [t for t in ecs.tasks("agent") if t.get("lastStatus") != "STOPPED"]

    def one_per_node(nodes: set[str]) -> list[dict[str, Any]] | None:
        tasks = live()
        placed = [t.get("nodeName") for t in tasks if t.get("lastStatus") == "RUNNING"]
        return tasks if len(tasks) == len(nodes) and sorted(placed) == sorted(nodes) else None

    nodes = {n.metadata.name for n in ecs.kube.core.list_node(label_selector=f"ecs.compat.dev/cluster={cluster}").items}
    assert len(nodes) == 3
    ecs.steady("agent", 3)
    wait_for(lambda: one_per_node(nodes), timeout=60, what="one task on each of the 3 instances")
    assert ecs.service("agent")["desiredCount"] == 3

    [joined] = node_group(cluster=cluster, count=1)  # same cluster label: a fourth container instance
    nodes.add(joined)
    ecs.steady("agent", 4)
    tasks = wait_for(lambda: one_per_node(nodes), timeout=60, what="one task on each of the 4 instances")
    assert ecs.service("agent")["desiredCount"] == 4

    drained = sorted(nodes - {joined})[0]
    victim = next(t for t in tasks if t["nodeName"] == drained)
    ecs.patch("ecsclusters", cluster, {"spec": {"drainingInstances": [drained]}})
    nodes.discard(drained)
    ecs.steady("agent", 3)
    wait_for(lambda: one_per_node(nodes), timeout=60, what="the drained instance's task gone, 3 left")
    # The service reads DRAINING from the cluster's spec at once; the cluster's status timer cordons the node.
    wait_for(lambda: ecs.kube.core.read_node(drained).spec.unschedulable, what="the drained node cordoned")
    status = ecs.service("agent")
    assert status["desiredCount"] == 3 and status["runningCount"] == 3
    stopped = wait_for(lambda: (t := ecs.task(victim["name"])).get("lastStatus") == "STOPPED" and t,
                       timeout=60, what="the drained instance's task STOPPED")
    assert stopped["stopCode"] == "ServiceSchedulerInitiated", stopped


def test_operator_killed_during_a_rolling_update_keeps_the_bounds_and_duplicates_no_task(kube, crds_installed,
                                                                                        node_group, tmp_path):
    namespace = f"svc-crash-{uuid.uuid4().hex[:8]}"  # not t-*: the shared operator does not watch it
    kube.core.create_namespace({"metadata": {"name": namespace}})
    ecs = Services(kube, namespace)
    env = {"ECS_SERVICE_HEALTHY_AFTER": "2"}
    log = (tmp_path / "operator.log").open("ab")
    try:
        operator = start_operator(kube.kubeconfig, log, "--namespace", namespace, "--log-level", "warning", **env)
        tasks = LiveNames(ecs, "crash")
        kills: list[float] = []
        during: list[list[tuple[bool, str]]] = []  # (new deployment?, rolloutState) at each kill
        try:
            cluster = ecs.cluster(3, node_group)
            ecs.task_definition({"family": "crash", "containerDefinitions": [CONTAINER]})
            ecs.create("ecsservices", "ECSService", "crash", {
                "cluster": cluster, "taskDefinition": "crash:1", "desiredCount": 6,
                "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}})
            first = ecs.steady("crash", 6)["deployments"][0]["id"]
            ecs.patch("ecstaskdefinitions", "crash", {"spec": {"containerDefinitions": [{**CONTAINER, "cpu": 65}]}})
            wait_for(lambda: ecs.get("ecstaskdefinitions", "crash").get("status", {}).get("latestRevision") == 2,
                     what="revision 2")
            tasks.start()
            ecs.patch("ecsservices", "crash", {"spec": {"taskDefinition": "crash:2"}})
            for _ in range(3):
                pause = random.uniform(0.5, 2.0)
                time.sleep(pause)
                kills.append(round(pause, 2))
                during.append([(d["id"] != first, d["rolloutState"]) for d in ecs.service("crash")["deployments"]])
                operator.send_signal(signal.SIGKILL)
                operator.wait()
                operator = start_operator(kube.kubeconfig, log, "--namespace", namespace, "--log-level", "warning",
                                          **env)
            wait_for(lambda: ecs.service("crash")["deployments"][0]["id"] != first, what="the new deployment")
            status = ecs.steady("crash", 6)
            time.sleep(1.0)  # the last records, for the sampler
        finally:
            tasks.done.set()
            if tasks.is_alive():
                tasks.join()
            stop_operator(operator)
        assert during[0] != [(True, "COMPLETED")], during  # the first kill came during the rollout
        new = status["deployments"][0]
        assert len(status["deployments"]) == 1 and new["rolloutState"] == "COMPLETED" and new["id"] != first
        assert new["taskDefinition"].endswith(":task-definition/crash:2")
        assert tasks.samples and all(running >= 3 and alive <= 12 for running, alive in tasks.samples), \
            (kills, during, tasks.samples)
        assert not tasks.duplicates, tasks.duplicates
        running = [t for t in ecs.tasks("crash") if t.get("lastStatus") == "RUNNING"]
        assert len(running) == 6 and {t["startedBy"] for t in running} == {new["id"]}
        assert all(t["taskDefinitionArn"] == new["taskDefinition"] for t in running)
        created = {name for name, t in tasks.seen.items() if t.get("startedBy") == new["id"]}
        assert len(created) == 6, (kills, sorted(created))  # no task created twice across the restarts
        arns = [t["taskArn"] for t in tasks.seen.values() if t.get("taskArn")]
        assert len(arns) == len(set(arns))
    finally:
        log.close()
        kube.core.delete_namespace(namespace)


class LiveNames(Sampler):
    """The Sampler, also remembering any sample in which two live tasks had the same name or task ARN."""

    def __init__(self, ecs: Services, name: str) -> None:
        super().__init__(ecs, name)
        self.duplicates: list[list[str]] = []

    def run(self) -> None:
        while not self.done.is_set():
            tasks = self.ecs.tasks(self.name)
            alive = [t for t in tasks if t.get("lastStatus") != "STOPPED"]
            self.samples.append((sum(t.get("lastStatus") == "RUNNING" and t.get("desiredStatus") == "RUNNING"
                                     for t in alive), len(alive)))
            for key in ("name", "taskArn"):
                values = [t[key] for t in alive if t.get(key)]
                if len(values) != len(set(values)):
                    self.duplicates.append(sorted(values))
            for task in tasks:
                self.seen[task["name"]] = task
            time.sleep(0.2)
