"""`kubectl ecs` verbs against the real control plane, with the aws CLI's output shapes checked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_operator.frontends import kubectl as plugin
from tests.helpers import wait_for

pytestmark = pytest.mark.controlplane

REPO = Path(__file__).resolve().parents[2]
MODEL = json.loads((REPO / "tests" / "data" / "ecs-output-shapes.json").read_text())
PRIMITIVES = {"String", "Integer", "Long", "Boolean", "BoxedInteger", "BoxedBoolean", "Double", "Timestamp",
              "TaskStopCode", "NetworkMode", "TaskDefinitionStatus", "TransportProtocol", "HealthStatus"}


def check_shape(value: Any, shape: str, path: str = "") -> None:
    """Every key we print is a member of the botocore shape it stands for."""
    members = MODEL["shapes"].get(shape)
    if members is None:  # a primitive or an enum
        assert not isinstance(value, (dict, list)), f"{path}: {shape} is a scalar, got {type(value).__name__}"
        return
    if "[]" in members:
        assert isinstance(value, list), f"{path}: {shape} is a list"
        for i, item in enumerate(value):
            check_shape(item, members["[]"], f"{path}[{i}]")
        return
    if "{}" in members:
        assert isinstance(value, dict)
        return
    assert isinstance(value, dict), f"{path}: {shape} is a structure"
    unknown = set(value) - set(members)
    assert not unknown, f"{path}: {sorted(unknown)} are not members of {shape}"
    for key, item in value.items():
        check_shape(item, members[key], f"{path}.{key}")


class Plugin:
    def __init__(self, kube: Any, namespace: str, capsys: Any):
        self.base = ["--kubeconfig", str(kube.kubeconfig), "--namespace", namespace]
        self.capsys = capsys

    def __call__(self, verb: str, *args: str, output: str = "json") -> tuple[int, Any, str]:
        self.capsys.readouterr()
        try:
            code = plugin.main([verb, *args, *self.base, "--output", output])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        if output == "json" and code == 0:
            return code, json.loads(out), err
        return code, out, err

    def ok(self, verb: str, *args: str, operation: str) -> dict[str, Any]:
        code, answer, err = self(verb, *args)
        assert code == 0, err
        check_shape(answer, MODEL["operations"][operation])
        return answer  # type: ignore[no-any-return]


@pytest.fixture
def ecs(kube, namespace, operator_process, capsys) -> Plugin:
    return Plugin(kube, namespace, capsys)


def test_every_verb_speaks_ecs(ecs, node_group, tmp_path):
    name = f"p{uuid.uuid4().hex[:8]}"
    node_group(cluster=name, count=2)
    cluster = ecs.ok("create-cluster", "--cluster-name", name, operation="CreateCluster")["cluster"]
    assert cluster["clusterName"] == name and cluster["status"] == "ACTIVE"
    assert cluster["clusterArn"].endswith(f":cluster/{name}")
    assert cluster["clusterArn"] in ecs.ok("list-clusters", operation="ListClusters")["clusterArns"]
    described = ecs.ok("describe-clusters", "--clusters", name, "nope", operation="DescribeClusters")
    assert [c["clusterName"] for c in described["clusters"]] == [name]
    assert described["failures"] == [{"arn": "nope", "reason": "MISSING"}]

    # register: the 2014 preview shape, then describe-task-definition output (with its wrapper)
    seed = tmp_path / "seed.json"
    seed.write_text((REPO / "examples" / "seed-three-tier.json").read_text())
    td = ecs.ok("register-task-definition", "--cli-input-json", f"file://{seed}",
                operation="RegisterTaskDefinition")["taskDefinition"]
    assert (td["family"], td["revision"], td["status"]) == ("application-name", 1, "ACTIVE")
    assert [c["name"] for c in td["containerDefinitions"]] == ["load-balancer", "web", "database"]
    described = ecs.ok("describe-task-definition", "--task-definition", "application-name:1",
                       operation="DescribeTaskDefinition")
    changed = described | {"taskDefinition": described["taskDefinition"] | {"cpu": "1024"}}
    (tmp_path / "described.json").write_text(json.dumps(changed))
    td2 = ecs.ok("register-task-definition", "--cli-input-json", f"file://{tmp_path / 'described.json'}",
                 operation="RegisterTaskDefinition")["taskDefinition"]
    assert td2["revision"] == 2 and td2["cpu"] == "1024"
    arns = ecs.ok("list-task-definitions", "--family-prefix", "application", operation="ListTaskDefinitions")
    assert [a.rsplit(":", 1)[-1] for a in arns["taskDefinitionArns"]] == ["1", "2"]

    # run, list, describe
    run = ecs.ok("run-task", "--cluster", name, "--task-definition", "application-name:1", "--started-by", "ci",
                 operation="RunTask")
    assert run["failures"] == [] and len(run["tasks"]) == 1
    task_arn = run["tasks"][0]["taskArn"]
    task = wait_for(lambda: (t := ecs.ok("describe-tasks", "--cluster", name, "--tasks", task_arn,
                                         operation="DescribeTasks")["tasks"][0])["lastStatus"] == "RUNNING" and t,
                    what="RUNNING via describe-tasks")
    assert task["startedBy"] == "ci" and task["taskDefinitionArn"].endswith("application-name:1")
    assert ecs.ok("list-tasks", "--cluster", name, operation="ListTasks")["taskArns"] == [task_arn]
    missing = ecs.ok("describe-tasks", "--cluster", name, "--tasks", "0" * 32, operation="DescribeTasks")
    assert missing["failures"] == [{"arn": "0" * 32, "reason": "MISSING"}]

    # container instances
    instance_arns = ecs.ok("list-container-instances", "--cluster", name,
                           operation="ListContainerInstances")["containerInstanceArns"]
    assert len(instance_arns) == 2
    def described_instances():
        found = ecs.ok("describe-container-instances", "--cluster", name, "--container-instances", *instance_arns,
                       operation="DescribeContainerInstances")["containerInstances"]
        return sum(i["runningTasksCount"] for i in found) == 1 and found

    instances = wait_for(described_instances, what="the running task counted on its instance")
    assert any("443" in next(r["stringSetValue"] for r in i["remainingResources"] if r["name"] == "PORTS")
               for i in instances)

    # stop
    stopped = ecs.ok("stop-task", "--cluster", name, "--task", task_arn, "--reason", "done", operation="StopTask")
    assert stopped["task"]["desiredStatus"] == "STOPPED"
    final = wait_for(lambda: (t := ecs.ok("describe-tasks", "--cluster", name, "--tasks", task_arn,
                                          operation="DescribeTasks")["tasks"][0])["lastStatus"] == "STOPPED" and t,
                     what="STOPPED via describe-tasks")
    assert (final["stopCode"], final["stoppedReason"]) == ("UserInitiated", "done")
    assert ecs.ok("list-tasks", "--cluster", name, "--desired-status", "STOPPED",
                  operation="ListTasks")["taskArns"] == [task_arn]

    # deregister, then run-task on it is refused in ECS's words
    gone = ecs.ok("deregister-task-definition", "--task-definition", "application-name:1",
                  operation="DeregisterTaskDefinition")["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    code, _, err = ecs("run-task", "--cluster", name, "--task-definition", "application-name:1")
    assert code == 254
    assert "An error occurred (ClientException) when calling the RunTask operation: TaskDefinition is inactive" in err

    # the other output formats
    code, table, _ = ecs("list-container-instances", "--cluster", name, output="table")
    assert code == 0 and table.splitlines()[0].strip() == "CONTAINERINSTANCEARNS" and len(table.splitlines()) == 3
    code, text, _ = ecs("describe-clusters", "--clusters", name, output="yaml")
    assert code == 0 and yaml.safe_load(text)["clusters"][0]["clusterName"] == name


def test_errors_are_ecs_errors_with_a_non_zero_exit(ecs):
    code, out, err = ecs("run-task", "--cluster", "missing", "--task-definition", "x")
    assert (code, out) == (254, "")
    assert "An error occurred (ClusterNotFoundException) when calling the RunTask operation: Cluster not found." in err
    code, _, err = ecs("describe-task-definition", "--task-definition", "nothing:3")
    assert code == 254 and "(ClientException)" in err and "Unable to describe task definition." in err
    code, _, err = ecs("register-task-definition", "--family", "bad", "--container-definitions",
                       '[{"name": "a", "image": "a"}]')
    assert code == 254 and "containerDefinitions[0].memory" in err
