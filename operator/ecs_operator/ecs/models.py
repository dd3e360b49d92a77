"""ECS resources as pydantic models, in ECS's own names and casing.

Field names are the ECS API's camelCase names on purpose: they are what users paste from
`aws ecs describe-task-definition`, what `kubectl explain` shows, and what the CRDs (generated
from these models by `make crds`) accept. The botocore ECS service model is the reference.

Validation is split in two. Rules the apiserver can check are attached as CRD constraints
(`Field` bounds, enums, and CEL rules via `cel(...)`), so `kubectl apply` rejects bad YAML with
the field named. Rules it cannot (cycles, cross-container port clashes, …) are model validators;
the operator reports them as a status condition and an Event. Both carry the field in the message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import InvalidInput

# --------------------------------------------------------------------------- helpers

# A CRD schema needs bounds on every list and string for CEL's cost estimate; these are ECS's
# own limits where it has one (10 containers per task definition) and generous otherwise.
MAX_CONTAINERS = 10
MAX_PORTS = 100
MAX_LIST = 100
MAX_NAME = 255
MAX_STRING = 4096
MAX_VOLUMES = 32  # volumes and mount points: bounds that keep the mountPoints CEL rule in budget

ECS_NAME = r"^[A-Za-z0-9_-]{1,255}$"  # container, family and cluster names in ECS
UNKNOWN: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One CEL rule for `x-kubernetes-validations`, with the field it is about."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


class EcsModel(BaseModel):
    """Strict ECS shapes: an unknown field is an error that names it (typos never vanish)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)

    def dump(self) -> dict[str, Any]:
        """The ECS JSON of this object: only what was set, in ECS's names."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


def Ignored(description: str) -> Any:
    """A real ECS field the Kubernetes translation does not use: kept, and reported as ignored."""
    return Field(None, description=f"Accepted for ECS compatibility and reported as ignored: {description}",
                 json_schema_extra=UNKNOWN)


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=ECS_NAME)]
ShortString = Annotated[str, Field(max_length=MAX_NAME)]
LongString = Annotated[str, Field(max_length=MAX_STRING)]


# --------------------------------------------------------------------------- container parts


class KeyValuePair(EcsModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="Environment variable name.")]
    value: Annotated[str, Field(max_length=MAX_STRING, description="Environment variable value.")] = ""


class PortMapping(EcsModel):
    """A port the container listens on, and optionally the instance port it is published on."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [
            cel("!has(self.hostPort) || self.hostPort == 0 || self.hostPort >= 1",
                "hostPort must be 0 (dynamic) or 1-65535", ".hostPort"),
        ]},
    )

    containerPort: int = Field(ge=1, le=65535, description="Port the container listens on (1-65535).")
    hostPort: int | None = Field(
        None, ge=0, le=65535,
        description="Port on the container instance. In bridge mode, 0 or absent means a dynamic port "
        "(the task is reached by its own IP); in host and awsvpc modes it must equal containerPort.",
    )
    protocol: Literal["tcp", "udp"] | None = Field(None, description="tcp (default) or udp.")
    name: str | None = Field(None, max_length=64, description="Name of the port mapping (Service Connect).")
    appProtocol: Literal["http", "http2", "grpc"] | None = Field(None, description="Application protocol.")

    @property
    def effective_protocol(self) -> str:
        return self.protocol or "tcp"


class HealthCheck(EcsModel):
    """Docker-style health check: ["CMD", exe, args…] or ["CMD-SHELL", "shell command"]."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.command[0] in ['CMD', 'CMD-SHELL']",
            "healthCheck.command must start with CMD or CMD-SHELL", ".command"),
    ]})

    command: list[LongString] = Field(min_length=2, max_length=MAX_LIST,
                                      description='["CMD", exe, args…] or ["CMD-SHELL", command].')
    interval: int | None = Field(None, ge=5, le=300, description="Seconds between checks (5-300, default 30).")
    timeout: int | None = Field(None, ge=2, le=60, description="Seconds before a check fails (2-60, default 5).")
    retries: int | None = Field(None, ge=1, le=10, description="Failures before unhealthy (1-10, default 3).")
    startPeriod: int | None = Field(None, ge=0, le=300,
                                    description="Grace seconds before failures count (0-300).")

    @model_validator(mode="after")
    def _cmd_prefix(self) -> HealthCheck:
        if self.command[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError("command must start with CMD or CMD-SHELL")
        return self


class ContainerDependency(EcsModel):
    containerName: Name = Field(description="The container this one waits for.")
    condition: Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"] = Field(
        description="START: it has started; COMPLETE: it has exited; SUCCESS: it exited 0; "
        "HEALTHY: its healthCheck passed."
    )


# An absolute path in a Linux container ("/data") or a Windows one ("C:\\data", "\\\\.\\pipe\\x").
CONTAINER_PATH = r"^(/|[A-Za-z]:[\\/]|\\\\)"


def is_windows_path(path: str | None) -> bool:
    return bool(path) and bool(re.match(r"^([A-Za-z]:[\\/]|\\\\)", path or ""))


class MountPoint(EcsModel):
    sourceVolume: Name = Field(description="Name of a volume of the task definition.")
    containerPath: Annotated[str, Field(min_length=1, max_length=MAX_STRING, pattern=CONTAINER_PATH)] = Field(
        description="Absolute path in the container: /data, or on Windows C:\\data or \\\\.\\pipe\\name."
    )
    readOnly: bool | None = Field(None, description="Mount read-only (default false).")


class VolumeFrom(EcsModel):
    sourceContainer: Name = Field(description="Container whose mount points this one also mounts.")
    readOnly: bool | None = Field(None, description="Mount them read-only (default false).")


class KernelCapabilities(EcsModel):
    add: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=64, description="Linux capabilities to add (refused unless the cluster allows them)."
    )
    drop: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=64, description="Linux capabilities to drop."
    )


class Device(EcsModel):
    hostPath: Annotated[str, Field(min_length=1, max_length=MAX_STRING, pattern=r"^/")] = Field(
        description="Device on the instance, e.g. /dev/dri/renderD128 (a hostPath CharDevice volume; needs the "
        "ECSCluster policy allowHostPath).")
    containerPath: Annotated[str, Field(max_length=MAX_STRING, pattern=r"^/")] | None = Field(
        None, description="Where the device appears in the container (default: hostPath).")
    permissions: list[Literal["read", "write", "mknod"]] | None = Field(
        None, max_length=3, description="Accepted; device cgroup permissions are not applied.")


class Tmpfs(EcsModel):
    containerPath: Annotated[str, Field(min_length=1, max_length=MAX_STRING, pattern=r"^/")] = Field(
        description="Mount point of the memory-backed volume (emptyDir medium Memory).")
    size: int = Field(ge=1, le=2**31 - 1, description="Size in MiB (the emptyDir's sizeLimit).")
    mountOptions: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=MAX_LIST, description='"ro" makes the mount read-only; other options are not applied.')


class LinuxParameters(EcsModel):
    capabilities: KernelCapabilities | None = None
    initProcessEnabled: bool | None = Field(
        None, description="true: the task's Pod shares one process namespace (shareProcessNamespace), whose first "
        "process, the Pod's pause process, reaps zombies as an init would.")
    devices: list[Device] | None = Field(None, max_length=MAX_LIST,
                                         description="Host devices, mounted as hostPath CharDevice volumes.")
    sharedMemorySize: int | None = Field(None, ge=1, le=2**31 - 1,
                                         description="/dev/shm size in MiB (a memory-backed emptyDir at /dev/shm).")
    tmpfs: list[Tmpfs] | None = Field(None, max_length=MAX_LIST,
                                      description="tmpfs mounts (memory-backed emptyDir volumes).")
    maxSwap: Any = Ignored("swap is not configured per container.")
    swappiness: Any = Ignored("swap is not configured per container.")


class Secret(EcsModel):
    """An environment variable (or log driver option) whose value comes from Secrets Manager or SSM:
    here a key of a Kubernetes Secret named by the rule in docs/mapping.md."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        description="Environment variable (or log option) name.")
    valueFrom: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="Secrets Manager ARN (optionally :json-key:version-stage:version-id), SSM parameter ARN, or "
        "SSM parameter name: becomes secretKeyRef of the Secret the rule names.")


