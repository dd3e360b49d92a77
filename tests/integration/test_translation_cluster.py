"""The ECS → Pod translation and the ECSTaskDefinition CRD, judged by a real kube-apiserver.

A valid ECS task definition must come out of `task_pod` as a Pod the apiserver accepts (server-side
dry run: defaulting, validation and admission, nothing stored), and the CRD must accept its ECS
JSON. An invalid one must be refused by the model with the field named, and, where the CRD's schema
or CEL rules can see the mistake, by the apiserver too, again with the field named.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ecs_operator.ecs.errors import InvalidInput
from ecs_operator.ecs.models import ClusterSpec, TaskSpec, kube_container_name
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.resources import task_definition_resource
from ecs_operator.ecs.translate import ClusterRef, TaskRef, task_pod

pytestmark = pytest.mark.controlplane

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed-three-tier.json"
GROUP, VERSION, PLURAL = "ecs.compat.dev", "v1alpha1", "ecstaskdefinitions"
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers


def translate(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    """ECS JSON → the Pod of task 0 of a run-task on cluster `default` (raises InvalidInput)."""
    definition = parse_task_definition(document).definition
    return task_pod(definition, 1, TaskSpec(taskDefinition=definition.family), ClusterRef("default", ClusterSpec()),
                    TaskRef(name="t", namespace=namespace, uid=str(uuid.uuid4())))


def dry_run_pod(kube, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    """The Pod as the apiserver would store it (defaulted, validated, admitted), in its JSON shape."""
    accepted = kube.core.create_namespaced_pod(namespace, pod, dry_run="All")
    return kube.api.sanitize_for_serialization(accepted)


def task_definition_cr(spec: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ECSTaskDefinition",
            "metadata": {"name": name or f"td-{uuid.uuid4().hex[:10]}"}, "spec": spec}


def dry_run_cr(kube, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Create an ECSTaskDefinition in a server-side dry run, rejecting unknown fields (Strict)."""
    return client.CustomObjectsApi(kube.api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, task_definition_cr(spec), dry_run="All", field_validation="Strict")


def with_crd_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as the CRD's defaulting stores it: an environment entry without a value gets ""."""
    stored = copy.deepcopy(document)
    for key in ("containerDefinitions", "containers"):
        for c in stored.get(key, []):
            for entry in c.get("environment", []):
                entry.setdefault("value", "")
    return stored


def status_of(err: ApiException) -> dict[str, Any]:
    try:
        return json.loads(err.body)
    except (TypeError, ValueError):
        return {"message": str(err.body), "details": {}}


def refusal(document: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_task_definition(document)
    return caught.value


def as_json(document: Any) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False)


# --------------------------------------------------------------------------- valid ECS task definitions

IMAGES = ["nginx:1.27", "mysql:8.4", "busybox", "public.registry.example/docker/library/redis:7.2",
          "123456789012.registry.example/team/app:latest", "localhost:5000/web/app:v1.2.3",
          "registry.example/org/app@sha256:" + "0123456789abcdef" * 4]
