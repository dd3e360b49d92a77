"""ECS task → Kubernetes Pod: the heart of the project, as one pure function.

`task_pod(...)` takes a task definition revision, the run-task request, the cluster and the
task's index and returns the Pod manifest that runs that one task. Every rule is listed in
docs/mapping.md and tested row by row in tests/unit/test_translate.py. No Kubernetes client and
no kopf here: the reconcilers apply what this returns.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from . import arns
from .cql import HOSTNAME_LABEL, QueryError, attribute_label, combine_terms
from .errors import InvalidInput, describe_validation_error
from .labels import (
    ANNOTATION_CONTAINER_NAMES,
    ANNOTATION_DOCKER_LABELS,
    ANNOTATION_ESSENTIAL,
    ANNOTATION_EXECUTION_ROLE,
    ANNOTATION_LOG_CONFIGURATION,
    ANNOTATION_PLATFORM,
    ANNOTATION_TASK_ARN,
    ANNOTATION_TASK_ID,
    ANNOTATION_TASK_ROLE,
    CLUSTER_LABEL,
    FAMILY_LABEL,
    GROUP_LABEL,
    INDEX_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    REVISION_LABEL,
    TASK_LABEL,
)
from .models import (
    DNS_SUBDOMAIN,
    KWOK_FACILITY_PREFIXES,
    ClusterSpec,
    ContainerDefinition,
    HealthCheck,
    TaskDefinition,
    TaskSpec,
    cpu_millicores,
    is_windows_path,
    kube_container_name,
    task_cpu_units,
    task_memory_mib,
)
from .references import (
    Reference,
    config_map_for_env_file,
    secret_source,
    service_account_for_role,
    task_references,
    volume_claim,
)

DEFAULT_STOP_TIMEOUT = 30  # seconds, ECS_CONTAINER_STOP_TIMEOUT's default
# Capabilities Docker grants every container: adding one of these changes nothing, so it needs
# no permission (they are also what Pod Security "baseline" allows).
DOCKER_DEFAULT_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
BASELINE_CAPABILITIES = DOCKER_DEFAULT_CAPABILITIES - {"NET_RAW"}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                            r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
OS_LABEL, ARCH_LABEL = "kubernetes.io/os", "kubernetes.io/arch"
ARCHITECTURES = {"X86_64": "amd64", "ARM64": "arm64"}
# Sysctls Kubernetes allows every Pod (the kubelet's safe set); and the namespaced ones, which a
# cluster may allow (ECSCluster spec.policy.allowedSysctls). Others are the instance's, never a task's.
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
})
NAMESPACED_SYSCTL = re.compile(r"^(kernel\.(shm[a-z_]*|msg[a-z_]*|sem)|fs\.mqueue\..+|net\..+)$")
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "ecs.compat.dev/", "app.kubernetes.io/")
PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True)
class ClusterRef:
    """The ECS cluster a task runs on: its name and validated spec."""

    name: str
    spec: ClusterSpec


@dataclass(frozen=True)
class TaskRef:
    """Identity of one task of an ECSTask: the object's name and uid, and the task's index."""

    name: str
    namespace: str
    uid: str
    index: int = 0

    @property
    def task_id(self) -> str:
        """ECS's 32-hex task id, derived from the ECSTask's uid: stable across operator restarts."""
        return uuid.uuid5(uuid.UUID(self.uid), str(self.index)).hex

    @property
    def pod_name(self) -> str:
        return f"{self.name}-{self.index}"


def label_value(value: str) -> str:
    """`value` if it is a valid label value, else a readable prefix plus a hash (≤ 63 chars)."""
    if len(value) <= 63 and LABEL_VALUE.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:50].strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def default_node_selector(cluster: str) -> dict[str, str]:
    """The nodes of an ECS cluster that sets no nodeSelector: those labelled with its name."""
    return {CLUSTER_LABEL: label_value(cluster)}


# --------------------------------------------------------------------------- overrides


def apply_overrides(definition: TaskDefinition, spec: TaskSpec) -> TaskDefinition:
    """The task definition as this run-task's overrides change it, validated again."""
    overrides = spec.overrides
    if overrides is None:
        return definition
    body = definition.dump()
    names = [c["name"] for c in body["containerDefinitions"]]
    problems = []
    for i, override in enumerate(overrides.containerOverrides or []):
        if override.name not in names:
            problems.append(f"overrides.containerOverrides[{i}].name: no container named {override.name!r} in "
                            f"{definition.family}")
            continue
        container = body["containerDefinitions"][names.index(override.name)]
        if override.command is not None:
            container["command"] = override.command
        if override.environment is not None:
            merged = {e["name"]: e.get("value", "") for e in container.get("environment", [])}
            merged.update({e.name: e.value for e in override.environment})
            container["environment"] = [{"name": k, "value": v} for k, v in merged.items()]
        for name in ("cpu", "memory", "memoryReservation"):
            if getattr(override, name) is not None:
                container[name] = getattr(override, name)
    for role in ("taskRoleArn", "executionRoleArn"):
        if isinstance(getattr(overrides, role), str):
            body[role] = getattr(overrides, role)
    if overrides.cpu is not None:
        body["cpu"] = overrides.cpu
    if overrides.memory is not None:
        body["memory"] = overrides.memory
    if problems:
        raise InvalidInput(problems)
    try:
        return TaskDefinition.model_validate(body)
    except ValidationError as err:
        raise InvalidInput(describe_validation_error(err, prefix="overrides → taskDefinition")) from None