class EnvironmentFile(EcsModel):
    value: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="S3 object ARN of a .env file: becomes envFrom of the ConfigMap the rule names.")
    type: Literal["s3"] = Field(description="s3.")


class RepositoryCredentials(EcsModel):
    credentialsParameter: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="Secrets Manager ARN of the registry credentials: becomes imagePullSecrets of the "
        "kubernetes.io/dockerconfigjson Secret the rule names.")


class ResourceRequirement(EcsModel):
    value: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="GPU: the number of GPUs (limits of the cluster's GPU resource, nvidia.com/gpu by default).")
    type: Literal["GPU", "InferenceAccelerator"]

    @model_validator(mode="before")
    @classmethod
    def _number_as_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), int) and not isinstance(data["value"], bool):
            return {**data, "value": str(data["value"])}
        return data


class LogConfiguration(EcsModel):
    logDriver: Literal["json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens",
                       "logentries", "sumologic"] = Field(
        description="Kept on the Pod (annotation ecs.compat.dev/log-configuration) for log agents; the "
        "container logs to stdout, which Kubernetes collects (kubectl logs).")
    options: dict[Annotated[str, Field(max_length=MAX_NAME)], Annotated[str, Field(max_length=MAX_STRING)]] | None = (
        Field(None, max_length=MAX_LIST, description="Log driver options, as given."))
    secretOptions: list[Secret] | None = Field(None, max_length=MAX_LIST)


class SystemControl(EcsModel):
    namespace: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        description="A namespaced sysctl, e.g. net.core.somaxconn (Pod securityContext.sysctls).")
    value: Annotated[str, Field(max_length=MAX_NAME)] = Field(description="Its value.")


UlimitName = Literal["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                     "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]


class Ulimit(EcsModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.softLimit <= self.hardLimit", "ulimit softLimit must not exceed hardLimit", ".softLimit"),
    ]})

    name: UlimitName
    softLimit: int = Field(ge=-1)
    hardLimit: int = Field(ge=-1)

    @model_validator(mode="after")
    def _soft_within_hard(self) -> Ulimit:
        if self.softLimit > self.hardLimit:
            raise ValueError(f"softLimit ({self.softLimit}) must not exceed hardLimit ({self.hardLimit})")
        return self


# --------------------------------------------------------------------------- container definition

# The dev cluster's kwok test facility (devcluster/kwok-stages.yaml): a container's dockerLabels
# entry `<prefix><its name>: "<exit code>"` becomes a Pod annotation that makes kwok exit that
# container once it runs (exit.) or fail it on start (fail-start.). Inert on any other cluster.
KWOK_FACILITY_PREFIXES = ("exit.kwok.ecs-operator.dev/", "fail-start.kwok.ecs-operator.dev/")

IGNORED_CONTAINER_FIELDS = (
    "restartPolicy", "startTimeout", "versionConsistency", "hostname", "disableNetworking", "dnsServers",
    "dnsSearchDomains", "dockerSecurityOptions", "interactive", "pseudoTerminal", "firelensConfiguration",
    "credentialSpecs",
)