CONTAINER_NAMES = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9_-]{0,14}[A-Za-z0-9])?\Z")
ALIASES = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?)?\Z")
FAMILIES = st.from_regex(r"\A[A-Za-z0-9_-]{1,255}\Z")
ENV_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
PORT_NAMES = st.one_of(  # ECS: up to 64 of lowercase letters, digits, '_' and '-', not starting with '-'
    st.sampled_from(["http", "https", "grpc_api", "metrics", "web--http", "8080", "a-very-long-port-name"]),
    st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z"))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=24)
VOLUME_NAMES = st.one_of(st.sampled_from(["data", "Data", "DATA", "data_1", "data-1", "volume-0", "volume-1",
                                          "Volume-2", "cache", "_", "scratch"]),
                         st.from_regex(r"\A[A-Za-z0-9_-]{1,70}\Z"))
CONTAINER_PATHS = ["/data", "/var/lib/app", "/cache", "/srv/shared", "/tmp/work", "/opt/app/conf"]
HEALTH_COMMANDS = [["CMD-SHELL", "curl -f http://localhost/ || exit 1"], ["CMD", "pg_isready", "-h", "localhost"],
                   ["CMD", "/bin/true"], ["CMD-SHELL", "test -e /tmp/ready"]]
IPS = ["10.0.0.5", "192.168.1.20", "172.16.0.1", "127.0.0.1", "2001:db8::1", "::1"]
# Docker's default capabilities less NET_RAW: what an ECSCluster's baseline policy lets a task add.
ADDABLE_CAPABILITIES = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
PLACEMENT_EXPRESSIONS = ["attribute:ecs.instance-type == t3.micro", "attribute:ecs.os-type == linux",
                         "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
                         "attribute:ecs.cpu-architecture == arm64"]


def _maybe(draw, strategy, p_none: float = 0.5):
    return None if draw(st.floats(0, 1)) < p_none else draw(strategy)


def _roles(containers: list[dict[str, Any]]) -> set[str]:
    """Names of the containers others wait for to complete or to be healthy (they become init containers)."""
    return {d["containerName"] for c in containers for d in c.get("dependsOn", [])
            if d["condition"] in ("COMPLETE", "SUCCESS", "HEALTHY")}


@st.composite
def task_definitions(draw, min_containers: int = 1) -> dict[str, Any]:
    """RegisterTaskDefinition JSON that ECS accepts and whose every part the translation supports."""
    n = draw(st.integers(min_containers, 4))
    names = draw(st.lists(CONTAINER_NAMES, min_size=n, max_size=n, unique_by=kube_container_name))
    network = draw(st.sampled_from([None, "bridge", "awsvpc"]))
    bridge = network in (None, "bridge")
    order = draw(st.permutations(range(n)))  # a topological order: links and dependsOn point backwards in it
    earlier = {order[k]: [order[j] for j in range(k)] for k in range(n)}

    essential = draw(st.lists(st.sampled_from([None, True, False]), min_size=n, max_size=n))
    if all(e is False for e in essential):
        essential[draw(st.integers(0, n - 1))] = draw(st.sampled_from([None, True]))
    health = [_maybe(draw, st.builds(
        lambda cmd, interval, timeout, retries, start: {k: v for k, v in {
            "command": cmd, "interval": interval, "timeout": timeout, "retries": retries, "startPeriod": start,
        }.items() if v is not None},
        st.sampled_from(HEALTH_COMMANDS), st.none() | st.integers(5, 300), st.none() | st.integers(2, 60),
        st.none() | st.integers(1, 10), st.none() | st.integers(0, 300)), 0.6) for _ in range(n)]

    # Ports: containerPorts distinct across the task (one network namespace); static hostPorts distinct.
    counts = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    total = sum(counts)
    container_ports = draw(st.lists(st.integers(1, 65535), min_size=total, max_size=total, unique=True))
    host_ports = draw(st.lists(st.integers(1, 65535), min_size=total, max_size=total, unique=True))
    port_names = draw(st.lists(PORT_NAMES, min_size=total, max_size=total, unique=True))

    volumes = draw(st.lists(VOLUME_NAMES, max_size=3, unique=True))
    containers: list[dict[str, Any]] = []
    k = 0
    for i, name in enumerate(names):
        c: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(IMAGES))}
        if (cpu := _maybe(draw, st.integers(0, 4096))) is not None:
            c["cpu"] = cpu
        memory_kind = draw(st.sampled_from(["memory", "reservation", "both", "none"]))
        if memory_kind in ("memory", "both"):
            c["memory"] = draw(st.integers(6, 8192))
        if memory_kind == "reservation":
            c["memoryReservation"] = draw(st.integers(6, 8192))
        if memory_kind == "both":
            c["memoryReservation"] = draw(st.integers(6, c["memory"]))
        if essential[i] is not None:
            c["essential"] = essential[i]
        if health[i] is not None:
            c["healthCheck"] = health[i]
        mappings = []
        for _ in range(counts[i]):
            pm: dict[str, Any] = {"containerPort": container_ports[k]}
            host = draw(st.sampled_from(["absent", "dynamic", "static"]))
            if host == "dynamic":
                pm["hostPort"] = 0
            elif host == "static":
                pm["hostPort"] = host_ports[k] if bridge else container_ports[k]
            if (protocol := _maybe(draw, st.sampled_from(["tcp", "udp"]))) is not None:
                pm["protocol"] = protocol
            if draw(st.booleans()):
                pm["name"] = port_names[k]
            mappings.append(pm)
            k += 1
        if mappings:
            c["portMappings"] = mappings
        if bridge and earlier[i]:
            targets = draw(st.lists(st.sampled_from([names[j] for j in earlier[i]]), max_size=2, unique=True))
            links = []
            for target in targets:
                # Without an alias the container name is the host name, which Kubernetes wants without '_'.
                alias = _maybe(draw, ALIASES, p_none=0.5 if "_" not in target else 0)
                links.append(f"{target}:{alias}" if alias else target)
            if links:
                c["links"] = links
        if draw(st.booleans()):
            c["environment"] = draw(st.lists(st.fixed_dictionaries({"name": ENV_NAMES}, optional={"value": TEXT}),
                                             max_size=4))
        if (entry := _maybe(draw, st.sampled_from([["sh", "-c"], ["/docker-entrypoint.sh"], []]))) is not None:
            c["entryPoint"] = entry
        if (command := _maybe(draw, st.lists(TEXT, max_size=4))) is not None:
            c["command"] = command
        if volumes and draw(st.booleans()):
            paths = draw(st.lists(st.sampled_from(CONTAINER_PATHS), min_size=1, max_size=3, unique=True))
            c["mountPoints"] = [
                {"sourceVolume": draw(st.sampled_from(volumes)), "containerPath": path,
                 **({"readOnly": ro} if (ro := _maybe(draw, st.booleans())) is not None else {})}
                for path in paths]
        for key, strategy in (
            ("stopTimeout", st.integers(0, 120)),
            ("user", st.sampled_from(["1000", "1000:1000", "0", "65534:65534"])),
            ("workingDirectory", st.sampled_from(["/app", "/srv", "/"])),
            ("readonlyRootFilesystem", st.booleans()),
            ("linuxParameters", st.fixed_dictionaries({}, optional={"capabilities": st.fixed_dictionaries({}, optional={
                "add": st.lists(st.sampled_from(ADDABLE_CAPABILITIES), max_size=3, unique=True),
                "drop": st.lists(st.sampled_from(["ALL", "NET_RAW", "MKNOD", "CAP_SYS_CHROOT"]), max_size=2,
                                 unique=True)}), "initProcessEnabled": st.booleans()})),
            ("extraHosts", st.lists(st.fixed_dictionaries({"hostname": ALIASES, "ipAddress": st.sampled_from(IPS)}),
                                    min_size=1, max_size=2)),
            ("logConfiguration", st.just({"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/app"}})),
            ("dockerLabels", st.just({"com.example.team": "web"})),
            ("ulimits", st.just([{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}])),
        ):
            if draw(st.floats(0, 1)) < 0.2:
                c[key] = draw(strategy)
        containers.append(c)

    # dependsOn, pointing backwards in `order` (so without cycles), with ECS's condition rules.
    for i, c in enumerate(containers):
        deps = []
        for j in draw(st.lists(st.sampled_from(earlier[i]), max_size=2, unique=True)) if earlier[i] else []:
            target = containers[j]
            allowed = ["START"]
            if target.get("essential") is False:
                allowed += ["COMPLETE", "SUCCESS"]
            if "healthCheck" in target:
                allowed.append("HEALTHY")
            deps.append({"containerName": target["name"], "condition": draw(st.sampled_from(allowed))})
        if deps:
            c["dependsOn"] = deps
    # A container others wait for starts as an init container, before every main container, so it can
    # only wait for other such containers: the translation refuses the rest (see the test at the end).
    while True:
        roles = _roles(containers)
        changed = False
        for c in containers:
            if c["name"] in roles and c.get("dependsOn"):
                kept = [d for d in c["dependsOn"] if d["containerName"] in roles]
                if kept != c["dependsOn"]:
                    c["dependsOn"] = kept
                    changed = True
        if not changed:
            break
    for c in containers:
        if c.get("dependsOn") == []:
            del c["dependsOn"]
    if volumes:
        for c in containers:
            others = [o["name"] for o in containers if o is not c]
            if others and draw(st.floats(0, 1)) < 0.2:
                c["volumesFrom"] = [{"sourceContainer": draw(st.sampled_from(others))}]

    document: dict[str, Any] = {"family": draw(FAMILIES), "containerDefinitions": containers}
    if network is not None:
        document["networkMode"] = network
    if volumes:
        document["volumes"] = [
            {"name": v, **draw(st.sampled_from([{}, {"host": {}}, {"dockerVolumeConfiguration": {"scope": "task"}}]))}
            for v in volumes]
    # Task-level size consistent with the containers: memory covers the reservations and every hard limit.
    reserved = sum(c.get("memoryReservation", c.get("memory", 0)) for c in containers)
    hard = max([c.get("memory", 0) for c in containers] + [6])
    if any("memory" not in c and "memoryReservation" not in c for c in containers) or draw(st.booleans()):
        mib = max(reserved, hard) + draw(st.integers(0, 2048))
        document["memory"] = draw(st.sampled_from([str(mib), f"{math.ceil(mib / 1024)} GB"]))
    if draw(st.booleans()):
        units = max(128, sum(c.get("cpu", 0) for c in containers))
        exact = draw(st.booleans())  # exactly the containers' total: the tightest valid choice
        units += 0 if exact else draw(st.integers(0, 4096))
        vcpus = next(v for v in (0.25, 0.5, 1, 2, 4, 8, 16, 64, 192) if v * 1024 >= units)
        document["cpu"] = draw(st.sampled_from([str(units), f"{vcpus:g} vCPU"]))
    for key, strategy in (
        ("pidMode", st.just("task")),
        ("ipcMode", st.sampled_from(["task", "none"])),
        ("requiresCompatibilities", st.sampled_from([["EC2"], ["EC2", "FARGATE"], ["EXTERNAL"]])),
        ("placementConstraints", st.lists(st.builds(lambda e: {"type": "memberOf", "expression": e},
                                                    st.sampled_from(PLACEMENT_EXPRESSIONS)), min_size=1, max_size=2)),
        ("executionRoleArn", st.just("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")),
        ("tags", st.just([{"key": "team", "value": "web"}])),
    ):
        if draw(st.floats(0, 1)) < 0.15:
            document[key] = draw(strategy)
    return document


