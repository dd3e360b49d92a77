"""`kubectl ecs` service verbs and waiters against the real control plane and operator, with the
aws CLI's output shapes checked: create → wait services-stable → describe → scale (no deployment)
→ a new revision (a deployment) → list, and ECS's errors. The operator runs with a 2 s healthy
delay; ECS_WAIT_DELAY shortens the waiters' 15 s and 6 s delays."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from ecs_operator.frontends import kubectl as plugin
from tests.helpers import wait_for
from tests.integration.test_plugin_verbs import Plugin

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}
SERVICE = "Web_Svc"  # not a Kubernetes name: the ECSService is web-svc, spec.serviceName keeps this


class Ecs(Plugin):
    def wait(self, waiter: str, *args: str) -> tuple[int, str]:
        """`kubectl ecs wait <waiter> ARGS`: (exit status, stderr); it prints nothing on stdout."""
        self.capsys.readouterr()
        try:
            code = plugin.main(["wait", waiter, *args, *self.base])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        assert out == ""
        return code, err

    def error(self, verb: str, *args: str) -> str:
        """The verb's ECS error line (it must fail with the aws CLI's 254)."""
        code, out, err = self(verb, *args)
        assert (code, out) == (254, ""), (code, out, err)
        return err.strip()

    def service(self, cluster: str, name: str = SERVICE) -> dict[str, Any]:
        answer = self.ok("describe-services", "--cluster", cluster, "--services", name, operation="DescribeServices")
        assert answer["failures"] == []
        return answer["services"][0]  # type: ignore[no-any-return]


@pytest.fixture
def ecs(kube, namespace, operator_process, capsys, monkeypatch) -> Ecs:
    monkeypatch.setenv("ECS_WAIT_DELAY", "2")
    return Ecs(kube, namespace, capsys)


def create_args(cluster: str, desired: int, name: str = SERVICE) -> list[str]:
    return ["--cluster", cluster, "--service-name", name, "--task-definition", "web", "--desired-count", str(desired),
            "--deployment-configuration", '{"minimumHealthyPercent": 50, "maximumPercent": 200}']


def failed(operation: str, code: str, message: str) -> str:
    return f"An error occurred ({code}) when calling the {operation} operation: {message}"


def test_a_service_through_its_life(ecs, node_group):
    cluster = f"s{uuid.uuid4().hex[:8]}"
    node_group(cluster=cluster, count=3)
    ecs.ok("create-cluster", "--cluster-name", cluster, operation="CreateCluster")
    ecs.ok("register-task-definition", "--family", "web", "--container-definitions", json.dumps([CONTAINER]),
           operation="RegisterTaskDefinition")

    # create: the answer comes with the operator's first deployment
    created = ecs.ok("create-service", *create_args(cluster, 2), operation="CreateService")["service"]
    assert (created["serviceName"], created["status"], created["desiredCount"]) == (SERVICE, "ACTIVE", 2)
    assert created["serviceArn"].endswith(f":service/{cluster}/{SERVICE}")
    assert created["clusterArn"].endswith(f":cluster/{cluster}")
    assert created["taskDefinition"].endswith(":task-definition/web:1")
    assert created["deploymentConfiguration"] == {"minimumHealthyPercent": 50, "maximumPercent": 200}
    assert (created["schedulingStrategy"], created["launchType"], created["deploymentController"]) == (
        "REPLICA", "EC2", {"type": "ECS"})
    (deployment,) = created["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")
    assert deployment["taskDefinition"] == created["taskDefinition"]
    again = ecs.ok("create-service", *create_args(cluster, 2), operation="CreateService")["service"]
    assert again["serviceArn"] == created["serviceArn"]  # the same request again: idempotent
    assert ecs.error("create-service", *create_args(cluster, 5)) == failed(
        "CreateService", "InvalidParameterException", "Creation of service was not idempotent.")

    assert ecs.wait("services-stable", "--cluster", cluster, "--services", SERVICE) == (0, "")
    service = wait_for(lambda: (s := ecs.service(cluster))["deployments"][0]["rolloutState"] == "COMPLETED" and s,
                       what="the deployment COMPLETED")
    assert [(d["id"], d["status"]) for d in service["deployments"]] == [(deployment["id"], "PRIMARY")]
    assert service["runningCount"] == service["desiredCount"] == 2 and service["pendingCount"] == 0
    assert service["events"][0]["message"] == f"(service {SERVICE}) has reached a steady state."
    code, table, _ = ecs("describe-services", "--cluster", cluster, "--services", SERVICE, output="table")
    assert code == 0 and table.splitlines()[1].split() == [SERVICE, "ACTIVE", "2", "2", "0", "web:1", "COMPLETED"]

    # scale: no new deployment
    scaled = ecs.ok("update-service", "--cluster", cluster, "--service", SERVICE, "--desired-count", "3",
                    operation="UpdateService")["service"]
    assert scaled["desiredCount"] == 3 and [d["id"] for d in scaled["deployments"]] == [deployment["id"]]
    assert ecs.wait("services-stable", "--cluster", cluster, "--services", SERVICE) == (0, "")
    assert ecs.service(cluster)["runningCount"] == 3

    # a new revision: a new PRIMARY deployment; the old one drains
    ecs.ok("register-task-definition", "--family", "web", "--container-definitions",
           json.dumps([{**CONTAINER, "cpu": 65}]), operation="RegisterTaskDefinition")
    updated = ecs.ok("update-service", "--cluster", cluster, "--service", SERVICE, "--task-definition", "web:2",
                     operation="UpdateService")["service"]
    primary = updated["deployments"][0]
    assert primary["id"] != deployment["id"] and primary["taskDefinition"].endswith(":task-definition/web:2")
    assert [(d["id"], d["status"]) for d in updated["deployments"][1:]] == [(deployment["id"], "ACTIVE")]
    assert updated["taskDefinition"] == primary["taskDefinition"]
    assert ecs.wait("services-stable", "--cluster", cluster, "--services", SERVICE) == (0, "")
    service = ecs.service(cluster)
    assert [d["id"] for d in service["deployments"]] == [primary["id"]] and service["runningCount"] == 3
    same = ecs.ok("update-service", "--cluster", cluster, "--service", SERVICE, "--task-definition", "web:2",
                  operation="UpdateService")["service"]  # the revision it runs: no deployment
    assert [d["id"] for d in same["deployments"]] == [primary["id"]]

    # its tasks
    arns = ecs.ok("list-tasks", "--cluster", cluster, "--service-name", SERVICE, operation="ListTasks")["taskArns"]
    assert len(arns) == 3
    tasks = ecs.ok("describe-tasks", "--cluster", cluster, "--tasks", *arns, operation="DescribeTasks")["tasks"]
    assert {(t["group"], t["startedBy"]) for t in tasks} == {(f"service:{SERVICE}", primary["id"])}
    assert all(t["taskDefinitionArn"].endswith(":task-definition/web:2") for t in tasks)
    assert ecs.wait("tasks-running", "--cluster", cluster, "--tasks", *arns) == (0, "")

    # list
    other = ecs.ok("create-service", *create_args(cluster, 0, "other"), operation="CreateService")["service"]
    listed = ecs.ok("list-services", "--cluster", cluster, operation="ListServices")["serviceArns"]
    assert sorted(listed) == sorted([created["serviceArn"], other["serviceArn"]])
    assert ecs.ok("list-services", "--cluster", cluster, "--scheduling-strategy", "DAEMON",
                  operation="ListServices")["serviceArns"] == []

    # delete: refused while scaled above 0, then DRAINING (the operator takes it on from there)
    assert ecs.error("delete-service", "--cluster", cluster, "--service", SERVICE) == failed(
        "DeleteService", "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
    deleted = ecs.ok("delete-service", "--cluster", cluster, "--service", SERVICE, "--force",
                     operation="DeleteService")["service"]
    assert (deleted["serviceArn"], deleted["status"], deleted["desiredCount"]) == (created["serviceArn"], "DRAINING",
                                                                                  0)
    assert ecs.service(cluster)["status"] in ("DRAINING", "INACTIVE")
    assert ecs.ok("list-services", "--cluster", cluster, operation="ListServices")["serviceArns"] == [
        other["serviceArn"]]
    assert ecs.error("update-service", "--cluster", cluster, "--service", SERVICE, "--desired-count", "1") == failed(
        "UpdateService", "ServiceNotActiveException", "Service was not ACTIVE.")
    code, err = ecs.wait("services-stable", "--cluster", cluster, "--services", SERVICE)
    assert code == 255 and err.strip().startswith(
        'Waiter ServicesStable failed: Waiter encountered a terminal failure state: For expression '
        '"services[].status" we matched expected path: ')
    gone = ecs.ok("delete-service", "--cluster", cluster, "--service", "other", operation="DeleteService")
    assert gone["service"]["status"] == "DRAINING"  # scaled to 0: no force needed


def test_service_errors_are_ecs_s(ecs, node_group):
    cluster = f"e{uuid.uuid4().hex[:8]}"
    node_group(cluster=cluster, count=1)
    ecs.ok("create-cluster", "--cluster-name", cluster, operation="CreateCluster")
    ecs.ok("register-task-definition", "--family", "web", "--container-definitions", json.dumps([CONTAINER]),
           operation="RegisterTaskDefinition")
    assert ecs.error("create-service", *create_args("missing", 1)) == failed(
        "CreateService", "ClusterNotFoundException", "Cluster not found.")
    assert ecs.error("create-service", "--cluster", cluster, "--service-name", "x", "--task-definition", "nothing",
                     "--desired-count", "1") == failed("CreateService", "ClientException", "TaskDefinition not found.")
    err = ecs.error("create-service", "--cluster", cluster, "--service-name", "d", "--task-definition", "web",
                    "--scheduling-strategy", "DAEMON", "--desired-count", "1")
    assert err == failed("CreateService", "InvalidParameterException",
                         "desiredCount: The daemon scheduling strategy does not support a desired count for "
                         "services. Remove the desired count value and try again")
    assert ecs.error("update-service", "--cluster", cluster, "--service", "nope", "--desired-count", "1") == failed(
        "UpdateService", "ServiceNotFoundException", "Service not found.")
    assert ecs.error("list-tasks", "--cluster", cluster, "--service-name", "nope") == failed(
        "ListTasks", "ServiceNotFoundException", "Service not found.")
    assert ecs.error("delete-service", "--cluster", cluster, "--service", "nope") == failed(
        "DeleteService", "ServiceNotFoundException", "Service not found.")

    ecs.ok("create-service", *create_args(cluster, 1, "one"), operation="CreateService")
    assert ecs.error("update-service", "--cluster", cluster, "--service", "one", "--task-definition",
                     "nothing:9") == failed("UpdateService", "ClientException", "Unable to describe task definition.")
    described = ecs.ok("describe-services", "--cluster", cluster, "--services", "nope", "one",
                       operation="DescribeServices")
    assert described["failures"] == [{"arn": "nope", "reason": "MISSING"}]
    assert [s["serviceName"] for s in described["services"]] == ["one"]
    assert ecs.error("describe-services", "--cluster", cluster, "--services", *[f"s{i}" for i in range(11)]) == \
        failed("DescribeServices", "InvalidParameterException", "service names can have at most 10 items.")
    code, err = ecs.wait("services-stable", "--cluster", cluster, "--services", "one", "nope")
    assert (code, err.strip()) == (255, 'Waiter ServicesStable failed: Waiter encountered a terminal failure state: '
                                        'For expression "failures[].reason" we matched expected path: "MISSING" at '
                                        'least once')
    code, err = ecs.wait("services-stable", "--cluster", "missing", "--services", "one")
    assert (code, err.strip()) == (255, "Waiter ServicesStable failed: An error occurred (ClusterNotFoundException): "
                                        "Cluster not found.")