class ContainerDefinition(EcsModel):
    """One container of a task, as in ECS's ContainerDefinition."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("!has(self.memory) || !has(self.memoryReservation) || self.memory >= self.memoryReservation",
            "memory (hard limit) must be at least memoryReservation (soft limit)", ".memoryReservation"),
        cel("!has(self.links) || self.links.all(l, l.split(':')[0] != self.name)",
            "links: a container cannot link to itself", ".links"),
        cel("!has(self.dependsOn) || self.dependsOn.all(d, d.containerName != self.name)",
            "dependsOn: a container cannot depend on itself", ".dependsOn"),
    ]})

    name: Name = Field(description="Container name, unique in the task (letters, digits, '_' and '-').")
    image: Annotated[str, Field(min_length=1, max_length=MAX_STRING, pattern=r"^\S+$")] = Field(
        description="Image reference, e.g. nginx:1.27 or registry/repo@sha256:…"
    )
    cpu: int | None = Field(
        None, ge=0, le=262144,
        description="CPU units (1024 = 1 vCPU): a relative share (Docker CpuShares), not a cap. "
        "Becomes requests.cpu = ceil(units*1000/1024) millicores with no CPU limit.",
    )
    memory: int | None = Field(
        None, ge=6, le=2**31 - 1,
        description="Hard memory limit in MiB: the container is killed above it (limits.memory).",
    )
    memoryReservation: int | None = Field(
        None, ge=6, le=2**31 - 1,
        description="Soft memory limit in MiB, reserved for placement (requests.memory).",
    )
    links: list[Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_-]+(:[A-Za-z0-9_.-]+)?$")]] | None = Field(  # noqa: E501
        None, max_length=MAX_CONTAINERS,
        description='Containers this one reaches by name: "name" or "name:alias" (bridge mode only).',
    )
    portMappings: list[PortMapping] | None = Field(None, max_length=MAX_PORTS)
    essential: bool | None = Field(
        None, description="Default true. When an essential container stops, the whole task stops."
    )
    entryPoint: list[LongString] | None = Field(None, max_length=MAX_LIST,
                                                description="Overrides the image ENTRYPOINT (Pod command).")
    command: list[LongString] | None = Field(None, max_length=MAX_LIST,
                                             description="Overrides the image CMD (Pod args).")
    environment: list[KeyValuePair] | None = Field(None, max_length=MAX_LIST)
    mountPoints: list[MountPoint] | None = Field(None, max_length=MAX_VOLUMES)
    volumesFrom: list[VolumeFrom] | None = Field(None, max_length=MAX_CONTAINERS)
    linuxParameters: LinuxParameters | None = None
    dependsOn: list[ContainerDependency] | None = Field(None, max_length=MAX_CONTAINERS)
    stopTimeout: int | None = Field(None, ge=0, le=120,
                                    description="Seconds between SIGTERM and SIGKILL when stopping (default 30).")
    user: ShortString | None = Field(None, description='Numeric "uid" or "uid:gid".')
    workingDirectory: LongString | None = None
    privileged: bool | None = Field(None, description="Refused unless the ECSCluster policy allows it.")
    readonlyRootFilesystem: bool | None = None
    ulimits: list[Ulimit] | None = Field(None, max_length=MAX_LIST,
                                         description="Validated; Kubernetes has no per-container ulimits.")
    healthCheck: HealthCheck | None = None
    extraHosts: list[dict[str, ShortString]] | None = Field(
        None, max_length=MAX_LIST, description='Entries {"hostname", "ipAddress"} added to /etc/hosts.'
    )

    repositoryCredentials: RepositoryCredentials | None = None
    restartPolicy: Any = Ignored("containers of a task are not restarted.")
    environmentFiles: list[EnvironmentFile] | None = Field(None, max_length=10)
    secrets: list[Secret] | None = Field(None, max_length=MAX_LIST)
    startTimeout: Any = Ignored("no per-container start timeout.")
    versionConsistency: Any = Ignored("image digests are not pinned.")
    hostname: Any = Ignored("containers of a task share the Pod's hostname.")
    disableNetworking: Any = Ignored("containers of a task share the Pod network.")
    dnsServers: Any = Ignored("DNS comes from the cluster.")
    dnsSearchDomains: Any = Ignored("DNS comes from the cluster.")
    dockerSecurityOptions: Any = Ignored("no Docker security options on Kubernetes.")
    interactive: Any = Ignored("no stdin.")
    pseudoTerminal: Any = Ignored("no TTY.")
    dockerLabels: Any = Field(None, description="Become Pod annotations (and labels where valid as labels); all "
                              "of them also in annotation ecs.compat.dev/docker-labels.", json_schema_extra=UNKNOWN)
    logConfiguration: LogConfiguration | None = None
    systemControls: list[SystemControl] | None = Field(None, max_length=MAX_LIST)
    resourceRequirements: list[ResourceRequirement] | None = Field(None, max_length=2)
    firelensConfiguration: Any = Ignored("no FireLens.")
    credentialSpecs: Any = Ignored("no gMSA credential specs.")

    @property
    def is_essential(self) -> bool:
        return self.essential is not False

    def kwok_facility_labels(self) -> dict[str, str]:
        """The dockerLabels entries that are kwok test-facility requests for this container (key: a
        facility prefix and this container's name, ECS or Kubernetes spelling), as given."""
        if not isinstance(self.dockerLabels, dict):
            return {}
        names = {self.name, kube_container_name(self.name)}
        return {key: value for key, value in self.dockerLabels.items()
                if isinstance(key, str) and any(key.startswith(prefix) and key[len(prefix):] in names
                                                for prefix in KWOK_FACILITY_PREFIXES)}

    @property
    def docker_labels_ignored(self) -> bool:
        """dockerLabels is set and asks for more than the kwok test facility (which is used)."""
        if self.dockerLabels is None:
            return False
        facility = self.kwok_facility_labels()
        return not (facility and isinstance(self.dockerLabels, dict) and len(facility) == len(self.dockerLabels))

    def link_targets(self) -> list[tuple[str, str]]:
        """(container name, alias) for each link; the alias defaults to the name."""
        result = []
        for link in self.links or []:
            name, _, alias = link.partition(":")
            result.append((name, alias or name))
        return result


# --------------------------------------------------------------------------- task definition


class HostVolumeProperties(EcsModel):
    sourcePath: LongString | None = Field(
        None, description="Path on the instance (hostPath; refused unless the cluster allows hostPath). "
        "Absent: a scratch volume for the task (emptyDir).",
    )


StringMap = dict[Annotated[str, Field(max_length=MAX_NAME)], Annotated[str, Field(max_length=MAX_STRING)]]


class DockerVolumeConfiguration(EcsModel):
    scope: Literal["task", "shared"] | None = Field(
        None, description="task (default): a scratch volume for the task (emptyDir; medium Memory for driverOpts "
        "type tmpfs); shared: the PersistentVolumeClaim the rule names.")
    autoprovision: bool | None = Field(None, description="Accepted; the PersistentVolumeClaim is the administrator's.")
    driver: Annotated[str, Field(max_length=MAX_NAME)] | None = None
    driverOpts: StringMap | None = Field(None, max_length=MAX_LIST)
    labels: StringMap | None = Field(None, max_length=MAX_LIST)


class EfsAuthorizationConfig(EcsModel):
    accessPointId: Annotated[str, Field(max_length=MAX_NAME)] | None = None
    iam: Literal["ENABLED", "DISABLED"] | None = None


class EfsVolumeConfiguration(EcsModel):
    fileSystemId: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        description="EFS file system id: the PersistentVolumeClaim the rule names (<fileSystemId>, or "
        "<fileSystemId>-<accessPointId>), which the administrator binds to RWX storage.")
    rootDirectory: Annotated[str, Field(max_length=MAX_STRING)] | None = Field(
        None, description="Directory of the file system to mount (the mounts' subPath).")
    transitEncryption: Literal["ENABLED", "DISABLED"] | None = None
    transitEncryptionPort: int | None = Field(None, ge=0, le=65535)
    authorizationConfig: EfsAuthorizationConfig | None = None