@PROPERTY
@given(document=task_definitions())
def test_valid_task_definitions_become_pods_the_apiserver_accepts(kube, namespace, crds_installed, document):
    note(as_json(document))
    definition = parse_task_definition(document).definition  # a valid definition must validate
    pod = translate(document, namespace)
    note(as_json(pod))
    try:
        accepted = dry_run_pod(kube, namespace, pod)
    except ApiException as err:
        raise AssertionError(f"the apiserver refused the Pod of a valid task definition ({err.status}): "
                             f"{status_of(err).get('message')}") from None
    # The user's containers are all there, under their Kubernetes names, with their images.
    got = {c["name"]: c for c in accepted["spec"]["containers"] + accepted["spec"].get("initContainers", [])}
    assert {kube_container_name(c.name): c.image for c in definition.containerDefinitions} == {
        name: c["image"] for name, c in got.items()}
    # Every port is published; a static hostPort only in bridge mode (in awsvpc the task has its own address).
    bridge = definition.effective_network_mode == "bridge"
    for c in definition.containerDefinitions:
        ports = [(p["containerPort"], p.get("hostPort")) for p in got[kube_container_name(c.name)].get("ports", [])]
        assert [(pm.containerPort, (pm.hostPort or None) if bridge else None) for pm in c.portMappings or []] == ports
    assert accepted["spec"]["restartPolicy"] == "Never"
    # The CRD accepts the same ECS JSON, unknown-field checking included, and keeps all of it.
    created = dry_run_cr(kube, namespace, document)
    assert created["spec"] == with_crd_defaults(document)


