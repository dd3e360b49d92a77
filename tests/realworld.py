"""The real-world corpus (../shared/realworld/: 60 task definitions written by other people, with
SOURCES.md): where it is, what ECS does with each, and what the rules of docs/mapping.md must make
of each AWS reference in the Pod. Shared by tests/unit/test_realworld.py and the integration test."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ecs_operator.ecs.labels import ANNOTATION_EXECUTION_ROLE, ANNOTATION_LOG_CONFIGURATION, ANNOTATION_TASK_ROLE
from ecs_operator.ecs.models import ClusterPolicy, ClusterSpec, TaskDefinition, kube_container_name
from ecs_operator.ecs.references import (
    DOCKER_CONFIG_KEY,
    DOCKER_CONFIG_TYPE,
    config_map_for_env_file,
    secret_source,
    service_account_for_role,
    task_references,
    volume_claim,
)
from ecs_operator.ecs.translate import platform_selector

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realworld"

# Refused as ECS refuses them (SOURCES.md: the authors' errors): the file's number → words the
# refusal must contain, each naming the field.
REFUSED: dict[str, list[str]] = {
    "01": ["volumes[1].readOnly: unknown field"],  # a volume-level readOnly (aws CLI: Unknown parameter)
    "09": ["containerDefinitions[1].links[0]: no container named 'app-container'"],  # a dangling link
    "10": ["containerDefinitions[0].image: Container.image should not be null or empty."],  # no image
    "17": ["containerDefinitions[0].healthCheck.command"],  # one string, no CMD/CMD-SHELL
    "20": ["containerDefinitions[0].image: Container.image should not be null or empty.",
           "containerDefinitions[1].image: Container.image should not be null or empty."],  # image ""
    "38": ['family: Missing required parameter in input: "family"'],
    "57": ["containerDefinitions[0].mountPoints[0].sourceVolume: no volume named 'fsx-windows-dir'"],
}

# What only a host-path, privileged, host-network daemon agent needs: the permissive cluster.
PERMISSIVE = ClusterSpec(policy=ClusterPolicy(
    allowPrivileged=True, allowHostNetwork=True, allowHostNamespaces=True, allowHostPath=True,
    allowedCapabilities=["SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE", "NET_ADMIN", "NET_BROADCAST", "NET_RAW",
                         "IPC_LOCK"],
    allowedSysctls=["net.*"]))


def corpus() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the real-world corpus is not at {CORPUS} (it lives in ../shared/realworld beside the repo)")
    return sorted(CORPUS.glob("[0-9][0-9]-*.json"))


def number(path: Path) -> str:
    return path.name[:2]


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def gpus(definition: TaskDefinition) -> int:
    return sum(int(r.value) for c in definition.containerDefinitions for r in c.resourceRequirements or []
               if r.type == "GPU")


def held_back_for(definition: TaskDefinition) -> str | None:
    """The placement failure ECS reports for this definition on a cluster of plain Linux/amd64
    instances (m5-like, without GPUs): RESOURCE:GPU, ATTRIBUTE (platform), or the memberOf one."""
    if gpus(definition):
        return "RESOURCE:GPU"
    if platform_selector(definition).get("kubernetes.io/os") == "windows" or \
            platform_selector(definition).get("kubernetes.io/arch") == "arm64":
        return "ATTRIBUTE"
    if definition.placementConstraints:
        return "MemberOf placement constraint unsatisfied."
    return None


def objects_for(definition: TaskDefinition) -> list[dict[str, Any]]:
    """Kubernetes objects (v1 manifests) that make every AWS reference of `definition` resolve."""
    secrets: dict[str, dict[str, str]] = {}
    out: list[dict[str, Any]] = []
    for ref in task_references(definition):
        if ref.kind == "Secret":
            data = secrets.setdefault(ref.name, {})
            if ref.secret_type == DOCKER_CONFIG_TYPE:
                data[DOCKER_CONFIG_KEY] = base64.b64encode(json.dumps(
                    {"auths": {"registry.example.com": {"auth": base64.b64encode(b"u:p").decode()}}}).encode()).decode()
            elif ref.key:
                data[ref.key] = base64.b64encode(f"secret for {ref.source}".encode()).decode()
            continue
        if ref.kind == "ConfigMap":
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ref.name},
                        "data": {"FROM_ENV_FILE": ref.source}})
        elif ref.kind == "ServiceAccount":
            out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ref.name}})
        elif ref.kind == "PersistentVolumeClaim":
            out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": ref.name},
                        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                                 "resources": {"requests": {"storage": "1Gi"}}}})
    for name, data in secrets.items():
        pull = DOCKER_CONFIG_KEY in data
        out.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "type": DOCKER_CONFIG_TYPE if pull else "Opaque", "data": data})
    return out


def assert_resolved(definition: TaskDefinition, pod: dict[str, Any], gpu_resource: str = "nvidia.com/gpu") -> None:
    """Every AWS reference of `definition` is in `pod` as the rules of docs/mapping.md say."""
    spec = pod["spec"]
    containers = {c["name"]: c for c in spec.get("containers", []) + spec.get("initContainers", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    annotations = pod["metadata"].get("annotations", {})
    for c in definition.containerDefinitions:
        kc = containers[kube_container_name(c.name)]
        env = {e["name"]: e for e in kc.get("env", [])}
        for secret in c.secrets or []:
            source = secret_source(secret.valueFrom)
            assert env[secret.name] == {"name": secret.name, "valueFrom": {"secretKeyRef": {
                "name": source.name, "key": source.key}}}, (c.name, secret)
        if c.environmentFiles:
            assert kc["envFrom"] == [{"configMapRef": {"name": config_map_for_env_file(f.value)}}
                                     for f in c.environmentFiles]
        if c.repositoryCredentials:
            pull = secret_source(c.repositoryCredentials.credentialsParameter).name
            assert {"name": pull} in spec["imagePullSecrets"]
        wanted = sum(int(r.value) for r in c.resourceRequirements or [] if r.type == "GPU")
        if wanted:
            assert kc["resources"]["limits"][gpu_resource] == str(wanted)
        if c.logConfiguration:
            assert json.loads(annotations[ANNOTATION_LOG_CONFIGURATION])[c.name]["logDriver"] == \
                c.logConfiguration.logDriver
        params = c.linuxParameters
        mounts = {m["mountPath"]: m for m in kc.get("volumeMounts", [])}
        if params and params.sharedMemorySize:
            assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
        for tmpfs in (params.tmpfs if params else None) or []:
            assert volumes[mounts[tmpfs.containerPath]["name"]]["emptyDir"]["medium"] == "Memory"
        for device in (params.devices if params else None) or []:
            assert volumes[mounts[device.containerPath or device.hostPath]["name"]]["hostPath"] == {
                "path": device.hostPath, "type": "CharDevice"}
        for mp in c.mountPoints or []:
            volume = next(v for v in definition.volumes or [] if v.name == mp.sourceVolume)
            claim = volume_claim(volume)
            if claim is not None:
                mount = mounts[mp.containerPath]
                assert volumes[mount["name"]]["persistentVolumeClaim"] == {"claimName": claim[0]}
                assert mount.get("subPath") == claim[1]
        if c.systemControls:
            sysctls = {s["name"]: s["value"] for s in spec["securityContext"]["sysctls"]}
            assert all(sysctls[s.namespace] == s.value for s in c.systemControls)
    if definition.taskRoleArn:
        assert spec["serviceAccountName"] == service_account_for_role(definition.taskRoleArn)
        assert spec["automountServiceAccountToken"] is True
        assert annotations[ANNOTATION_TASK_ROLE] == definition.taskRoleArn
    else:
        assert spec["automountServiceAccountToken"] is False
    if definition.executionRoleArn:
        assert annotations[ANNOTATION_EXECUTION_ROLE] == definition.executionRoleArn
    for key, value in platform_selector(definition).items():
        assert spec["nodeSelector"][key] == value
    if platform_selector(definition).get("kubernetes.io/os") == "windows":
        assert spec["os"] == {"name": "windows"}


# The fields that refer to AWS (docs/mapping.md, "AWS references"), with values good and odd.
AWS_CONTAINER_FIELDS: dict[str, list[Any]] = {
    "secrets": [[{"name": "DB", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf:password::"}],
                [{"name": "K", "valueFrom": "/a/b/c"}], [{"name": "K"}], [{"valueFrom": ""}], "x"],
    "environmentFiles": [[{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}], [{"value": "s3://b/k"}],
                         [{"value": "arn:aws:s3:::b/k", "type": "ftp"}]],
    "repositoryCredentials": [{"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:reg-AbCdEf"}, {}],
    "resourceRequirements": [[{"type": "GPU", "value": "1"}], [{"type": "GPU", "value": 2}],
                             [{"type": "GPU", "value": "-1"}], [{"type": "InferenceAccelerator", "value": "d"}],
                             [{"type": "TPU", "value": "1"}]],
    "systemControls": [[{"namespace": "net.core.somaxconn", "value": "1024"}],
                       [{"namespace": "vm.swappiness", "value": "1"}], [{"namespace": ""}]],
    "linuxParameters": [{"tmpfs": [{"containerPath": "/run", "size": 64, "mountOptions": ["ro"]}]},
                        {"sharedMemorySize": 0}, {"devices": [{"hostPath": "/dev/fuse"}]},
                        {"initProcessEnabled": "yes"}, {"tmpfs": [{"containerPath": "run", "size": -1}]}],
    "logConfiguration": [{"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
                         {"logDriver": "awsfirelens", "secretOptions": [{"name": "k", "valueFrom": "/dd"}]},
                         {"logDriver": "nope"}, {"options": {"a": 1}}],
    "dockerLabels": [{"com.example.team": "web"}, {"bad key!": "v"}, {"a": 1}],
}
AWS_TASK_FIELDS: dict[str, list[Any]] = {
    "runtimePlatform": [{"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE"}, {"cpuArchitecture": "ARM64"},
                        {"cpuArchitecture": "MIPS"}],
    "taskRoleArn": ["arn:aws:iam::123456789012:role/app", "app", 7],
    "executionRoleArn": ["arn:aws:iam::123456789012:role/exec"],
    "inferenceAccelerators": [[], [{"deviceName": "d", "deviceType": "eia2.medium"}]],
    "cpu": [256, ".25 vcpu", "0.5 VCPU", 1.5, None], "memory": [512, ".5 gb", "1 GB", None],
    "volumes": [[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/x"}}],
                [{"name": "fsx", "fsxWindowsFileServerVolumeConfiguration": {
                    "fileSystemId": "fs-2", "rootDirectory": "share",
                    "authorizationConfig": {"credentialsParameter": "arn:x", "domain": "example.com"}}}],
                [{"name": "d", "dockerVolumeConfiguration": {"scope": "shared"}}],
                [{"name": "e", "efsVolumeConfiguration": {}}]],
}