class FSxWindowsFileServerAuthorizationConfig(EcsModel):
    credentialsParameter: Annotated[str, Field(min_length=1, max_length=2048)]
    domain: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class FSxWindowsFileServerVolumeConfiguration(EcsModel):
    fileSystemId: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        description="FSx file system id: the PersistentVolumeClaim the rule names (<fileSystemId>).")
    rootDirectory: Annotated[str, Field(min_length=1, max_length=MAX_STRING)] = Field(
        description="Directory of the share to mount (the mounts' subPath).")
    authorizationConfig: FSxWindowsFileServerAuthorizationConfig


class Volume(EcsModel):
    name: Name
    host: HostVolumeProperties | None = None
    dockerVolumeConfiguration: DockerVolumeConfiguration | None = None
    efsVolumeConfiguration: EfsVolumeConfiguration | None = None
    fsxWindowsFileServerVolumeConfiguration: FSxWindowsFileServerVolumeConfiguration | None = None
    configuredAtLaunch: Any = Ignored("volumes are not configured at launch.")


class TaskDefinitionPlacementConstraint(EcsModel):
    type: Literal["memberOf"] = Field(description="Only memberOf is allowed in a task definition.")
    expression: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="Cluster query language, e.g. attribute:ecs.instance-type in [t2.micro, t2.small]"
    )


# ECS takes "1024", "1 vCPU", "1vcpu", ".25 vcpu", "0.25 vCPU" (any case) for cpu and "2048", "2 GB", "2GB",
# ".5 gb" for memory.
TASK_CPU = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(vcpu)?\s*$", re.I)
TASK_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(gb|mb|mib|gib)?\s*$", re.I)