# --------------------------------------------------------------------------- invalid ECS task definitions


def _other_name(document: dict[str, Any], base: str) -> str:
    taken = {kube_container_name(c["name"]) for c in document["containerDefinitions"]}
    i = 0
    while kube_container_name(f"{base}{i}") in taken:
        i += 1
    return f"{base}{i}"


def _free_port(document: dict[str, Any], start: int) -> int:
    used = {p for c in document["containerDefinitions"] for pm in c.get("portMappings", [])
            for p in (pm["containerPort"], pm.get("hostPort") or 0)}
    port = start
    while port in used:
        port += 1
    return port


def _two_containers(document: dict[str, Any]) -> tuple[int, int]:
    containers = document["containerDefinitions"]
    if len(containers) < 2:
        containers.append({"name": _other_name(document, "extra"), "image": "busybox", "memory": 64})
    return 0, len(containers) - 1


def _bridge(document: dict[str, Any]) -> None:
    document.pop("networkMode", None)


# Each mutation breaks one ECS rule: (document, draw) → (field the model names, what the apiserver
# names — a list of substrings of its message — or None when only the model can see the mistake).
def duplicate_name(doc, draw):
    containers = doc["containerDefinitions"]
    i = draw(st.integers(0, len(containers) - 1))
    containers.append(copy.deepcopy(containers[i]))
    for pm in containers[-1].get("portMappings", []):  # keep the copy's ports from clashing too
        pm["containerPort"] = _free_port(doc, 20000)
        pm.pop("hostPort", None)
    return f"containerDefinitions[{len(containers) - 1}].name", ["spec.containerDefinitions",
                                                                 "container names must be unique"]