# --------------------------------------------------------------------------- containers


def _probe(check: HealthCheck) -> dict[str, Any]:
    if check.command[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", " ".join(check.command[1:])]
    else:
        command = list(check.command[1:])
    return {
        "exec": {"command": command},
        "periodSeconds": check.interval or 30,
        "timeoutSeconds": check.timeout or 5,
        "failureThreshold": check.retries or 3,
        "successThreshold": 1,
    }


def _resources(c: ContainerDefinition, gpu_resource: str = DEFAULT_GPU_RESOURCE) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for requirement in c.resourceRequirements or []:
        if requirement.type == "GPU":  # an extended resource: the scheduler places it only where GPUs are free
            limits[gpu_resource] = str(int(requirement.value))
    if c.cpu:  # a relative share: a request and no limit, so the kubelet sets the same CpuShares
        requests["cpu"] = f"{cpu_millicores(c.cpu)}m"
    if c.memory is not None:
        limits["memory"] = f"{c.memory}Mi"
    reserved = c.memoryReservation if c.memoryReservation is not None else c.memory
    if reserved is not None:
        requests["memory"] = f"{reserved}Mi"
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _security_context(c: ContainerDefinition, cluster: ClusterRef, path: str) -> tuple[dict[str, Any], list[str]]:
    policy = cluster.spec.policy
    restricted = policy.podSecurity == "restricted"
    problems: list[str] = []
    ctx: dict[str, Any] = {}
    if c.privileged:
        if restricted or not policy.allowPrivileged:
            problems.append(f"{path}.privileged: privileged containers are not allowed on cluster {cluster.name} "
                            "(ECSCluster spec.policy.allowPrivileged)")
        else:
            ctx["privileged"] = True
    caps = c.linuxParameters.capabilities if c.linuxParameters else None
    add = sorted({cap.upper().removeprefix("CAP_") for cap in (caps.add or [])}) if caps else []
    drop = sorted({cap.upper().removeprefix("CAP_") for cap in (caps.drop or [])}) if caps else []
    allowed = set(policy.allowedCapabilities) | (
        {"NET_BIND_SERVICE"} if restricted else BASELINE_CAPABILITIES
    )
    refused = [cap for cap in add if cap not in {a.upper().removeprefix("CAP_") for a in allowed}]
    if refused:
        problems.append(f"{path}.linuxParameters.capabilities.add: {', '.join(refused)} not allowed on cluster "
                        f"{cluster.name} (ECSCluster spec.policy.allowedCapabilities)")
    if restricted:
        drop = ["ALL"]
        ctx["allowPrivilegeEscalation"] = False
        ctx["runAsNonRoot"] = True
    capabilities: dict[str, Any] = {}
    if add and not refused:
        capabilities["add"] = add
    if drop:
        capabilities["drop"] = drop
    if capabilities:
        ctx["capabilities"] = capabilities
    if c.readonlyRootFilesystem:
        ctx["readOnlyRootFilesystem"] = True
    if c.user is not None:
        uid, _, gid = c.user.partition(":")
        ctx["runAsUser"] = int(uid)
        if gid:
            ctx["runAsGroup"] = int(gid)
        if restricted and int(uid) == 0:
            problems.append(f"{path}.user: cluster {cluster.name} runs restricted Pods, which cannot run as root")
    return ctx, problems


def _volume_names(definition: TaskDefinition) -> dict[str, str]:
    """ECS volume name → a valid, unique Kubernetes volume name."""
    names: dict[str, str] = {}
    used: set[str] = set()
    pending = []
    for volume in definition.volumes or []:
        candidate = volume.name.lower().replace("_", "-")
        if len(candidate) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", candidate) and candidate not in used:
            names[volume.name] = candidate
            used.add(candidate)
        else:
            pending.append(volume.name)
    counter = 0
    for name in pending:  # names Kubernetes cannot take: numbered ones that no other volume uses
        while f"volume-{counter}" in used:
            counter += 1
        names[name] = f"volume-{counter}"
        used.add(names[name])
    return names


def _mounts(c: ContainerDefinition, definition: TaskDefinition, volume_names: dict[str, str],
            sub_paths: dict[str, str] | None = None) -> list[dict[str, Any]]:
    mounts = []
    seen_paths = set()

    def add(source_volume: str, path: str, read_only: bool) -> None:
        if path in seen_paths:
            return
        seen_paths.add(path)
        mount: dict[str, Any] = {"name": volume_names[source_volume], "mountPath": path}
        if (sub_paths or {}).get(source_volume):
            mount["subPath"] = (sub_paths or {})[source_volume]
        if read_only:
            mount["readOnly"] = True
        mounts.append(mount)

    for mp in c.mountPoints or []:
        add(mp.sourceVolume, mp.containerPath, bool(mp.readOnly))
    for vf in c.volumesFrom or []:  # Docker --volumes-from: the source container's mounts, same paths
        for mp in definition.container(vf.sourceContainer).mountPoints or []:
            add(mp.sourceVolume, mp.containerPath, bool(mp.readOnly or vf.readOnly))
    return mounts


def _container(c: ContainerDefinition, definition: TaskDefinition, cluster: ClusterRef, path: str,
               volume_names: dict[str, str], sub_paths: dict[str, str] | None = None,
               extra_volumes: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    policy = cluster.spec.policy
    mode = definition.effective_network_mode
    out: dict[str, Any] = {"name": kube_container_name(c.name), "image": c.image}
    if c.entryPoint is not None:
        out["command"] = list(c.entryPoint)
    if c.command is not None:
        out["args"] = list(c.command)
    if c.workingDirectory:
        out["workingDir"] = c.workingDirectory
    env: dict[str, dict[str, Any]] = {}
    for e in c.environment or []:
        env[e.name] = {"name": e.name, "value": e.value}  # ECS: the last value of a repeated name wins
    for secret in c.secrets or []:  # a key of the Secret the rule names; never optional
        source = secret_source(secret.valueFrom)
        env[secret.name] = {"name": secret.name,
                            "valueFrom": {"secretKeyRef": {"name": source.name, "key": source.key}}}
    if env:
        out["env"] = list(env.values())
    if c.environmentFiles:  # environment (env) wins over the files (envFrom), as in ECS
        out["envFrom"] = [{"configMapRef": {"name": config_map_for_env_file(f.value)}} for f in c.environmentFiles]
    ports = []
    for j, pm in enumerate(c.portMappings or []):
        port: dict[str, Any] = {"containerPort": pm.containerPort, "protocol": pm.effective_protocol.upper()}
        # awsvpc: the task has its own address, so hostPort (= containerPort) reserves nothing on the instance.
        host_port = pm.hostPort if mode == "bridge" else 0
        if host_port:
            if not policy.allowHostPorts:
                problems.append(f"{path}.portMappings[{j}].hostPort: static host ports are not allowed on cluster "
                                f"{cluster.name} (ECSCluster spec.policy.allowHostPorts); omit hostPort for a "
                                "dynamic port")
            port["hostPort"] = host_port
        elif mode == "host":
            port["hostPort"] = pm.containerPort
        # Kubernetes port names are IANA service names: ≤ 15, a letter somewhere, no "--".
        if (pm.name and len(pm.name) <= 15 and PORT_NAME.match(pm.name) and re.search(r"[a-z]", pm.name)
                and "--" not in pm.name):
            port["name"] = pm.name
        ports.append(port)
    if ports:
        out["ports"] = ports
    resources = _resources(c, cluster.spec.gpuResourceName or DEFAULT_GPU_RESOURCE)
    if resources:
        out["resources"] = resources
    mounts = _mounts(c, definition, volume_names, sub_paths)
    problems += _linux_mounts(c, cluster, path, mounts, extra_volumes if extra_volumes is not None else [])
    if mounts:
        out["volumeMounts"] = mounts
    if c.healthCheck is not None:
        out["readinessProbe"] = _probe(c.healthCheck)
    ctx, sec_problems = _security_context(c, cluster, path)
    problems += sec_problems
    if ctx:
        out["securityContext"] = ctx
    return out, problems


def _linux_mounts(c: ContainerDefinition, cluster: ClusterRef, path: str, mounts: list[dict[str, Any]],
                  volumes: list[dict[str, Any]]) -> list[str]:
    """linuxParameters devices (hostPath CharDevice), tmpfs and sharedMemorySize (memory-backed
    emptyDir): mounts added to `mounts`, their volumes to `volumes`; problems named."""
    params = c.linuxParameters
    if params is None:
        return []
    problems: list[str] = []
    base = kube_container_name(c.name)
    taken = {m["mountPath"] for m in mounts}

    def add(kind: str, index: int, mount_path: str, source: dict[str, Any], read_only: bool = False) -> None:
        name = f"{kind}-{base}" + (f"-{index}" if index >= 0 else "")
        name = name[:63].rstrip("-")
        if mount_path in taken:
            problems.append(f"{path}.linuxParameters: {mount_path} is mounted twice")
            return
        taken.add(mount_path)
        volumes.append({"name": name, **source})
        mount: dict[str, Any] = {"name": name, "mountPath": mount_path}
        if read_only:
            mount["readOnly"] = True
        mounts.append(mount)

    for j, device in enumerate(params.devices or []):
        if not cluster.spec.policy.allowHostPath:
            problems.append(f"{path}.linuxParameters.devices[{j}].hostPath: host devices are not allowed on cluster "
                            f"{cluster.name} (ECSCluster spec.policy.allowHostPath)")
            continue
        add("device", j, device.containerPath or device.hostPath, {"hostPath": {"path": device.hostPath,
                                                                                "type": "CharDevice"}})
    for j, tmpfs in enumerate(params.tmpfs or []):
        add("tmpfs", j, tmpfs.containerPath, {"emptyDir": {"medium": "Memory", "sizeLimit": f"{tmpfs.size}Mi"}},
            read_only="ro" in (tmpfs.mountOptions or []))
    if params.sharedMemorySize:
        add("shm", -1, "/dev/shm", {"emptyDir": {"medium": "Memory", "sizeLimit": f"{params.sharedMemorySize}Mi"}})
    return problems


def is_windows(definition: TaskDefinition) -> bool:
    """A Windows task: runtimePlatform says so, or it uses what only Windows has (a Windows path, a
    gMSA credential spec, FSx for Windows File Server)."""
    platform = definition.runtimePlatform
    if platform and platform.operatingSystemFamily:
        return platform.operatingSystemFamily.startswith("WINDOWS")
    for volume in definition.volumes or []:
        if volume.fsxWindowsFileServerVolumeConfiguration or is_windows_path(volume.host.sourcePath if volume.host
                                                                             else None):
            return True
    for c in definition.containerDefinitions:
        if any(is_windows_path(m.containerPath) for m in c.mountPoints or []) or c.credentialSpecs:
            return True
        if isinstance(c.dockerSecurityOptions, list) and any(
                isinstance(o, str) and o.startswith("credentialspec:") for o in c.dockerSecurityOptions):
            return True
    return False


def platform_selector(definition: TaskDefinition) -> dict[str, str]:
    """runtimePlatform (or a Windows definition) → required node labels kubernetes.io/os and kubernetes.io/arch."""
    selector: dict[str, str] = {}
    platform = definition.runtimePlatform
    if is_windows(definition):
        selector[OS_LABEL] = "windows"
    elif platform and platform.operatingSystemFamily == "LINUX":
        selector[OS_LABEL] = "linux"
    if platform and platform.cpuArchitecture:
        selector[ARCH_LABEL] = ARCHITECTURES[platform.cpuArchitecture]
    return selector


def _sysctls(definition: TaskDefinition, cluster: ClusterRef) -> tuple[list[dict[str, str]], list[str]]:
    """systemControls of every container → the Pod's securityContext.sysctls (one network and IPC
    namespace per Pod, so one value per name)."""
    problems: list[str] = []
    chosen: dict[str, tuple[str, str]] = {}
    allowed = cluster.spec.policy.allowedSysctls
    for i, c in enumerate(definition.containerDefinitions):
        for j, control in enumerate(c.systemControls or []):
            where = f"containerDefinitions[{i}].systemControls[{j}].namespace"
            name = control.namespace
            if not NAMESPACED_SYSCTL.match(name):
                problems.append(f"{where}: {name} is not a namespaced sysctl (only kernel.shm*, kernel.msg*, "
                                "kernel.sem, fs.mqueue.* and net.* can be set for a task)")
                continue
            if definition.effective_network_mode == "host" and name.startswith("net."):
                problems.append(f"{where}: {name}: network sysctls cannot be set in the host network mode")
                continue
            if name not in SAFE_SYSCTLS and not any(
                    name == a or (a.endswith("*") and name.startswith(a[:-1])) for a in allowed):
                problems.append(f"{where}: {name} is not allowed on cluster {cluster.name} (ECSCluster "
                                "spec.policy.allowedSysctls)")
                continue
            if name in chosen and chosen[name][0] != control.value:
                problems.append(f"{where}: {name} is set to {chosen[name][0]!r} by {chosen[name][1]}; the containers "
                                "of a task share one Pod, so they must agree")
                continue
            chosen.setdefault(name, (control.value, c.name))
    return [{"name": k, "value": v} for k, (v, _) in sorted(chosen.items())], problems


def _docker_labels(definition: TaskDefinition) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, str]]]:
    """dockerLabels → Pod annotations (keys valid as such), labels (where the value is a valid label
    value too), and all of them per container for the annotation ecs.compat.dev/docker-labels. The
    kwok test facility's keys are handled on their own (_kwok_facility)."""
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    every: dict[str, dict[str, str]] = {}
    for c in definition.containerDefinitions:
        if not isinstance(c.dockerLabels, dict):
            continue
        facility = c.kwok_facility_labels()
        mine = {str(k): str(v) for k, v in c.dockerLabels.items() if k not in facility
                and isinstance(v, str | int | float) and not isinstance(v, bool)}
        if not mine:
            continue
        every[c.name] = mine
        for key, value in mine.items():
            if not QUALIFIED_NAME.match(key) or key.startswith(RESERVED_LABEL_PREFIXES) or "kwok" in key:
                continue
            annotations.setdefault(key, value)
            if len(value) <= 63 and LABEL_VALUE.match(value):
                labels.setdefault(key, value)
    return annotations, labels, every


