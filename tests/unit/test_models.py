"""Every validation rule of an ECS task definition (and of run-task), one table row each.

Each row is a minimal invalid input and the part of the user-facing message that must appear:
the field path as the user wrote it, and what is wrong with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ecs_operator.ecs.errors import InvalidInput, describe_validation_error
from ecs_operator.ecs.models import TaskSpec
from ecs_operator.ecs.normalize import parse_task_definition


def c(name: str = "web", **fields: Any) -> dict[str, Any]:
    """A valid container definition, changed by `fields`."""
    return {"name": name, "image": "nginx:1.27", "memory": 128, **fields}


def td(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid task definition with `containers` (default: one), changed by `fields`."""
    return {"family": "web", "containerDefinitions": list(containers) or [c()], **fields}


def problems_of(document: Any) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_task_definition(document)
    problems = caught.value.problems
    assert problems, "InvalidInput without a message"
    return problems


def hc(**fields: Any) -> dict[str, Any]:
    return {"command": ["CMD", "true"], **fields}


INVALID: list[tuple[str, Any, str]] = [
    # --- container names
    ("name-unique", td(c("web"), c("web")), "containerDefinitions[1].name: container name 'web' is used twice"),
    ("name-ecs-pattern", td(c("web.1")), "containerDefinitions[0].name: String should match pattern"),
    ("name-empty", td(c("")), "containerDefinitions[0].name: Container.name should not be null or empty."),
    ("name-kube-leading-underscore", td(c("_web")),
     "containerDefinitions[0].name: '_web' cannot be a Kubernetes container name"),
    ("name-kube-trailing-dash", td(c("web-")),
     "containerDefinitions[0].name: 'web-' cannot be a Kubernetes container name"),
    ("name-kube-too-long", td(c("a" * 64)),
     f"containerDefinitions[0].name: {'a' * 64!r} cannot be a Kubernetes container name (at most 63"),
    ("name-kube-collision-case", td(c("web"), c("Web")),
     "containerDefinitions[1].name: 'Web' and 'web' both become Kubernetes container 'web'"),
    ("name-kube-collision-underscore", td(c("web-1"), c("web_1")),
     "containerDefinitions[1].name: 'web_1' and 'web-1' both become Kubernetes container 'web-1'"),
    ("image-required", td({"name": "web", "memory": 128}),
     "containerDefinitions[0].image: Container.image should not be null or empty."),
    ("image-empty", td(c(image="")), "containerDefinitions[0].image: Container.image should not be null or empty."),
    # --- essential
    ("essential-none", td(c(essential=False)), "containerDefinitions: at least one container must be essential"),
    ("essential-none-of-two", td(c("a", essential=False), c("b", essential=False)),
     "containerDefinitions: at least one container must be essential"),
    # --- memory
    ("memory-below-reservation", td(c(memory=128, memoryReservation=256)),
     "containerDefinitions[0].memoryReservation: must not exceed memory (256 > 128)"),
    ("memory-required", td(c("a"), {"name": "b", "image": "busybox"}),
     "containerDefinitions[1].memory: set memory or memoryReservation (the task sets no memory)"),
    ("memory-min", td(c(memory=4)), "containerDefinitions[0].memory: Input should be greater than or equal to 6"),
    ("memory-reservation-min", td(c(memory=None, memoryReservation=5)),
     "containerDefinitions[0].memoryReservation: Input should be greater than or equal to 6"),
    # --- cpu units
    ("cpu-negative", td(c(cpu=-1)), "containerDefinitions[0].cpu: Input should be greater than or equal to 0"),
    ("cpu-above-kernel-max", td(c(cpu=262145)),
     "containerDefinitions[0].cpu: Input should be less than or equal to 262144"),
    # --- ports
    ("containerPort-zero", td(c(portMappings=[{"containerPort": 0}])),
     "containerDefinitions[0].portMappings[0].containerPort: Input should be greater than or equal to 1"),
    ("containerPort-too-big", td(c(portMappings=[{"containerPort": 65536}])),
     "containerDefinitions[0].portMappings[0].containerPort: Input should be less than or equal to 65535"),
    ("containerPort-required", td(c(portMappings=[{"hostPort": 80}])),
     "containerDefinitions[0].portMappings[0].containerPort: Field required"),
    ("hostPort-negative", td(c(portMappings=[{"containerPort": 80, "hostPort": -1}])),
     "containerDefinitions[0].portMappings[0].hostPort: Input should be greater than or equal to 0"),
    ("hostPort-too-big", td(c(portMappings=[{"containerPort": 80, "hostPort": 65536}])),
     "containerDefinitions[0].portMappings[0].hostPort: Input should be less than or equal to 65535"),
    ("protocol-uppercase", td(c(portMappings=[{"containerPort": 80, "protocol": "TCP"}])),
     "containerDefinitions[0].portMappings[0].protocol: Input should be 'tcp' or 'udp'"),
    ("protocol-sctp", td(c(portMappings=[{"containerPort": 80, "protocol": "sctp"}])),
     "containerDefinitions[0].portMappings[0].protocol: Input should be 'tcp' or 'udp'"),
    ("hostPort-twice-across-containers",
     td(c("a", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
        c("b", portMappings=[{"containerPort": 81, "hostPort": 8080}])),
     "containerDefinitions[1].portMappings[0].hostPort: 8080/tcp is already used by containerDefinitions[0] (a)"),
    ("hostPort-twice-in-one-container",
     td(c(portMappings=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}])),
     "containerDefinitions[0].portMappings[1].hostPort: 8080/tcp is already used by containerDefinitions[0] (web)"),
    ("hostPort-twice-udp",
     td(c("a", portMappings=[{"containerPort": 53, "hostPort": 53, "protocol": "udp"}]),
        c("b", portMappings=[{"containerPort": 54, "hostPort": 53, "protocol": "udp"}])),
     "containerDefinitions[1].portMappings[0].hostPort: 53/udp is already used"),
    ("host-mode-hostPort-differs", td(c(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="host"),
     "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (80) in host network mode"),
    ("awsvpc-mode-hostPort-differs",
     td(c(portMappings=[{"containerPort": 80, "hostPort": 8080}]), networkMode="awsvpc"),
     "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (80) in awsvpc network mode"),
    ("none-mode-portMappings", td(c(portMappings=[{"containerPort": 80}]), networkMode="none"),
     "containerDefinitions[0].portMappings[0]: port mappings are not allowed in network mode none"),
    ("containerPort-shared-namespace",
     td(c("a", portMappings=[{"containerPort": 80}]), c("b", portMappings=[{"containerPort": 80}])),
     "containerDefinitions[1].portMappings[0].containerPort: 80/tcp is also used by container 'a'"),
    ("containerPort-shared-namespace-awsvpc",
     td(c("a", portMappings=[{"containerPort": 80}]), c("b", portMappings=[{"containerPort": 80}]),
        networkMode="awsvpc"),
     "containerDefinitions[1].portMappings[0].containerPort: 80/tcp is also used by container 'a'"),
    ("networkMode-unknown", td(networkMode="nat"),
     "networkMode: Input should be 'bridge', 'host', 'awsvpc' or 'none'"),
    # --- links
    ("links-awsvpc", td(c("a", links=["b"]), c("b"), networkMode="awsvpc"),
     "containerDefinitions[0].links[0]: links are only allowed in bridge network mode (networkMode is awsvpc)"),
    ("links-host", td(c("a", links=["b"]), c("b"), networkMode="host"),
     "containerDefinitions[0].links[0]: links are only allowed in bridge network mode (networkMode is host)"),
    ("links-unknown-container", td(c("a", links=["db"])),
     "containerDefinitions[0].links[0]: no container named 'db' in this task definition"),
    ("links-self", td(c("a", links=["a"])), "containerDefinitions[0].links[0]: a container cannot link to itself"),
    ("links-cycle", td(c("a", links=["b"]), c("b", links=["a"])), "links: containers link in a cycle (a -> b -> a)"),
    ("links-cycle-three", td(c("a", links=["b"]), c("b", links=["c"]), c("c", links=["a"])),
     "links: containers link in a cycle (a -> b -> c -> a)"),
    ("links-alias-underscore", td(c("a", links=["b:my_db"]), c("b")),
     "containerDefinitions[0].links[0]: alias 'my_db' cannot resolve on Kubernetes"),
    ("links-alias-trailing-dash", td(c("a", links=["b:db-"]), c("b")),
     "containerDefinitions[0].links[0]: alias 'db-' cannot resolve on Kubernetes"),
    ("links-name-not-dns", td(c("a", links=["my_db"]), c("my_db")),
     "containerDefinitions[0].links[0]: alias 'my_db' cannot resolve on Kubernetes"),
    ("links-format", td(c("a", links=["b:c:d"]), c("b")), "containerDefinitions[0].links[0]: String should match"),
    # --- dependsOn
    ("dependsOn-unknown", td(c("a", dependsOn=[{"containerName": "db", "condition": "START"}])),
     "containerDefinitions[0].dependsOn[0].containerName: no container named 'db'"),
    ("dependsOn-self", td(c("a", dependsOn=[{"containerName": "a", "condition": "START"}])),
     "containerDefinitions[0].dependsOn[0].containerName: a container cannot depend on itself"),
    ("dependsOn-cycle",
     td(c("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
        c("b", dependsOn=[{"containerName": "a", "condition": "START"}])),
     "dependsOn: containers depend on each other in a cycle (a -> b -> a)"),
    ("dependsOn-complete-on-essential",
     td(c("app", dependsOn=[{"containerName": "migrate", "condition": "COMPLETE"}]), c("migrate")),
     "containerDefinitions[0].dependsOn[0].condition: COMPLETE cannot be used on essential container 'migrate'"),
    ("dependsOn-success-on-essential",
     td(c("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]), c("migrate", essential=True)),
     "containerDefinitions[0].dependsOn[0].condition: SUCCESS cannot be used on essential container 'migrate'"),
    ("dependsOn-healthy-without-healthCheck",
     td(c("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), c("db")),
     "containerDefinitions[0].dependsOn[0].condition: HEALTHY needs a healthCheck on 'db'"),
    ("dependsOn-condition-unknown", td(c("a"), c("b", dependsOn=[{"containerName": "a", "condition": "READY"}])),
     "containerDefinitions[1].dependsOn[0].condition: Input should be 'START', 'COMPLETE', 'SUCCESS' or 'HEALTHY'"),
    ("dependsOn-condition-required", td(c("a"), c("b", dependsOn=[{"containerName": "a"}])),
     "containerDefinitions[1].dependsOn[0].condition: Field required"),
    # --- healthCheck
    ("healthCheck-prefix", td(c(healthCheck={"command": ["curl", "-f", "http://localhost/"]})),
     "containerDefinitions[0].healthCheck: command must start with CMD or CMD-SHELL"),
    ("healthCheck-prefix-lowercase", td(c(healthCheck={"command": ["cmd-shell", "true"]})),
     "containerDefinitions[0].healthCheck: command must start with CMD or CMD-SHELL"),
    ("healthCheck-command-alone", td(c(healthCheck={"command": ["CMD-SHELL"]})),
     "containerDefinitions[0].healthCheck.command: List should have at least 2 items"),
    ("healthCheck-command-required", td(c(healthCheck={"interval": 30})),
     "containerDefinitions[0].healthCheck.command: Field required"),
    ("healthCheck-interval-min", td(c(healthCheck=hc(interval=4))),
     "containerDefinitions[0].healthCheck.interval: Input should be greater than or equal to 5"),
    ("healthCheck-interval-max", td(c(healthCheck=hc(interval=301))),
     "containerDefinitions[0].healthCheck.interval: Input should be less than or equal to 300"),
    ("healthCheck-timeout-min", td(c(healthCheck=hc(timeout=1))),
     "containerDefinitions[0].healthCheck.timeout: Input should be greater than or equal to 2"),
    ("healthCheck-timeout-max", td(c(healthCheck=hc(timeout=61))),
     "containerDefinitions[0].healthCheck.timeout: Input should be less than or equal to 60"),
    ("healthCheck-retries-min", td(c(healthCheck=hc(retries=0))),
     "containerDefinitions[0].healthCheck.retries: Input should be greater than or equal to 1"),
    ("healthCheck-retries-max", td(c(healthCheck=hc(retries=11))),
     "containerDefinitions[0].healthCheck.retries: Input should be less than or equal to 10"),
    ("healthCheck-startPeriod-min", td(c(healthCheck=hc(startPeriod=-1))),
     "containerDefinitions[0].healthCheck.startPeriod: Input should be greater than or equal to 0"),
    ("healthCheck-startPeriod-max", td(c(healthCheck=hc(startPeriod=301))),
     "containerDefinitions[0].healthCheck.startPeriod: Input should be less than or equal to 300"),
    # --- volumes, mountPoints, volumesFrom
    ("mountPoints-unknown-volume", td(c(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}])),
     "containerDefinitions[0].mountPoints[0].sourceVolume: no volume named 'data'"),
    ("mountPoints-relative-path",
     td(c(mountPoints=[{"sourceVolume": "data", "containerPath": "data"}]), volumes=[{"name": "data"}]),
     "containerDefinitions[0].mountPoints[0].containerPath: String should match pattern"),
    ("mountPoints-same-path-twice",
     td(c(mountPoints=[{"sourceVolume": "a", "containerPath": "/data"},
                       {"sourceVolume": "b", "containerPath": "/data"}]),
        volumes=[{"name": "a"}, {"name": "b"}]),
     "containerDefinitions[0].mountPoints[1].containerPath: /data is mounted twice"),
    ("volumesFrom-unknown-container", td(c(volumesFrom=[{"sourceContainer": "data"}])),
     "containerDefinitions[0].volumesFrom[0].sourceContainer: no container named 'data'"),
    ("volumesFrom-self", td(c(volumesFrom=[{"sourceContainer": "web"}])),
     "containerDefinitions[0].volumesFrom[0].sourceContainer: a container cannot mount its own volumes"),
    ("volume-name-pattern", td(volumes=[{"name": "my data"}]), "volumes[0].name: String should match pattern"),
    # --- user
    ("user-name", td(c(user="nginx")),
     "containerDefinitions[0].user: 'nginx' must be a numeric uid or uid:gid on Kubernetes"),
    ("user-group-name", td(c(user="1000:staff")),
     "containerDefinitions[0].user: '1000:staff' must be a numeric uid or uid:gid on Kubernetes"),
    # --- stopTimeout, environment
    ("stopTimeout-negative", td(c(stopTimeout=-1)),
     "containerDefinitions[0].stopTimeout: Input should be greater than or equal to 0"),
    ("stopTimeout-max", td(c(stopTimeout=121)),
     "containerDefinitions[0].stopTimeout: Input should be less than or equal to 120"),
    ("environment-name-empty", td(c(environment=[{"name": "", "value": "x"}])),
     "containerDefinitions[0].environment[0].name: String should have at least 1 character"),
    # --- ulimits (the CRD refuses this with a CEL rule; the offline path must agree)
    ("ulimit-soft-above-hard", td(c(ulimits=[{"name": "nofile", "softLimit": 2048, "hardLimit": 1024}])),
     "containerDefinitions[0].ulimits[0]"),
    ("ulimit-name-unknown", td(c(ulimits=[{"name": "files", "softLimit": 1, "hardLimit": 1}])),
     "containerDefinitions[0].ulimits[0].name: Input should be"),
    # --- task cpu and memory
    ("task-cpu-format", td(cpu="fast"), "cpu: cpu 'fast' must be CPU units (\"1024\") or vCPUs (\"1 vCPU\")"),
    ("task-cpu-unit", td(cpu="2 GHz"), "cpu: cpu '2 GHz' must be CPU units"),
    ("task-cpu-below-min", td(cpu="64"), "cpu: '64' is 64 units; a task's cpu must be 128-196608 units"),
    ("task-cpu-above-max", td(cpu="200 vCPU"), "cpu: '200 vCPU' is 204800 units; a task's cpu must be 128-196608"),
    ("task-cpu-sum", td(c("a", cpu=768), c("b", cpu=512), cpu="1 vCPU"),
     "cpu: the containers' cpu (1280 units) exceeds the task's (1024)"),
    ("task-memory-format", td(memory="2 TB"), "memory: memory '2 TB' must be MiB (\"2048\") or GB (\"2 GB\")"),
    ("task-memory-below-min", td(memory="4"), "memory: '4' is below the 6 MiB minimum"),
    ("task-memory-sum", td(c("a", memory=2048), c("b", memory=1024), memory="2 GB"),
     "memory: the containers reserve 3072 MiB, more than the task's 2048 MiB"),
    ("task-memory-sum-reservation", td(c("a", memory=4096, memoryReservation=1536), c("b", memory=1024),
                                       memory="2GB"),
     "memory: the containers reserve 2560 MiB, more than the task's 2048 MiB"),
    # --- task-level shape
    ("family-required", {"containerDefinitions": [c()]}, 'family: Missing required parameter in input: "family"'),
    ("family-pattern", td(family="my app"), "family: String should match pattern"),
    ("containerDefinitions-required", {"family": "web"},
     'containerDefinitions: Missing required parameter in input: "containerDefinitions"'),
    ("containerDefinitions-empty", {"family": "web", "containerDefinitions": []},
     "containerDefinitions: List should have at least 1 item"),
    ("containerDefinitions-more-than-10", td(*[c(f"c{i}") for i in range(11)]),
     "containerDefinitions: List should have at most 10 items"),
    ("placementConstraint-type", td(placementConstraints=[{"type": "distinctInstance", "expression": "x"}]),
     "placementConstraints[0].type: Input should be 'memberOf'"),
    ("placementConstraint-expression-required", td(placementConstraints=[{"type": "memberOf"}]),
     "placementConstraints[0].expression: Field required"),
    ("requiresCompatibilities-unknown", td(requiresCompatibilities=["LAMBDA"]),
     "requiresCompatibilities[0]: Input should be"),
    ("pidMode-unknown", td(pidMode="container"), "pidMode: Input should be 'host' or 'task'"),
    # --- unknown fields are refused, by their path (a typo never vanishes)
    ("unknown-task-field", td(memoryLimit="512"), "memoryLimit: unknown field (not part of the ECS API)"),
    ("unknown-container-field", td(c(memoryReservaton=64)),
     "containerDefinitions[0].memoryReservaton: unknown field (not part of the ECS API)"),
    ("unknown-port-field", td(c(portMappings=[{"containerPort": 80, "hostIp": "0.0.0.0"}])),
     "containerDefinitions[0].portMappings[0].hostIp: unknown field (not part of the ECS API)"),
    ("unknown-healthCheck-field", td(c(healthCheck=hc(period=10))),
     "containerDefinitions[0].healthCheck.period: unknown field (not part of the ECS API)"),
    ("unknown-volume-field", td(volumes=[{"name": "data", "efsVolumeConfig": {}}]),
     "volumes[0].efsVolumeConfig: unknown field (not part of the ECS API)"),
    # --- input shapes (normalize)
    ("input-not-object", ["family", "web"], "(input): a task definition must be a JSON object"),
    ("preview-and-current-shape", {"family": "web", "containers": [c()], "containerDefinitions": [c()]},
     "containers: give containerDefinitions or the 2014 preview's containers, not both"),
    ("preview-version-too-long", {"family": "web", "version": "v" * 256, "containers": [c()]},
     "version: must be a string of at most 255 characters"),
    ("describe-output-invalid", {"taskDefinition": {**td(c(cpu=-5)), "revision": 3, "status": "ACTIVE"}},
     "containerDefinitions[0].cpu: Input should be greater than or equal to 0"),
    ("preview-shape-invalid", {"family": "web", "version": "1", "containers": [c(), c()]},
     "containerDefinitions[1].name: container name 'web' is used twice"),
]


@pytest.mark.parametrize(("document", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_task_definition_is_refused_naming_the_field(document: Any, expected: str) -> None:
    problems = problems_of(document)
    assert any(expected in problem for problem in problems), problems


VALID: list[tuple[str, Any]] = [
    ("minimal", td()),
    ("memory-equal-to-reservation", td(c(memory=256, memoryReservation=256))),
    ("memoryReservation-only", td(c(memory=None, memoryReservation=64))),
    ("task-memory-instead-of-container-memory", td({"name": "web", "image": "nginx"}, memory="512")),
    ("cpu-bounds", td(c("a", cpu=0), c("b", cpu=262144))),
    ("task-cpu-and-memory-strings", td(c("a", cpu=512, memory=1024), c("b", cpu=512, memory=1024),
                                       cpu="1 vCPU", memory="2 GB")),
    ("task-cpu-units", td(c(cpu=128), cpu="256", memory="512")),
    ("task-cpu-fraction-of-vcpu", td(cpu="0.25 vCPU", memory="0.5GB")),
    ("task-cpu-max", td(cpu="196608")),
    ("port-bounds", td(c(portMappings=[{"containerPort": 1, "hostPort": 65535}, {"containerPort": 65535}]))),
    ("same-hostPort-tcp-and-udp", td(c(portMappings=[{"containerPort": 53, "hostPort": 53},
                                                     {"containerPort": 53, "hostPort": 53, "protocol": "udp"}]))),
    ("dynamic-hostPorts-in-two-containers",
     td(c("a", portMappings=[{"containerPort": 80, "hostPort": 0}]), c("b", portMappings=[{"containerPort": 81}]))),
    ("host-mode-hostPort-equal", td(c(portMappings=[{"containerPort": 80, "hostPort": 80}]), networkMode="host")),
    ("awsvpc-mode-hostPort-omitted", td(c(portMappings=[{"containerPort": 80}]), networkMode="awsvpc")),
    ("links-with-alias", td(c("web", links=["db:database"]), c("db"))),
    ("dependsOn-all-conditions",
     td(c("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"},
                            {"containerName": "seed", "condition": "COMPLETE"},
                            {"containerName": "db", "condition": "HEALTHY"},
                            {"containerName": "log", "condition": "START"}]),
        c("migrate", essential=False), c("seed", essential=False),
        c("db", healthCheck={"command": ["CMD-SHELL", "pg_isready"]}), c("log"))),
    ("healthCheck-bounds", td(c(healthCheck={"command": ["CMD", "true"], "interval": 5, "timeout": 60,
                                             "retries": 10, "startPeriod": 300}))),
    ("volumes-and-volumesFrom",
     td(c("a", mountPoints=[{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}]),
        c("b", volumesFrom=[{"sourceContainer": "a"}]), volumes=[{"name": "data", "host": {}}])),
    ("numeric-user", td(c("a", user="1000"), c("b", user="1000:1000"))),
    ("non-essential-plus-essential", td(c("a", essential=False), c("b"))),
    ("all-network-modes", td(networkMode="none")),
    ("describe-output", {"taskDefinition": {**td(), "taskDefinitionArn":
                                            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
                                            "revision": 3, "status": "ACTIVE", "compatibilities": ["EC2"],
                                            "requiresAttributes": [], "registeredAt": "2024-01-01T00:00:00Z",
                                            "registeredBy": "arn:aws:iam::123456789012:root"},
                         "tags": [{"key": "team", "value": "a"}]}),
    ("preview-shape", {"family": "web", "version": "9a56714245e7e603127", "containers": [c()]}),
]


@pytest.mark.parametrize("document", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_valid_task_definition_is_accepted(document: Any) -> None:
    normalized = parse_task_definition(document)
    body = document.get("taskDefinition", document)
    assert normalized.definition.family == body["family"]
    containers = body.get("containerDefinitions", body.get("containers"))
    assert [x.name for x in normalized.definition.containerDefinitions] == [x["name"] for x in containers]


def test_describe_output_drops_output_only_fields() -> None:
    document = {"taskDefinition": {**td(), "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3",
                                   "revision": 3, "status": "ACTIVE", "registeredAt": "2024-01-01T00:00:00Z"}}
    normalized = parse_task_definition(document)
    assert normalized.dropped == ["taskDefinitionArn", "revision", "status", "registeredAt"]
    assert "revision" not in normalized.definition.dump()


def test_preview_shape_keeps_version_and_becomes_container_definitions() -> None:
    normalized = parse_task_definition({"family": "web", "version": 7, "containers": [c()]})
    assert normalized.version == "7"
    assert normalized.definition.dump() == {"family": "web", "containerDefinitions": [c()]}


def test_known_but_ignored_fields_are_accepted_and_listed() -> None:
    document = td(
        c("app", logConfiguration={"logDriver": "awslogs"}, secrets=[{"name": "A", "valueFrom": "arn:x"}],
          dockerLabels={"a": "b"}, ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
          linuxParameters={"initProcessEnabled": True, "maxSwap": 0, "capabilities": {"drop": ["NET_RAW"]}}),
        c("sidecar", restartPolicy={"enabled": True}, hostname="x"),
        taskRoleArn="arn:aws:iam::123456789012:role/app", tags=[{"key": "a", "value": "b"}],
        runtimePlatform={"cpuArchitecture": "X86_64"},
        volumes=[{"name": "data", "dockerVolumeConfiguration": {"scope": "task"}, "configuredAtLaunch": False}],
    )
    definition = parse_task_definition(document).definition
    # secrets, dockerLabels, logConfiguration, roles, runtimePlatform, Docker volumes: used (docs/mapping.md)
    assert definition.ignored_fields() == [
        "tags", "containerDefinitions[0].ulimits", "containerDefinitions[0].linuxParameters.maxSwap",
        "containerDefinitions[1].restartPolicy", "containerDefinitions[1].hostname",
        "volumes[0].configuredAtLaunch",
    ]


def test_nothing_ignored_in_a_plain_definition() -> None:
    assert parse_task_definition(td(c(portMappings=[{"containerPort": 80}]))).definition.ignored_fields() == []


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(td(c("a", links=["db"], user="root"), c("a", essential=False)))
    assert problems == [
        "containerDefinitions[0].user: 'root' must be a numeric uid or uid:gid on Kubernetes",
        "containerDefinitions[0].links[0]: no container named 'db' in this task definition",
        "containerDefinitions[1].name: container name 'a' is used twice",
        "containerDefinitions[1].name: 'a' and 'a' both become Kubernetes container 'a'",
    ]


# --------------------------------------------------------------------------- run-task (TaskSpec)


def spec_problems(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        TaskSpec.model_validate(body)
    return describe_validation_error(caught.value)


BIG_OVERRIDE = {"containerOverrides": [{"name": "web", "command": ["x" * 4000, "y" * 4000, "z" * 200]}]}

INVALID_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("taskDefinition-required", {}, "taskDefinition: Field required"),
    ("taskDefinition-revision-zero", {"taskDefinition": "web:0"}, "taskDefinition: String should match pattern"),
    ("taskDefinition-bad-family", {"taskDefinition": "my web"}, "taskDefinition: String should match pattern"),
    ("count-zero", {"taskDefinition": "web", "count": 0}, "count: Input should be greater than or equal to 1"),
    ("count-eleven", {"taskDefinition": "web", "count": 11}, "count: Input should be less than or equal to 10"),
    ("startedBy-pattern", {"taskDefinition": "web", "startedBy": "me and you"},
     "startedBy: String should match pattern '^[A-Za-z0-9/_-]+$'"),
    ("startedBy-too-long", {"taskDefinition": "web", "startedBy": "a" * 129},
     "startedBy: String should have at most 128 characters"),
    ("group-pattern", {"taskDefinition": "web", "group": "my group"}, "group: String should match pattern"),
    ("overrides-too-big", {"taskDefinition": "web", "overrides": BIG_OVERRIDE},
     "overrides: 8260 characters, more than ECS's 8192"),
    ("overrides-unknown-field", {"taskDefinition": "web", "overrides": {"containerOverride": []}},
     "overrides.containerOverride: unknown field (not part of the ECS API)"),
    ("overrides-cpu-negative", {"taskDefinition": "web",
                                "overrides": {"containerOverrides": [{"name": "web", "cpu": -1}]}},
     "overrides.containerOverrides[0].cpu: Input should be greater than or equal to 0"),
    ("desiredStatus-pending", {"taskDefinition": "web", "desiredStatus": "PENDING"},
     "desiredStatus: Input should be 'RUNNING' or 'STOPPED'"),
    ("placementConstraint-type", {"taskDefinition": "web", "placementConstraints": [{"type": "sameInstance"}]},
     "placementConstraints[0].type: Input should be 'distinctInstance' or 'memberOf'"),
    ("placementStrategy-type", {"taskDefinition": "web", "placementStrategy": [{"type": "pack"}]},
     "placementStrategy[0].type: Input should be 'random', 'spread' or 'binpack'"),
    ("placementStrategy-more-than-5", {"taskDefinition": "web", "placementStrategy": [{"type": "random"}] * 6},
     "placementStrategy: List should have at most 5 items"),
    ("unknown-field", {"taskDefinition": "web", "launchTyp": "EC2"},
     "launchTyp: unknown field (not part of the ECS API)"),
]


@pytest.mark.parametrize(("body", "expected"), [row[1:] for row in INVALID_SPECS],
                         ids=[row[0] for row in INVALID_SPECS])
def test_invalid_run_task_is_refused_naming_the_field(body: dict[str, Any], expected: str) -> None:
    problems = spec_problems(body)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("body", [
    {"taskDefinition": "web"},
    {"taskDefinition": "web:12", "count": 10, "startedBy": "ci/deploy_1-a", "group": "family:web"},
    {"taskDefinition": "web", "count": 1, "startedBy": "a" * 128},
    {"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "web", "command": ["x" * 4000]}]}},
], ids=["defaults", "all-bounds", "startedBy-128", "overrides-under-8192"])
def test_valid_run_task_is_accepted(body: dict[str, Any]) -> None:
    spec = TaskSpec.model_validate(body)
    assert spec.family_and_revision()[0] == "web"
    assert spec.effective_group("web") == body.get("group", "family:web")