def _number_as_string(value: Any) -> Any:
    """ECS's task cpu and memory are strings, but a JSON number is taken as the same string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


class RuntimePlatform(EcsModel):
    operatingSystemFamily: Literal[
        "LINUX", "WINDOWS_SERVER_2016_FULL", "WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE",
        "WINDOWS_SERVER_2022_FULL", "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2025_FULL",
        "WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2004_CORE", "WINDOWS_SERVER_20H2_CORE",
    ] | None = Field(None, description="Required node label kubernetes.io/os: linux, or windows for WINDOWS_*.")
    cpuArchitecture: Literal["X86_64", "ARM64"] | None = Field(
        None, description="Required node label kubernetes.io/arch: amd64 (X86_64) or arm64 (ARM64).")


class InferenceAccelerator(EcsModel):
    deviceName: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    deviceType: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


def task_cpu_units(value: str) -> int:
    """Task-level cpu: "1024" (units) or "1 vCPU"."""
    match = TASK_CPU.match(value)
    if not match:
        raise ValueError(f'cpu {value!r} must be CPU units ("1024") or vCPUs ("1 vCPU")')
    number = float(match.group(1))
    return int(number * 1024) if match.group(2) else int(number)


def task_memory_mib(value: str) -> int:
    """Task-level memory: "2048" (MiB) or "2 GB"."""
    match = TASK_MEMORY.match(value)
    if not match:
        raise ValueError(f'memory {value!r} must be MiB ("2048") or GB ("2 GB")')
    number = float(match.group(1))
    unit = (match.group(2) or "").lower()
    return int(number * 1024) if unit in ("gb", "gib") else int(number)


IGNORED_TASK_FIELDS = (
    "tags", "proxyConfiguration", "ephemeralStorage", "enableFaultInjection", "trustedExecutionConfiguration",
)

_NAMES = "self.containerDefinitions.map(c, c.name)"


class TaskDefinition(EcsModel):
    """A task definition as ECS's RegisterTaskDefinition takes it."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.containerDefinitions.all(c, self.containerDefinitions.exists_one(d, d.name == c.name))",
            "containerDefinitions: container names must be unique", ".containerDefinitions"),
        cel("self.containerDefinitions.exists(c, !has(c.essential) || c.essential)",
            "containerDefinitions: at least one container must be essential", ".containerDefinitions"),
        cel("has(self.memory) || self.containerDefinitions.all(c, has(c.memory) || has(c.memoryReservation))",
            "containerDefinitions: each container needs memory or memoryReservation unless the task sets "
            "memory", ".containerDefinitions"),
        cel("!has(self.networkMode) || self.networkMode == 'bridge' || "
            "self.containerDefinitions.all(c, !has(c.links) || size(c.links) == 0)",
            "links: only allowed in bridge network mode", ".networkMode"),
        cel("!has(self.networkMode) || !(self.networkMode in ['host', 'awsvpc']) || "
            "self.containerDefinitions.all(c, !has(c.portMappings) || c.portMappings.all(p, "
            "!has(p.hostPort) || p.hostPort == 0 || p.hostPort == p.containerPort))",
            "portMappings: in host and awsvpc network modes hostPort must equal containerPort", ".networkMode"),
        cel("!has(self.networkMode) || self.networkMode != 'none' || "
            "self.containerDefinitions.all(c, !has(c.portMappings) || size(c.portMappings) == 0)",
            "portMappings: not allowed in network mode none", ".networkMode"),
        cel(f"self.containerDefinitions.all(c, !has(c.links) || c.links.all(l, l.split(':')[0] in {_NAMES}))",
            "links: must name a container of this task definition", ".containerDefinitions"),
        cel(f"self.containerDefinitions.all(c, !has(c.dependsOn) || c.dependsOn.all(d, d.containerName in {_NAMES}))",
            "dependsOn: containerName must name a container of this task definition", ".containerDefinitions"),
        cel(f"self.containerDefinitions.all(c, !has(c.volumesFrom) || c.volumesFrom.all(v, v.sourceContainer in {_NAMES}))",  # noqa: E501
            "volumesFrom: sourceContainer must name a container of this task definition", ".containerDefinitions"),
        cel("!has(self.volumes) || self.volumes.all(v, self.volumes.exists_one(w, w.name == v.name))",
            "volumes: volume names must be unique", ".volumes"),
        cel("self.containerDefinitions.all(c, !has(c.mountPoints) || c.mountPoints.all(m, has(self.volumes) && "
            "self.volumes.exists(v, v.name == m.sourceVolume)))",
            "mountPoints: sourceVolume must name a volume of this task definition", ".containerDefinitions"),
    ]})

    family: Name = Field(description="Task definition family: revisions are numbered within it.")
    containerDefinitions: list[ContainerDefinition] = Field(min_length=1, max_length=MAX_CONTAINERS)
    networkMode: Literal["bridge", "host", "awsvpc", "none"] | None = Field(
        None, description="bridge (default): the task's own network, links allowed; awsvpc: the same on "
        "Kubernetes, without links; host: the instance's network (needs cluster permission); none.",
    )
    cpu: Annotated[str, Field(max_length=32)] | None = Field(
        None, description='Task hard CPU limit: units ("1024") or vCPUs ("1 vCPU", ".25 vcpu") (pod-level limit).',
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )
    memory: Annotated[str, Field(max_length=32)] | None = Field(
        None, description='Task hard memory limit: MiB ("2048") or GB ("2 GB", ".5 gb") (pod-level limit).',
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )
    volumes: list[Volume] | None = Field(None, max_length=MAX_VOLUMES)
    placementConstraints: list[TaskDefinitionPlacementConstraint] | None = Field(None, max_length=10)
    requiresCompatibilities: list[Literal["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]] | None = Field(
        None, max_length=4, description="Launch types; all run as Pods here."
    )
    pidMode: Literal["host", "task"] | None = Field(
        None, description="task: containers share one process namespace; host needs cluster permission."
    )
    ipcMode: Literal["host", "task", "none"] | None = Field(
        None, description="task/none: the Pod's own IPC namespace; host needs cluster permission."
    )

    taskRoleArn: Annotated[str, Field(max_length=2048)] | None = Field(
        None, description="IAM role ARN or name: the task's Pod runs as the ServiceAccount the rule names (the "
        "role's name), with automountServiceAccountToken on.")
    executionRoleArn: Annotated[str, Field(max_length=2048)] | None = Field(
        None, description="Recorded on the Pod (annotation ecs.compat.dev/execution-role-arn); pulls and secrets "
        "use the Secrets the rules name.")
    tags: Any = Ignored("use Kubernetes labels.")
    proxyConfiguration: Any = Ignored("no App Mesh proxy.")
    inferenceAccelerators: list[InferenceAccelerator] | None = Field(
        None, max_length=MAX_LIST, description="Refused when not empty: Amazon Elastic Inference is retired.")
    ephemeralStorage: Any = Ignored("ephemeral storage is not sized.")
    runtimePlatform: RuntimePlatform | None = None
    enableFaultInjection: Any = Ignored("no fault injection.")
    trustedExecutionConfiguration: Any = Ignored("no trusted execution.")

    @model_validator(mode="before")
    @classmethod
    def _task_sizes_as_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(not isinstance(data.get(k), str | None) for k in ("cpu", "memory")):
            return {**data, **{k: _number_as_string(data[k]) for k in ("cpu", "memory") if k in data}}
        return data

    @model_validator(mode="after")
    def _ecs_rules(self) -> TaskDefinition:
        problems = task_definition_problems(self)
        if problems:
            raise InvalidInput(problems)
        return self

    @property
    def effective_network_mode(self) -> str:
        return self.networkMode or "bridge"

    def container(self, name: str) -> ContainerDefinition:
        for c in self.containerDefinitions:
            if c.name == name:
                return c
        raise KeyError(name)

    def ignored_fields(self) -> list[str]:
        """Paths of the real ECS fields this definition sets that Kubernetes does not use."""
        found = [name for name in IGNORED_TASK_FIELDS if getattr(self, name) is not None]
        for i, c in enumerate(self.containerDefinitions):
            prefix = f"containerDefinitions[{i}]"
            found += [f"{prefix}.{name}" for name in IGNORED_CONTAINER_FIELDS if getattr(c, name) is not None
                      and (name != "dockerLabels" or c.docker_labels_ignored)]
            if c.ulimits:
                found.append(f"{prefix}.ulimits")
            if c.linuxParameters:
                found += [
                    f"{prefix}.linuxParameters.{name}"
                    for name in ("maxSwap", "swappiness")
                    if getattr(c.linuxParameters, name) is not None
                ]
        for i, v in enumerate(self.volumes or []):
            found += [f"volumes[{i}].{name}" for name in ("configuredAtLaunch",) if getattr(v, name) is not None]
        return found


KUBE_CONTAINER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def kube_container_name(ecs_name: str) -> str:
    """The Kubernetes container name of an ECS container: lowercase, '_' → '-'."""
    return ecs_name.lower().replace("_", "-")


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in `graph` as a path of names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def task_definition_problems(td: TaskDefinition) -> list[str]:
    """Every ECS rule the CRD schema cannot express (and the ones it can, for the offline path)."""
    problems: list[str] = []
    containers = td.containerDefinitions
    names = [c.name for c in containers]
    mode = td.effective_network_mode
    volumes = {v.name for v in td.volumes or []}

    seen: set[str] = set()
    kube_names: dict[str, str] = {}
    volume_seen: set[str] = set()
    for i, volume in enumerate(td.volumes or []):
        if volume.name in volume_seen:
            problems.append(f"volumes[{i}].name: volume name {volume.name!r} is used twice")
        volume_seen.add(volume.name)
    task_memory: int | None = None
    if td.memory is not None:
        with contextlib.suppress(ValueError):  # a malformed value is reported with the task-level checks
            task_memory = task_memory_mib(td.memory)
    for i, c in enumerate(containers):
        path = f"containerDefinitions[{i}]"
        if c.name in seen:
            problems.append(f"{path}.name: container name {c.name!r} is used twice")
        seen.add(c.name)
        kname = kube_container_name(c.name)
        if len(kname) > 63 or not KUBE_CONTAINER_NAME.match(kname):
            problems.append(
                f"{path}.name: {c.name!r} cannot be a Kubernetes container name (at most 63 letters, digits, "
                "'-' or '_', starting and ending with a letter or digit)"
            )
        elif kname in kube_names:
            problems.append(
                f"{path}.name: {c.name!r} and {kube_names[kname]!r} both become Kubernetes container {kname!r}"
            )
        else:
            kube_names[kname] = c.name
        if c.memory is not None and c.memoryReservation is not None and c.memory < c.memoryReservation:
            problems.append(f"{path}.memoryReservation: must not exceed memory ({c.memoryReservation} > {c.memory})")
        if td.memory is None and c.memory is None and c.memoryReservation is None:
            problems.append(f"{path}.memory: set memory or memoryReservation (the task sets no memory)")
        if task_memory is not None and c.memory is not None and c.memory > task_memory:
            problems.append(f"{path}.memory: {c.memory} MiB exceeds the task's memory ({task_memory} MiB)")
        for j, entry in enumerate(c.extraHosts or []):
            name, ip = entry.get("hostname", ""), entry.get("ipAddress", "")
            if not name or not ip or not DNS_SUBDOMAIN.match(name.lower()):
                problems.append(f"{path}.extraHosts[{j}]: needs a hostname (DNS name) and an ipAddress")
                continue
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                problems.append(f"{path}.extraHosts[{j}].ipAddress: {ip!r} is not an IP address")
        if c.user is not None and not re.fullmatch(r"\d+(:\d+)?", c.user):
            problems.append(f"{path}.user: {c.user!r} must be a numeric uid or uid:gid on Kubernetes")
        for j, link in enumerate(c.link_targets()):
            target, alias = link
            lpath = f"{path}.links[{j}]"
            if mode != "bridge":
                problems.append(f"{lpath}: links are only allowed in bridge network mode (networkMode is {mode})")
            if target not in names:
                problems.append(f"{lpath}: no container named {target!r} in this task definition")
            if target == c.name:
                problems.append(f"{lpath}: a container cannot link to itself")
            if not DNS_SUBDOMAIN.match(alias.lower()) or len(alias) > 253:
                problems.append(f"{lpath}: alias {alias!r} cannot resolve on Kubernetes (host names use "
                                "letters, digits, '-' and '.')")
        for j, dep in enumerate(c.dependsOn or []):
            dpath = f"{path}.dependsOn[{j}]"
            if dep.containerName not in names:
                problems.append(f"{dpath}.containerName: no container named {dep.containerName!r}")
                continue
            if dep.containerName == c.name:
                problems.append(f"{dpath}.containerName: a container cannot depend on itself")
                continue
            target_c = td.container(dep.containerName)
            if dep.condition in ("COMPLETE", "SUCCESS") and target_c.is_essential:
                problems.append(f"{dpath}.condition: {dep.condition} cannot be used on essential container "
                                f"{dep.containerName!r}")
            if dep.condition == "HEALTHY" and target_c.healthCheck is None:
                problems.append(f"{dpath}.condition: HEALTHY needs a healthCheck on {dep.containerName!r}")
        for j, vf in enumerate(c.volumesFrom or []):
            if vf.sourceContainer not in names:
                problems.append(f"{path}.volumesFrom[{j}].sourceContainer: no container named "
                                f"{vf.sourceContainer!r}")
            elif vf.sourceContainer == c.name:
                problems.append(f"{path}.volumesFrom[{j}].sourceContainer: a container cannot mount its own volumes")
        mount_paths: set[str] = set()
        for j, mp in enumerate(c.mountPoints or []):
            if mp.sourceVolume not in volumes:
                problems.append(f"{path}.mountPoints[{j}].sourceVolume: no volume named {mp.sourceVolume!r}")
            if mp.containerPath in mount_paths:
                problems.append(f"{path}.mountPoints[{j}].containerPath: {mp.containerPath} is mounted twice")
            mount_paths.add(mp.containerPath)
        for j, pm in enumerate(c.portMappings or []):
            ppath = f"{path}.portMappings[{j}]"
            if mode in ("host", "awsvpc") and pm.hostPort not in (None, 0, pm.containerPort):
                problems.append(f"{ppath}.hostPort: must equal containerPort ({pm.containerPort}) in {mode} "
                                "network mode")
            if mode == "none":
                problems.append(f"{ppath}: port mappings are not allowed in network mode none")

    # Ports across the task: one host port once; and one network namespace per task, so two
    # containers cannot listen on the same port (Docker bridge gave each its own namespace).
    host_ports: dict[tuple[int, str], str] = {}
    container_ports: dict[tuple[int, str], str] = {}
    for i, c in enumerate(containers):
        for j, pm in enumerate(c.portMappings or []):
            ppath = f"containerDefinitions[{i}].portMappings[{j}]"
            proto = pm.effective_protocol
            host_port = pm.hostPort or (pm.containerPort if mode in ("host", "awsvpc") else 0)
            if host_port:
                key = (host_port, proto)
                if key in host_ports:
                    problems.append(f"{ppath}.hostPort: {host_port}/{proto} is already used by {host_ports[key]}")
                else:
                    host_ports[key] = f"containerDefinitions[{i}] ({c.name})"
            ckey = (pm.containerPort, proto)
            owner = container_ports.get(ckey)
            if owner is not None and owner != c.name:
                problems.append(
                    f"{ppath}.containerPort: {pm.containerPort}/{proto} is also used by container {owner!r}; the "
                    "containers of a task share one network namespace on Kubernetes, so they cannot listen "
                    "on the same port"
                )
            container_ports.setdefault(ckey, c.name)

    if not any(c.is_essential for c in containers):
        problems.append("containerDefinitions: at least one container must be essential")

    problems += _aws_reference_problems(td)

    cycle = _cycle({c.name: [t for t, _ in c.link_targets()] for c in containers})
    if cycle:
        problems.append(f"links: containers link in a cycle ({' -> '.join(cycle)})")
    cycle = _cycle({c.name: [d.containerName for d in c.dependsOn or []] for c in containers})
    if cycle:
        problems.append(f"dependsOn: containers depend on each other in a cycle ({' -> '.join(cycle)})")

    if td.cpu is not None:
        try:
            units = task_cpu_units(td.cpu)
            if not 128 <= units <= 196608:
                problems.append(f"cpu: {td.cpu!r} is {units} units; a task's cpu must be 128-196608 units")
            elif (total := sum(c.cpu or 0 for c in containers)) > units:
                problems.append(f"cpu: the containers' cpu ({total} units) exceeds the task's ({units})")
        except ValueError as err:
            problems.append(f"cpu: {err}")
    if td.memory is not None:
        try:
            mib = task_memory_mib(td.memory)
            if mib < 6:
                problems.append(f"memory: {td.memory!r} is below the 6 MiB minimum")
            elif (need := sum(c.memoryReservation or c.memory or 0 for c in containers)) > mib:
                problems.append(f"memory: the containers reserve {need} MiB, more than the task's {mib} MiB")
        except ValueError as err:
            problems.append(f"memory: {err}")
    return problems


EI_RETIRED = "Amazon Elastic Inference (EI) is no longer available to customers."


def _aws_reference_problems(td: TaskDefinition) -> list[str]:
    """ECS's rules for the fields that refer to AWS (GPUs, volumes, secrets), with the field named."""
    problems: list[str] = []
    if td.inferenceAccelerators:
        problems.append(f"inferenceAccelerators: {EI_RETIRED}")
    for i, c in enumerate(td.containerDefinitions):
        path = f"containerDefinitions[{i}]"
        types: set[str] = set()
        for j, req in enumerate(c.resourceRequirements or []):
            rpath = f"{path}.resourceRequirements[{j}]"
            if req.type in types:
                problems.append(f"{rpath}.type: {req.type} is given twice")
            types.add(req.type)
            if req.type == "InferenceAccelerator":
                problems.append(f"{rpath}.type: {EI_RETIRED}")
            elif not req.value.strip().isdigit() or int(req.value) < 1:
                problems.append(f"{rpath}.value: the number of GPUs must be a whole number of at least 1, "
                                f"not {req.value!r}")
        for j, secret in enumerate(c.secrets or []):
            if not secret.valueFrom.strip():
                problems.append(f"{path}.secrets[{j}].valueFrom: must not be empty")
        for j, env_file in enumerate(c.environmentFiles or []):
            if not env_file.value.startswith("arn:") or ":s3:::" not in env_file.value or "/" not in env_file.value:
                problems.append(f"{path}.environmentFiles[{j}].value: {env_file.value!r} is not an S3 object ARN "
                                "(arn:aws:s3:::bucket/key)")
    for i, volume in enumerate(td.volumes or []):
        vpath = f"volumes[{i}]"
        kinds = [k for k in ("host", "dockerVolumeConfiguration", "efsVolumeConfiguration",
                             "fsxWindowsFileServerVolumeConfiguration") if getattr(volume, k) is not None]
        if len(kinds) > 1:
            problems.append(f"{vpath}: give only one of {', '.join(kinds)}")
        efs = volume.efsVolumeConfiguration
        if efs is not None:
            auth = efs.authorizationConfig
            if auth and auth.accessPointId and efs.rootDirectory not in (None, "", "/"):
                problems.append(f"{vpath}.efsVolumeConfiguration.rootDirectory: must be omitted or set to / when "
                                "authorizationConfig.accessPointId is given (the access point sets the path)")
            if auth and (auth.accessPointId or auth.iam == "ENABLED") and efs.transitEncryption == "DISABLED":
                problems.append(f"{vpath}.efsVolumeConfiguration.transitEncryption: must be ENABLED when an access "
                                "point or IAM authorization is used")
    return problems


# --------------------------------------------------------------------------- cluster


class ClusterPolicy(EcsModel):
    """What tasks on this cluster may ask of the instances. Everything off by default."""

    allowPrivileged: bool = Field(False, description="Allow containers with privileged: true.")
    allowHostNetwork: bool = Field(False, description="Allow networkMode host (hostNetwork Pods).")
    allowHostNamespaces: bool = Field(False, description="Allow pidMode/ipcMode host (hostPID/hostIPC).")
    allowHostPath: bool = Field(False, description="Allow volumes with host.sourcePath (hostPath).")
    allowHostPorts: bool = Field(True, description="Allow static hostPort mappings (ECS's core semantics).")
    allowedCapabilities: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=64,
        description="Linux capabilities tasks may add beyond Docker's defaults (e.g. NET_ADMIN).",
    )
    allowedSysctls: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=list, max_length=64,
        description="Namespaced sysctls (systemControls) tasks may set beyond Kubernetes' safe set: names, or "
        "prefixes ending in * (e.g. net.*). The kubelets must allow them too (--allowed-unsafe-sysctls).",
    )
    podSecurity: Literal["baseline", "restricted"] = Field(
        "baseline", description="baseline: what ECS on Docker gives; restricted: also non-root, all "
        "capabilities dropped, no privilege escalation.",
    )