def _start_order(definition: TaskDefinition) -> list[ContainerDefinition]:
    """Containers ordered so that link targets and dependencies come first (Docker's start order)."""
    containers = {c.name: c for c in definition.containerDefinitions}
    ordered: list[ContainerDefinition] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        c = containers[name]
        for target in [t for t, _ in c.link_targets()] + [d.containerName for d in c.dependsOn or []]:
            place(target)
        ordered.append(c)

    for c in definition.containerDefinitions:
        place(c.name)
    return ordered


def _init_roles(definition: TaskDefinition) -> dict[str, str]:
    """Containers other containers wait for: 'init' (run to completion) or 'sidecar' (healthy first)."""
    roles: dict[str, str] = {}
    for c in definition.containerDefinitions:
        for dep in c.dependsOn or []:
            if dep.condition in ("COMPLETE", "SUCCESS"):
                roles[dep.containerName] = "init"
            elif dep.condition == "HEALTHY":
                roles.setdefault(dep.containerName, "sidecar")
    return roles


def _kwok_facility(definition: TaskDefinition) -> tuple[dict[str, str], list[str]]:
    """Pod annotations for the dev cluster's kwok test facility, from each container's dockerLabels
    entries keyed `<facility prefix><that container's name>` (keyed by its Kubernetes name, as the
    stages read them); a value that is not an exit code is refused. Inert without those stages."""
    annotations: dict[str, str] = {}
    problems: list[str] = []
    for i, c in enumerate(definition.containerDefinitions):
        for key, value in sorted(c.kwok_facility_labels().items()):
            code = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            if not re.fullmatch(r"[0-9]{1,3}", code) or int(code) > 255:
                problems.append(f"containerDefinitions[{i}].dockerLabels[{key!r}]: the kwok test facility takes an "
                                f"exit code (0-255), not {value!r}")
                continue
            prefix = next(p for p in KWOK_FACILITY_PREFIXES if key.startswith(p))
            annotations[prefix + kube_container_name(c.name)] = str(int(code))
    return annotations, problems