def reservation_above_memory(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c["memory"] = draw(st.integers(6, 4096))
    c["memoryReservation"] = c["memory"] + draw(st.integers(1, 1024))
    field = f"containerDefinitions[{i}].memoryReservation"
    return field, [f"spec.{field}", "must be at least memoryReservation"]


def no_memory(doc, draw):
    doc.pop("memory", None)
    for c in doc["containerDefinitions"]:
        c.pop("memory", None)
        c.pop("memoryReservation", None)
    return "containerDefinitions[0].memory", ["spec.containerDefinitions", "memory or memoryReservation"]


def no_essential(doc, draw):
    for c in doc["containerDefinitions"]:
        c["essential"] = False
    return "containerDefinitions: at least one container must be essential", [
        "spec.containerDefinitions", "at least one container must be essential"]


def link_to_missing_container(doc, draw):
    _bridge(doc)
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("links", []).append(_other_name(doc, "ghost") + draw(st.sampled_from(["", ":alias"])))
    return f"containerDefinitions[{i}].links[{len(c['links']) - 1}]", [
        "spec.containerDefinitions", "links: must name a container of this task definition"]


def link_to_itself(doc, draw):
    _bridge(doc)
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("links", []).append(c["name"])
    return f"containerDefinitions[{i}].links[{len(c['links']) - 1}]", [
        f"spec.containerDefinitions[{i}].links", "cannot link to itself"]


def port_out_of_range(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    key = draw(st.sampled_from(["containerPort", "hostPort"]))
    bad = draw(st.sampled_from([0, 65536, 70000, -1] if key == "containerPort" else [65536, 99999, -5]))
    pm = {"containerPort": _free_port(doc, 30000)} | {key: bad}
    c.setdefault("portMappings", []).append(pm)
    field = f"containerDefinitions[{i}].portMappings[{len(c['portMappings']) - 1}].{key}"
    return field, [f"spec.{field}"]


def number_out_of_range(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    key, bad = draw(st.sampled_from([("cpu", -1), ("cpu", 262145), ("memory", 5), ("memoryReservation", 0),
                                     ("stopTimeout", 121), ("stopTimeout", -1)]))
    c[key] = bad
    field = f"containerDefinitions[{i}].{key}"
    return field, [f"spec.{field}"]


def health_check_interval_out_of_range(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    key, bad = draw(st.sampled_from([("interval", 4), ("interval", 301), ("timeout", 1), ("retries", 11)]))
    doc["containerDefinitions"][i]["healthCheck"] = {"command": ["CMD", "/bin/true"], key: bad}
    field = f"containerDefinitions[{i}].healthCheck.{key}"
    return field, [f"spec.{field}"]


def ulimit_soft_above_hard(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    hard = draw(st.integers(0, 65536))
    doc["containerDefinitions"][i]["ulimits"] = [{"name": "nofile", "softLimit": hard + 1, "hardLimit": hard}]
    return f"containerDefinitions[{i}].ulimits[0]", [f"spec.containerDefinitions[{i}].ulimits[0].softLimit",
                                                     "softLimit must not exceed hardLimit"]


def depends_on_itself(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("dependsOn", []).append({"containerName": c["name"], "condition": "START"})
    return f"containerDefinitions[{i}].dependsOn[{len(c['dependsOn']) - 1}].containerName", [
        f"spec.containerDefinitions[{i}].dependsOn", "cannot depend on itself"]


def volumes_from_missing_container(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("volumesFrom", []).append({"sourceContainer": _other_name(doc, "ghost")})
    return f"containerDefinitions[{i}].volumesFrom[{len(c['volumesFrom']) - 1}].sourceContainer", [
        "spec.containerDefinitions", "volumesFrom: sourceContainer must name a container"]


def links_outside_bridge(doc, draw):
    doc["networkMode"] = "awsvpc"
    for c in doc["containerDefinitions"]:
        for pm in c.get("portMappings", []):
            pm.pop("hostPort", None)
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    containers[b]["links"] = [containers[a]["name"] + ":peer"]
    return f"containerDefinitions[{b}].links[0]: links are only allowed in bridge network mode", [
        "spec.networkMode", "links: only allowed in bridge network mode"]


def unknown_field(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    typo = draw(st.sampled_from(["memroy", "imagee", "portMapping", "enviroment"]))
    doc["containerDefinitions"][i][typo] = 512
    field = f"containerDefinitions[{i}].{typo}"
    return field, [f'unknown field "spec.{field}"']


def health_check_without_cmd(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    doc["containerDefinitions"][i]["healthCheck"] = {"command": [draw(st.sampled_from(["RUN", "cmd", "SHELL"])),
                                                                 "true"]}
    return f"containerDefinitions[{i}].healthCheck", [f"spec.containerDefinitions[{i}].healthCheck.command",
                                                      "must start with CMD or CMD-SHELL"]


def depends_on_missing_container(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("dependsOn", []).append({"containerName": _other_name(doc, "ghost"), "condition": "START"})
    return f"containerDefinitions[{i}].dependsOn[{len(c['dependsOn']) - 1}].containerName", [
        "spec.containerDefinitions", "dependsOn: containerName must name a container"]


def mount_of_missing_volume(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    taken = {v["name"] for v in doc.get("volumes", [])}
    c.setdefault("mountPoints", []).append({"sourceVolume": next(f"ghost{k}" for k in range(99)
                                                                 if f"ghost{k}" not in taken),
                                            "containerPath": "/mnt/ghost"})
    return f"containerDefinitions[{i}].mountPoints[{len(c['mountPoints']) - 1}].sourceVolume", [
        "spec.containerDefinitions", "mountPoints: sourceVolume must name a volume"]


def awsvpc_host_port_differs(doc, draw):
    doc["networkMode"] = "awsvpc"
    for c in doc["containerDefinitions"]:
        c.pop("links", None)
        for pm in c.get("portMappings", []):
            pm.pop("hostPort", None)
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    port = _free_port(doc, 40000)
    c.setdefault("portMappings", []).append({"containerPort": port, "hostPort": _free_port(doc, port + 1)})
    return f"containerDefinitions[{i}].portMappings[{len(c['portMappings']) - 1}].hostPort", [
        "spec.networkMode", "hostPort must equal containerPort"]


def bad_container_name(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c["name"] = c["name"] + draw(st.sampled_from([".v2", " web", "/x", "é"]))
    field = f"containerDefinitions[{i}].name"
    return field, [f"spec.{field}"]


def bad_family(doc, draw):
    doc["family"] = draw(st.sampled_from(["my family", "web.app", "", "x" * 256]))
    return "family", ["spec.family"]


# Only the model can see these: they span containers in ways the CRD's CEL rules do not express.
def depends_on_cycle(doc, draw):
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    containers[a].setdefault("dependsOn", []).append({"containerName": containers[b]["name"], "condition": "START"})
    containers[b].setdefault("dependsOn", []).append({"containerName": containers[a]["name"], "condition": "START"})
    return "dependsOn: containers depend on each other in a cycle", None


def link_cycle(doc, draw):
    _bridge(doc)
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    containers[a].setdefault("links", []).append(containers[b]["name"])
    containers[b].setdefault("links", []).append(containers[a]["name"])
    return "links: containers link in a cycle", None


def host_port_reused(doc, draw):
    _bridge(doc)
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    host = _free_port(doc, 50000)
    containers[a].setdefault("portMappings", []).append({"containerPort": _free_port(doc, 51000), "hostPort": host})
    containers[b].setdefault("portMappings", []).append({"containerPort": _free_port(doc, 52000), "hostPort": host})
    j = len(containers[b]["portMappings"]) - 1
    return f"containerDefinitions[{b}].portMappings[{j}].hostPort: {host}/tcp is already used", None


def container_port_shared(doc, draw):
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    port = _free_port(doc, 53000)
    containers[a].setdefault("portMappings", []).append({"containerPort": port})
    containers[b].setdefault("portMappings", []).append({"containerPort": port})
    j = len(containers[b]["portMappings"]) - 1
    return f"containerDefinitions[{b}].portMappings[{j}].containerPort", None


def complete_on_essential(doc, draw):
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    containers[a]["essential"] = True
    containers[b].setdefault("dependsOn", []).append({"containerName": containers[a]["name"],
                                                      "condition": draw(st.sampled_from(["COMPLETE", "SUCCESS"]))})
    return f"containerDefinitions[{b}].dependsOn[{len(containers[b]['dependsOn']) - 1}].condition", None


def healthy_without_health_check(doc, draw):
    a, b = _two_containers(doc)
    containers = doc["containerDefinitions"]
    containers[a].pop("healthCheck", None)
    containers[b].setdefault("dependsOn", []).append({"containerName": containers[a]["name"], "condition": "HEALTHY"})
    return f"containerDefinitions[{b}].dependsOn[{len(containers[b]['dependsOn']) - 1}].condition", None


def names_clash_on_kubernetes(doc, draw):
    containers = doc["containerDefinitions"]
    name = _other_name(doc, "twin-")
    containers.append({"name": name, "image": "busybox", "memory": 64})
    containers.append({"name": name.upper().replace("-", "_"), "image": "busybox", "memory": 64})  # TWIN_0
    return f"containerDefinitions[{len(containers) - 1}].name", None


def volumes_from_itself(doc, draw):
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("volumesFrom", []).append({"sourceContainer": c["name"]})
    return f"containerDefinitions[{i}].volumesFrom[{len(c['volumesFrom']) - 1}].sourceContainer", None


def mount_path_twice(doc, draw):
    doc.setdefault("volumes", []).append({"name": "twice"})
    i = draw(st.integers(0, len(doc["containerDefinitions"]) - 1))
    c = doc["containerDefinitions"][i]
    c.setdefault("mountPoints", []).extend([{"sourceVolume": "twice", "containerPath": "/twice"}] * 2)
    return f"containerDefinitions[{i}].mountPoints[{len(c['mountPoints']) - 1}].containerPath", None


def task_memory_below_reservations(doc, draw):
    c = doc["containerDefinitions"][0]
    c.pop("memoryReservation", None)
    c["memory"] = max(c.get("memory", 0), 256)
    need = sum(x.get("memoryReservation", x.get("memory", 0)) for x in doc["containerDefinitions"])
    doc["memory"] = str(need - 1)
    return "memory: the containers reserve", None


CRD_CATCHES = [duplicate_name, reservation_above_memory, no_memory, no_essential, link_to_missing_container,
               link_to_itself, links_outside_bridge, port_out_of_range, number_out_of_range,
               health_check_interval_out_of_range, ulimit_soft_above_hard, unknown_field, health_check_without_cmd,
               depends_on_missing_container, depends_on_itself, volumes_from_missing_container,
               mount_of_missing_volume, awsvpc_host_port_differs, bad_container_name, bad_family]
MODEL_ONLY = [depends_on_cycle, link_cycle, host_port_reused, container_port_shared, complete_on_essential,
              healthy_without_health_check, names_clash_on_kubernetes, volumes_from_itself, mount_path_twice,
              task_memory_below_reservations]


@pytest.mark.parametrize("mutation", CRD_CATCHES + MODEL_ONLY, ids=lambda m: m.__name__)
@settings(PROPERTY, max_examples=12)  # per mutation: every rule gets its share
@given(document=task_definitions(), data=st.data())
def test_invalid_task_definitions_are_refused_with_the_field_named(kube, namespace, crds_installed, mutation,
                                                                   document, data):
    mutated = copy.deepcopy(document)
    model_field, crd_says = mutation(mutated, data.draw)
    if data.draw(st.booleans(), label="2014 preview shape"):
        containers = mutated.pop("containerDefinitions")
        mutated = {"version": "9a56714", **mutated, "containers": containers}
        crd_says = crd_says and [words.replace("spec.containerDefinitions", "spec.containers") for words in crd_says]
    note(as_json(mutated))
    problems = refusal(mutated).problems
    assert any(model_field in problem for problem in problems), (model_field, problems)
    if crd_says is None:
        return
    with pytest.raises(ApiException) as caught:
        dry_run_cr(kube, namespace, mutated)
    status = status_of(caught.value)
    assert caught.value.status in (400, 422), status
    for words in crd_says:
        assert words in status["message"], (words, status["message"])


# --------------------------------------------------------------------------- kubectl apply


def seed() -> dict[str, Any]:
    return json.loads(SEED.read_text())


def seed_resource(shape: str) -> dict[str, Any]:
    resource = task_definition_resource(parse_task_definition(seed()))
    if shape == "preview":  # the 2014 shape: `containers` and `version`, as the seed file has them
        resource["metadata"]["name"] += "-preview"
        resource["spec"]["containers"] = resource["spec"].pop("containerDefinitions")
    return resource


def _bad(change) -> dict[str, Any]:
    resource = seed_resource("modern")
    resource["metadata"]["name"] = "bad"
    change(resource["spec"])
    return resource


INVALID_YAML = {
    "memoryReservation above memory": (
        lambda spec: spec["containerDefinitions"][0].update(memory=128, memoryReservation=256),
        ["spec.containerDefinitions[0].memoryReservation",
         "memory (hard limit) must be at least memoryReservation (soft limit)"]),
    "misspelt field": (
        lambda spec: spec["containerDefinitions"][1].update(memroy=512),
        ['unknown field "spec.containerDefinitions[1].memroy"']),
    "link to a missing container": (
        lambda spec: spec["containerDefinitions"][1].update(links=["db:database"]),
        ["spec.containerDefinitions", "links: must name a container of this task definition"]),
    "port out of range": (
        lambda spec: spec["containerDefinitions"][0]["portMappings"][0].update(hostPort=70000),
        ["spec.containerDefinitions[0].portMappings[0].hostPort", "less than or equal to 65535"]),
}


@pytest.mark.parametrize("case", INVALID_YAML)
def test_kubectl_apply_of_an_invalid_task_definition_is_refused_with_the_field_named(
        kube, namespace, crds_installed, kubectl, case):
    change, expected = INVALID_YAML[case]
    result = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(_bad(change), sort_keys=False))
    assert result.returncode != 0, result.stdout
    for words in expected:
        assert words in result.stderr, result.stderr
    listed = kubectl("get", "ecstaskdefinitions", "-n", namespace, "-o", "name")
    assert listed.returncode == 0 and listed.stdout.strip() == ""  # nothing was stored


@pytest.mark.parametrize("shape", ["modern", "preview"])
def test_kubectl_apply_of_the_seed_task_definition_is_accepted(kube, namespace, crds_installed, kubectl, shape):
    resource = seed_resource(shape)
    name = resource["metadata"]["name"]
    result = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(resource, sort_keys=False))
    assert result.returncode == 0, result.stderr
    assert f"ecstaskdefinition.ecs.compat.dev/{name} created" in result.stdout
    stored = kubectl("get", "ecstaskdefinition", name, "-n", namespace, "-o", "json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["spec"] == resource["spec"]  # nothing pruned
    key = "containers" if shape == "preview" else "containerDefinitions"
    assert [c["name"] for c in json.loads(stored.stdout)["spec"][key]] == ["load-balancer", "web", "database"]
    assert json.loads(stored.stdout)["spec"]["version"] == "9a56714245e7e603127"


# --------------------------------------------------------------------------- the seed's three tiers


def test_the_seed_three_tier_task_becomes_a_pod_the_apiserver_accepts(kube, namespace):
    accepted = dry_run_pod(kube, namespace, translate(seed(), namespace))
    containers = {c["name"]: c for c in accepted["spec"]["containers"]}
    assert set(containers) == {"load-balancer", "web", "database"}
    assert containers["load-balancer"]["ports"] == [{"containerPort": 9443, "hostPort": 443, "protocol": "TCP"}]
    assert containers["web"]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]  # dynamic: no host port
    # `links` resolve inside the task: one Pod, one network namespace, names on loopback.
    assert accepted["spec"]["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["database", "db", "web"]}]
    assert containers["database"]["resources"] == {"limits": {"memory": "1Gi"},
                                                   "requests": {"cpu": "250m", "memory": "768Mi"}}
    assert containers["database"]["env"] == [{"name": "MYSQL_ROOT_PASSWORD", "value": "example"}]
    assert accepted["metadata"]["labels"]["ecs.compat.dev/family"] == "application-name"


# --------------------------------------------------------------------------- regressions and limits found here

C = {"image": "nginx:1.27", "memory": 128}


def assert_the_apiserver_accepts(kube, namespace: str, document: dict[str, Any]) -> None:
    pod = translate(document, namespace)
    try:
        dry_run_pod(kube, namespace, pod)
    except ApiException as err:
        pytest.fail(f"the apiserver refused the Pod of a valid task definition: {status_of(err)['message']}")


def test_container_cpu_adding_up_to_the_task_cpu_fits_the_pod_cpu_limit(kube, namespace):
    # Regression found by the property test.
    # 100 + 28 units = the task's 128, but per-container rounding gives 98m + 28m = 126m of
    # requests against a pod-level limit of ceil(128 * 1000 / 1024) = 125m.
    assert_the_apiserver_accepts(kube, namespace, {"family": "split", "cpu": "128", "containerDefinitions": [
        {"name": "app", "cpu": 100, **C}, {"name": "sidecar", "cpu": 28, **C}]})


def test_a_container_waited_on_to_complete_may_have_a_health_check(kube, namespace):
    # Regression found by the property test.
    # "migrate" becomes an init container and keeps its healthCheck as a readinessProbe,
    # which Kubernetes forbids on init containers without restartPolicy: Always.
    assert_the_apiserver_accepts(kube, namespace, {"family": "migrate-first", "containerDefinitions": [
        {"name": "app", **C, "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]},
        {"name": "migrate", **C, "essential": False,
         "healthCheck": {"command": ["CMD-SHELL", "test -e /tmp/ready"]}}]})


def test_a_port_mapping_name_with_a_double_hyphen_is_kept_off_the_pod(kube, namespace):
    # Regression found by the property test.
    # ECS allows "web--http" (lowercase, digits, '_' and '-'); Kubernetes port names must
    # not contain "--", and the translation copies the name onto the Pod.
    assert_the_apiserver_accepts(kube, namespace, {"family": "named-ports", "containerDefinitions": [
        {"name": "app", **C, "portMappings": [{"containerPort": 8080, "name": "web--http"}]}]})


def test_volume_names_that_clash_on_kubernetes_get_distinct_pod_volumes(kube, namespace):
    # Regression found by the property test.
    # "Data" falls back to "volume-2" (its index), which the first volume already is.
    assert_the_apiserver_accepts(kube, namespace, {
        "family": "volumes", "volumes": [{"name": "Volume-2"}, {"name": "data"}, {"name": "Data"}],
        "containerDefinitions": [{"name": "app", **C, "mountPoints": [
            {"sourceVolume": "Volume-2", "containerPath": "/a"}, {"sourceVolume": "data", "containerPath": "/b"},
            {"sourceVolume": "Data", "containerPath": "/c"}]}]})


# Definitions ECS itself refuses, which the model once let through to a Pod the apiserver refused: the
# user should hear about them when registering, naming the field, not when a task fails to start.
LET_THROUGH = {
    "container memory above the task's memory": (
        {"family": "f", "memory": "256", "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
                                                                   "memory": 512, "memoryReservation": 128}]},
        "containerDefinitions[0].memory"),
    "two volumes with one name": (
        {"family": "f", "volumes": [{"name": "data"}, {"name": "data"}],
         "containerDefinitions": [{"name": "app", **C, "mountPoints": [{"sourceVolume": "data",
                                                                        "containerPath": "/data"}]}]},
        "volumes[1].name"),
    "extraHosts ipAddress that is not an IP": (
        {"family": "f", "containerDefinitions": [{"name": "app", **C, "extraHosts": [
            {"hostname": "db", "ipAddress": "database.internal"}]}]},
        "containerDefinitions[0].extraHosts[0]"),
    "image with a trailing space": (
        {"family": "f", "containerDefinitions": [{"name": "app", "image": "nginx:1.27 ", "memory": 128}]},
        "containerDefinitions[0].image"),
}


@pytest.mark.parametrize("case", LET_THROUGH)
def test_what_the_model_accepts_the_apiserver_accepts(kube, namespace, case):
    document, field = LET_THROUGH[case]
    try:
        pod = translate(document, namespace)
    except InvalidInput as err:
        assert any(field in problem for problem in err.problems), err.problems
        return
    try:
        dry_run_pod(kube, namespace, pod)
    except ApiException as err:
        pytest.fail(f"the model accepted an ECS definition whose Pod the apiserver refuses "
                    f"({status_of(err)['message']}); it should refuse it naming {field}")


# Limits of the translation, not of ECS: valid ECS JSON that cannot become a Pod. The user is told the
# field and the reason (the generator above steers clear of both shapes).
TRANSLATION_LIMITS = {
    # Containers waited on (HEALTHY/COMPLETE/SUCCESS) become init containers, which start before every
    # main container, so they cannot themselves wait for one.
    "waited-on container waiting for a main one": (
        {"family": "chain", "containerDefinitions": [
            {"name": "app", **C, "dependsOn": [{"containerName": "proxy", "condition": "HEALTHY"}]},
            {"name": "proxy", **C, "healthCheck": {"command": ["CMD", "/bin/true"]},
             "dependsOn": [{"containerName": "config", "condition": "START"}]},
            {"name": "config", **C}]},
        ["containerDefinitions[1].dependsOn[0]", "cannot wait for 'config'"]),
    # A link without an alias makes the container name a host name, and hostAliases take no '_'.
    "link to a container named with '_'": (
        {"family": "underscore", "containerDefinitions": [
            {"name": "web_1", **C}, {"name": "proxy", **C, "links": ["web_1"]}]},
        ["containerDefinitions[1].links[0]", "alias 'web_1' cannot resolve on Kubernetes"]),
}


@pytest.mark.parametrize("case", TRANSLATION_LIMITS)
def test_translation_limits_are_refused_with_the_field_named(case):
    document, expected = TRANSLATION_LIMITS[case]
    with pytest.raises(InvalidInput) as caught:
        translate(document, "default")
    message = str(caught.value)
    for words in expected:
        assert words in message, message