class ClusterSpec(EcsModel):
    """An ECS cluster: its container instances are the nodes its nodeSelector matches."""

    nodeSelector: dict[Annotated[str, Field(max_length=316)], Annotated[str, Field(max_length=63)]] | None = Field(
        None, description="Labels of this cluster's nodes (default: ecs.compat.dev/cluster=<name>).",
    )
    region: Annotated[str, Field(max_length=32, pattern=r"^[a-z0-9-]+$")] | None = Field(
        None, description="Region in ARNs (default: the operator's setting)."
    )
    accountId: Annotated[str, Field(pattern=r"^\d{12}$")] | None = Field(
        None, description="12-digit account in ARNs (default: the operator's setting)."
    )
    policy: ClusterPolicy = Field(default_factory=ClusterPolicy, json_schema_extra={"default": {}})
    gpuResourceName: Annotated[str, Field(max_length=253, pattern=r"^[a-z0-9.-]+/[A-Za-z0-9_.-]+$")] | None = Field(
        None, description="Extended resource a GPU of resourceRequirements asks for (default nvidia.com/gpu).",
    )
    drainingInstances: list[Annotated[str, Field(max_length=253)]] | None = Field(
        None, max_length=1000,
        description="Container instances (node names) to drain: they are cordoned, get no new tasks, and show "
        "DRAINING; running tasks are left alone, as ECS does for standalone tasks.",
    )