# --------------------------------------------------------------------------- placement


def _affinity(definition: TaskDefinition, spec: TaskSpec, group_label: str, cluster: ClusterRef
              ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    problems: list[str] = []
    affinity: dict[str, Any] = {}
    expressions = [(f"taskDefinition.placementConstraints[{i}].expression", pc.expression)
                   for i, pc in enumerate(definition.placementConstraints or [])]
    distinct = False
    for i, pc in enumerate(spec.placementConstraints or []):
        if pc.type == "distinctInstance":
            distinct = True
        elif pc.expression:
            expressions.append((f"placementConstraints[{i}].expression", pc.expression))
    terms: list[dict[str, Any]] = []
    for where, expression in expressions:
        try:
            combine_terms([expression])
        except QueryError as err:
            problems.append(f"{where}: {err}")
    if not problems and expressions:
        try:
            terms = combine_terms([e for _, e in expressions])
        except QueryError as err:
            problems.append(f"placementConstraints: {err}")
    if terms:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    group_selector = {"matchLabels": {CLUSTER_LABEL: label_value(cluster.name), GROUP_LABEL: group_label}}
    if distinct:
        # Binding in ECS: never two tasks of the group on one instance.
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": group_selector, "topologyKey": HOSTNAME_LABEL}]}
    spread: list[dict[str, Any]] = []
    preferred: list[dict[str, Any]] = []
    for i, strategy in enumerate(spec.placementStrategy or []):
        if strategy.type == "spread":
            field = strategy.field or ""
            if field in ("instanceId", "host"):
                key = HOSTNAME_LABEL
            elif field.startswith("attribute:") and len(field) > len("attribute:"):
                key = attribute_label(field.removeprefix("attribute:"))
            else:
                problems.append(f"placementStrategy[{i}].field: spread takes instanceId, host or attribute:<name>, "
                                f"not {field!r}")
                continue
            # Best effort, like ECS strategies: skew is a preference, never a reason to stay pending.
            spread.append({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                           "labelSelector": group_selector})
        elif strategy.type == "binpack":
            # Prefer instances that already run this cluster's tasks: fill them before empty ones.
            preferred.append({"weight": 100 - 10 * i, "podAffinityTerm": {
                "labelSelector": {"matchLabels": {CLUSTER_LABEL: label_value(cluster.name)}},
                "topologyKey": HOSTNAME_LABEL}})
    if preferred:
        affinity["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": preferred}
    return affinity, spread, problems


# --------------------------------------------------------------------------- the pod


def _log_configuration(c: ContainerDefinition) -> dict[str, Any]:
    """A container's logConfiguration for log agents: the driver, its options, and where each secret
    option is (the Secret and key the rule names), never a secret's value."""
    log = c.logConfiguration
    assert log is not None
    out: dict[str, Any] = {"logDriver": log.logDriver}
    if log.options:
        out["options"] = dict(log.options)
    if log.secretOptions:
        out["secretOptions"] = [{"name": o.name, "secretKeyRef": {"name": secret_source(o.valueFrom).name,
                                                                  "key": secret_source(o.valueFrom).key}}
                                for o in log.secretOptions]
    return out


def task_needs(definition: TaskDefinition, spec: TaskSpec) -> list[Reference]:
    """The objects (and Secret keys) a task of this run-task needs in its namespace, by the rules."""
    return task_references(apply_overrides(definition, spec))


def task_pod(definition: TaskDefinition, revision: int, spec: TaskSpec, cluster: ClusterRef, task: TaskRef,
             region: str = arns.DEFAULT_REGION, account: str = arns.DEFAULT_ACCOUNT) -> dict[str, Any]:
    """The Pod that runs task `task.index` of run-task `spec`. Raises InvalidInput naming fields."""
    definition = apply_overrides(definition, spec)
    policy = cluster.spec.policy
    problems: list[str] = []
    mode = definition.effective_network_mode
    volume_names = _volume_names(definition)
    roles = _init_roles(definition)
    claims = {v.name: claim for v in definition.volumes or [] if (claim := volume_claim(v)) is not None}
    sub_paths = {name: claim[1] for name, claim in claims.items() if claim[1]}
    extra_volumes: list[dict[str, Any]] = []
    windows = is_windows(definition)

    containers: list[dict[str, Any]] = []
    init_containers: list[dict[str, Any]] = []
    index_of = {c.name: i for i, c in enumerate(definition.containerDefinitions)}
    for c in _start_order(definition):
        path = f"containerDefinitions[{index_of[c.name]}]"
        manifest, container_problems = _container(c, definition, cluster, path, volume_names, sub_paths,
                                                  extra_volumes)
        if windows:
            container_problems += [f"{path}.{f}: not supported for Windows containers" for f in (
                "privileged", "linuxParameters", "user", "readonlyRootFilesystem")
                if getattr(c, f) not in (None, False)]
        problems += container_problems
        role = roles.get(c.name)
        if role is None:
            containers.append(manifest)
            continue
        if role == "init":
            manifest.pop("readinessProbe", None)  # an init container runs to completion: never "ready"
        for j, dep in enumerate(c.dependsOn or []):
            if dep.containerName not in roles:
                problems.append(f"{path}.dependsOn[{j}]: {c.name!r} must start before the other containers (others "
                                f"wait for it), so it cannot wait for {dep.containerName!r}")
        if role == "sidecar":
            # A native sidecar: started, and healthy by its startup probe, before the main containers.
            manifest["restartPolicy"] = "Always"
            check = c.healthCheck
            if check is not None:
                probe = _probe(check)
                interval = check.interval or 30
                probe["failureThreshold"] = (check.retries or 3) + math.ceil((check.startPeriod or 0) / interval)
                manifest["startupProbe"] = probe
        init_containers.append(manifest)
    if not containers:
        problems.append("containerDefinitions: every container waits to complete before another starts; at least "
                        "one must run as the task's main container")

    family = definition.family
    group = spec.effective_group(family)
    group_label = label_value(group)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",  # ECS does not restart the containers of a task
        # One grace period for the Pod: the longest any container is given (unset means ECS's 30 s).
        "terminationGracePeriodSeconds": max(
            DEFAULT_STOP_TIMEOUT if c.stopTimeout is None else c.stopTimeout for c in definition.containerDefinitions),
        "containers": containers,
        "enableServiceLinks": False,  # Docker gave a task no environment it did not ask for
        "automountServiceAccountToken": False,  # nor credentials to the orchestrator
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if windows:  # Windows Pods take no Linux settings (the apiserver refuses them with os.name windows)
        pod_spec["os"] = {"name": "windows"}
        pod_spec["securityContext"] = {}
        if definition.pidMode or definition.ipcMode == "host":
            problems.append("pidMode: not supported for Windows tasks")
    if policy.podSecurity == "restricted":
        pod_spec["securityContext"]["runAsNonRoot"] = True
    if definition.taskRoleArn:  # the task role → the ServiceAccount the rule names, with its token
        pod_spec["serviceAccountName"] = service_account_for_role(definition.taskRoleArn)
        pod_spec["automountServiceAccountToken"] = True
    pull_secrets = []
    for c in definition.containerDefinitions:
        if c.repositoryCredentials is not None:
            name = secret_source(c.repositoryCredentials.credentialsParameter).name
            if {"name": name} not in pull_secrets:
                pull_secrets.append({"name": name})
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets
    sysctls, sysctl_problems = _sysctls(definition, cluster)
    problems += sysctl_problems
    if sysctls:
        if windows:
            problems.append("containerDefinitions: systemControls are not supported for Windows tasks")
        pod_spec["securityContext"]["sysctls"] = sysctls
    if not pod_spec["securityContext"]:
        del pod_spec["securityContext"]
    if init_containers:
        pod_spec["initContainers"] = init_containers

    # Links: one Pod is one network namespace, so a linked name or alias is this task itself.
    hostnames: set[str] = set()
    for c in definition.containerDefinitions:
        for target, alias in c.link_targets():
            hostnames.add(alias.lower())
            if DNS_SUBDOMAIN.match(target.lower()):
                hostnames.add(target.lower())
    host_aliases: dict[str, set[str]] = {}
    if hostnames:
        host_aliases["127.0.0.1"] = hostnames
    for c in definition.containerDefinitions:
        for entry in c.extraHosts or []:  # validated by the model: a DNS name and an IP address
            host_aliases.setdefault(entry["ipAddress"], set()).add(entry["hostname"].lower())
    if host_aliases:
        pod_spec["hostAliases"] = [{"ip": ip, "hostnames": sorted(names)} for ip, names in sorted(host_aliases.items())]

    if mode == "host":
        if not policy.allowHostNetwork:
            problems.append(f"networkMode: host networking is not allowed on cluster {cluster.name} "
                            "(ECSCluster spec.policy.allowHostNetwork)")
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if definition.pidMode == "task" or any(
            c.linuxParameters and c.linuxParameters.initProcessEnabled for c in definition.containerDefinitions):
        # initProcessEnabled: the Pod's pause process is PID 1 of the shared namespace and reaps zombies.
        pod_spec["shareProcessNamespace"] = True
    for field, attr in (("pidMode", "hostPID"), ("ipcMode", "hostIPC")):
        if getattr(definition, field) == "host":
            if not policy.allowHostNamespaces:
                problems.append(f"{field}: host namespaces are not allowed on cluster {cluster.name} "
                                "(ECSCluster spec.policy.allowHostNamespaces)")
            pod_spec[attr] = True

    volumes = []
    for i, volume in enumerate(definition.volumes or []):
        source = volume.host.sourcePath if volume.host else None
        if source:
            if not policy.allowHostPath:
                problems.append(f"volumes[{i}].host.sourcePath: host paths are not allowed on cluster {cluster.name} "
                                "(ECSCluster spec.policy.allowHostPath)")
            volumes.append({"name": volume_names[volume.name], "hostPath": {"path": source}})
        elif volume.name in claims:  # EFS, FSx, a shared Docker volume: the claim the rule names
            volumes.append({"name": volume_names[volume.name],
                            "persistentVolumeClaim": {"claimName": claims[volume.name][0]}})
        elif volume.dockerVolumeConfiguration and (volume.dockerVolumeConfiguration.driverOpts or {}).get(
                "type") == "tmpfs":
            volumes.append({"name": volume_names[volume.name], "emptyDir": {"medium": "Memory"}})
        else:
            volumes.append({"name": volume_names[volume.name], "emptyDir": {}})
    used_names = {v["name"] for v in volumes}
    for extra in extra_volumes:  # linuxParameters: devices, tmpfs, /dev/shm
        if extra["name"] in used_names:
            problems.append(f"volumes: a volume named {extra['name']!r} collides with the one made for "
                            "linuxParameters; rename it")
        used_names.add(extra["name"])
    volumes += extra_volumes
    if volumes:
        pod_spec["volumes"] = volumes

    task_cpu = task_cpu_units(definition.cpu) if definition.cpu else None
    task_memory = task_memory_mib(definition.memory) if definition.memory else None
    if (task_cpu or task_memory) and not windows:  # Windows Pods take no pod-level resources
        # Task-level cpu/memory are the whole task's hard limits: pod-level resources.
        limits = {}
        if task_cpu:
            # Each container's request is rounded up on its own, so their sum can pass the task's
            # rounded limit by a few millicores; the limit takes the larger (never below the requests).
            requested = sum(cpu_millicores(c.cpu) for c in definition.containerDefinitions if c.cpu)
            limits["cpu"] = f"{max(cpu_millicores(task_cpu), requested)}m"
        if task_memory:
            limits["memory"] = f"{task_memory}Mi"
        pod_spec["resources"] = {"limits": limits}

    node_selector = dict(cluster.spec.nodeSelector or default_node_selector(cluster.name))
    platform = platform_selector(definition)
    for key, value in platform.items():
        if node_selector.get(key, value) != value:
            problems.append(f"runtimePlatform: needs {key}={value}, but cluster {cluster.name}'s nodes are "
                            f"{key}={node_selector[key]} (ECSCluster spec.nodeSelector)")
    node_selector.update(platform)
    pod_spec["nodeSelector"] = node_selector
    affinity, spread, placement_problems = _affinity(definition, spec, group_label, cluster)
    problems += placement_problems
    if affinity:
        pod_spec["affinity"] = affinity
    if spread:
        pod_spec["topologySpreadConstraints"] = spread
    facility, facility_problems = _kwok_facility(definition)
    problems += facility_problems

    if problems:
        raise InvalidInput(problems)

    essential = [kube_container_name(c.name) for c in definition.containerDefinitions if c.is_essential]
    renamed = {kube_container_name(c.name): c.name for c in definition.containerDefinitions
               if kube_container_name(c.name) != c.name}
    annotations = {
        ANNOTATION_TASK_ARN: arns.task_arn(cluster.name, task.task_id, region, account),
        ANNOTATION_TASK_ID: task.task_id,
        ANNOTATION_ESSENTIAL: ",".join(essential),
    }
    if renamed:
        annotations[ANNOTATION_CONTAINER_NAMES] = json.dumps(renamed, sort_keys=True)
    docker_annotations, docker_labels, all_docker_labels = _docker_labels(definition)
    annotations.update({k: v for k, v in docker_annotations.items() if k not in annotations})
    if all_docker_labels:
        annotations[ANNOTATION_DOCKER_LABELS] = json.dumps(all_docker_labels, sort_keys=True)
    logs = {c.name: _log_configuration(c) for c in definition.containerDefinitions if c.logConfiguration}
    if logs:
        annotations[ANNOTATION_LOG_CONFIGURATION] = json.dumps(logs, sort_keys=True)
    if definition.taskRoleArn:
        annotations[ANNOTATION_TASK_ROLE] = definition.taskRoleArn
    if definition.executionRoleArn:
        annotations[ANNOTATION_EXECUTION_ROLE] = definition.executionRoleArn
    if platform:
        annotations[ANNOTATION_PLATFORM] = ",".join(f"{k}={v}" for k, v in sorted(platform.items()))
    annotations.update(facility)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": task.pod_name,
            "namespace": task.namespace,
            "labels": {
                **docker_labels,
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                CLUSTER_LABEL: label_value(cluster.name),
                FAMILY_LABEL: label_value(family),
                REVISION_LABEL: str(revision),
                TASK_LABEL: label_value(task.name),
                INDEX_LABEL: str(task.index),
                GROUP_LABEL: group_label,
            },
            "annotations": annotations,
        },
        "spec": pod_spec,
    }