# --------------------------------------------------------------------------- task (run-task)


class ContainerOverride(EcsModel):
    name: Name = Field(description="Container to override.")
    command: list[LongString] | None = Field(None, max_length=MAX_LIST)
    environment: list[KeyValuePair] | None = Field(None, max_length=MAX_LIST)
    cpu: int | None = Field(None, ge=0, le=262144)
    memory: int | None = Field(None, ge=6, le=2**31 - 1)
    memoryReservation: int | None = Field(None, ge=6, le=2**31 - 1)
    environmentFiles: Any = Ignored("S3 environment files are not fetched.")
    resourceRequirements: Any = Ignored("GPUs are not requested.")


class TaskOverride(EcsModel):
    containerOverrides: list[ContainerOverride] | None = Field(None, max_length=MAX_CONTAINERS)
    cpu: Annotated[str, Field(max_length=32)] | None = None
    memory: Annotated[str, Field(max_length=32)] | None = None
    taskRoleArn: Any = Ignored("no IAM roles.")
    executionRoleArn: Any = Ignored("no IAM roles.")
    ephemeralStorage: Any = Ignored("ephemeral storage is not sized.")


class PlacementConstraint(EcsModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.type != 'distinctInstance' || !has(self.expression)",
            "distinctInstance takes no expression", ".expression"),
        cel("self.type != 'memberOf' || has(self.expression)", "memberOf needs an expression", ".expression"),
    ]})

    type: Literal["distinctInstance", "memberOf"]
    expression: Annotated[str, Field(min_length=1, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _expression_fits_type(self) -> PlacementConstraint:
        if self.type == "distinctInstance" and self.expression is not None:
            raise ValueError("distinctInstance takes no expression")
        if self.type == "memberOf" and self.expression is None:
            raise ValueError("memberOf needs an expression")
        return self


class PlacementStrategy(EcsModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.type != 'binpack' || (has(self.field) && self.field in ['cpu', 'memory'])",
            "binpack needs field cpu or memory", ".field"),
        cel("self.type != 'random' || !has(self.field)", "random takes no field", ".field"),
        cel("self.type != 'spread' || has(self.field)",
            "spread needs a field (instanceId, host or attribute:<name>)", ".field"),
    ]})

    type: Literal["random", "spread", "binpack"]
    field: Annotated[str, Field(max_length=MAX_NAME)] | None = None

    @model_validator(mode="after")
    def _field_fits_type(self) -> PlacementStrategy:
        if self.type == "binpack" and self.field not in ("cpu", "memory"):
            raise ValueError("binpack needs field cpu or memory")
        if self.type == "random" and self.field is not None:
            raise ValueError("random takes no field")
        if self.type == "spread" and not self.field:
            raise ValueError("spread needs a field (instanceId, host or attribute:<name>)")
        return self


TASK_DEFINITION_REF = r"^[A-Za-z0-9_-]{1,255}(:[1-9][0-9]{0,8})?$"


class TaskSpec(EcsModel):
    """A run-task request: `count` tasks of one task definition revision on one cluster."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.taskDefinition == oldSelf.taskDefinition", "taskDefinition is immutable: run a new task",
            ".taskDefinition"),
        cel("self.cluster == oldSelf.cluster", "cluster is immutable", ".cluster"),
        cel("self.count == oldSelf.count", "count is immutable", ".count"),
        cel("oldSelf.desiredStatus != 'STOPPED' || self.desiredStatus == 'STOPPED'",
            "desiredStatus: a stopped task cannot be started again", ".desiredStatus"),
    ]})

    cluster: Name = Field("default", description="ECSCluster name (in this namespace).")
    taskDefinition: Annotated[str, Field(max_length=265, pattern=TASK_DEFINITION_REF)] = Field(
        description='"family" (latest ACTIVE revision) or "family:revision".'
    )
    count: int = Field(1, ge=1, le=10, description="Number of tasks to run (1-10).")
    overrides: TaskOverride | None = None
    startedBy: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9/_-]+$")] | None = Field(
        None, description="Free tag for who started the task (up to 128 of A-Z a-z 0-9 - / _)."
    )
    group: Annotated[str, Field(max_length=MAX_NAME, pattern=r"^[A-Za-z0-9:/_.-]+$")] | None = Field(
        None, description='Task group (default "family:<family>").'
    )
    placementConstraints: list[PlacementConstraint] | None = Field(None, max_length=10)
    placementStrategy: list[PlacementStrategy] | None = Field(None, max_length=5)
    desiredStatus: Literal["RUNNING", "STOPPED"] = Field(
        "RUNNING", description="Set to STOPPED to stop the task (stop-task)."
    )
    stopReason: Annotated[str, Field(max_length=MAX_NAME)] | None = Field(
        None, description="Reason recorded when the task is stopped (stop-task --reason)."
    )

    @model_validator(mode="after")
    def _overrides_size(self) -> TaskSpec:
        if self.overrides is not None:
            size = len(self.overrides.model_dump_json(exclude_none=True))
            if size > 8192:
                raise InvalidInput([f"overrides: {size} characters, more than ECS's 8192"])
        return self

    def family_and_revision(self) -> tuple[str, int | None]:
        family, _, revision = self.taskDefinition.partition(":")
        return family, (int(revision) if revision else None)

    def effective_group(self, family: str) -> str:
        return self.group or f"family:{family}"


def cpu_millicores(units: int) -> int:
    """ECS cpu units → Kubernetes millicores, rounding up so the kubelet gives back ≥ the shares."""
    return math.ceil(units * 1000 / 1024)
