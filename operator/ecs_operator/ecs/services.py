"""The ECSService custom resource's spec: ECS's CreateService request, in ECS's names.

As in models.py, every refusal is made twice with the same text: at admission by a CEL rule in
the CRD (`kubectl apply` names the field) and by the pydantic model (the API layer and the
operator say the same). Transition rules (immutable fields) exist only at admission: they need the
old object. Real ECS fields this re-implementation does not use are accepted and listed by
`ServiceSpec.ignored_fields()`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from .errors import InvalidInput
from .models import ECS_NAME, EcsModel, Ignored, Name, PlacementConstraint, PlacementStrategy, cel

# --------------------------------------------------------------------------- messages (CEL and pydantic)

# ECS's own InvalidParameterException texts, prefixed with the field as every message here is.
DAEMON_DESIRED_COUNT = (
    "desiredCount: The daemon scheduling strategy does not support a desired count for services. "
    "Remove the desired count value and try again")
DAEMON_PLACEMENT_STRATEGY = (
    "placementStrategy: The daemon scheduling strategy does not support placement strategies. "
    "Remove the placement strategy and try again")
DAEMON_MAXIMUM_PERCENT = (
    "deploymentConfiguration.maximumPercent: The daemon scheduling strategy does not support values above "
    "100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again")
# Ours, where ECS's exact text is not known.
REPLICA_DESIRED_COUNT = "desiredCount: required for the REPLICA scheduling strategy (the default)"
DAEMON_FARGATE = "launchType: the DAEMON scheduling strategy does not support the FARGATE launch type"
THRESHOLD_PERCENT = "value: a percentage (BOUNDED_PERCENT, UNBOUNDED_PERCENT) must be 1-100"
TAG_KEY_RESERVED = "key: the aws: prefix is reserved for AWS use"
TAG_VALUE_RESERVED = "value: the aws: prefix is reserved for AWS use"
SERVICE_NAME_FROM_METADATA = (
    "serviceName: required when metadata.name is not an ECS service name "
    "(up to 255 letters, digits, '-' and '_'; no '.')")
# Admission only (transition rules: ECS cannot change these on a service).
CLUSTER_IMMUTABLE = "cluster is immutable: create a new service"
SERVICE_NAME_IMMUTABLE = "serviceName is immutable: create a new service"
SCHEDULING_STRATEGY_IMMUTABLE = "schedulingStrategy is immutable: create a new service"

# Deployment defaults, by scheduling strategy [BC DeploymentConfiguration]: (minimum, maximum).
DEFAULT_PERCENTS = {"REPLICA": (100, 200), "DAEMON": (0, 100)}
# The circuit breaker's BOUNDED_PERCENT clamp [DG-cur: "minimum 3"; historically 10].
THRESHOLD_MIN, THRESHOLD_MAX = 3, 200

_RESERVED_PREFIX = "^[aA][wW][sS]:"  # RE2 and Python alike; "aws:" in any case
_FAMILY = r"[A-Za-z0-9_-]{1,255}"
_REVISION = r"[1-9][0-9]{0,8}"
SERVICE_TASK_DEFINITION = (
    rf"^({_FAMILY}(:{_REVISION})?|arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{{12}}:task-definition/{_FAMILY}:{_REVISION})$"
)
INT32_MAX = 2**31 - 1


# --------------------------------------------------------------------------- parts


class Tag(EcsModel):
    """A resource tag, as ECS's Tag: the `aws:` prefix (any case) is reserved for keys and values."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel(f"!self.key.matches('{_RESERVED_PREFIX}')", TAG_KEY_RESERVED, ".key"),
        cel(f"!has(self.value) || !self.value.matches('{_RESERVED_PREFIX}')", TAG_VALUE_RESERVED, ".value"),
    ]})

    key: Annotated[str, Field(min_length=1, max_length=128)] = Field(description="Tag key (1-128 characters).")
    value: Annotated[str, Field(max_length=256)] | None = Field(None, description="Tag value (0-256 characters).")

    @model_validator(mode="after")
    def _not_reserved(self) -> Tag:
        problems = []
        if re.match(_RESERVED_PREFIX, self.key):
            problems.append(TAG_KEY_RESERVED)
        if self.value is not None and re.match(_RESERVED_PREFIX, self.value):
            problems.append(TAG_VALUE_RESERVED)
        if problems:
            raise InvalidInput(problems)
        return self


class ThresholdConfiguration(EcsModel):
    """When the circuit breaker trips: a share of the desired count, or a number of failed tasks."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel("self.type == 'COUNT' || self.value <= 100", THRESHOLD_PERCENT, ".value"),
    ]})

    type: Literal["BOUNDED_PERCENT", "UNBOUNDED_PERCENT", "COUNT"] = Field(
        description="BOUNDED_PERCENT: value% of the desired count, clamped to 3-200 failed tasks; "
        "UNBOUNDED_PERCENT: the same without the clamp; COUNT: value failed tasks.",
    )
    value: int = Field(ge=1, le=INT32_MAX, description="Percentage (1-100) or count (at least 1).")

    @model_validator(mode="after")
    def _percent_range(self) -> ThresholdConfiguration:
        if self.type != "COUNT" and self.value > 100:
            raise InvalidInput([THRESHOLD_PERCENT])
        return self


class DeploymentCircuitBreaker(EcsModel):
    """Fail (and optionally roll back) a deployment whose tasks keep failing."""

    enable: bool = Field(description="Turn the circuit breaker on.")
    rollback: bool = Field(description="On failure, roll back to the last COMPLETED deployment.")
    resetOnHealthyTask: bool | None = Field(
        None, description="Default true: the failure count restarts at 0 whenever a task becomes healthy.",
    )
    thresholdConfiguration: ThresholdConfiguration | None = Field(
        None, description="Default BOUNDED_PERCENT 50.",
    )

    @property
    def resets_on_healthy_task(self) -> bool:
        return self.resetOnHealthyTask is not False

    def threshold(self, desired_count: int) -> int:
        """Failed tasks that trip the breaker, for the service's latest desired count [DG-cur]."""
        config = self.thresholdConfiguration or ThresholdConfiguration(type="BOUNDED_PERCENT", value=50)
        if config.type == "COUNT":
            return config.value
        count = math.ceil(config.value * desired_count / 100)
        if config.type == "UNBOUNDED_PERCENT":
            return max(count, 1)
        return min(max(count, THRESHOLD_MIN), THRESHOLD_MAX)


# Values of ignored fields that ask for what happens anyway: not reported as ignored.
HARMLESS: dict[str, list[Any]] = {
    "strategy": ["ROLLING"],
    "bakeTimeInMinutes": [0],
    "deploymentController": [{"type": "ECS"}],
    "availabilityZoneRebalancing": ["DISABLED"],
}


def _is_set(name: str, value: Any) -> bool:
    """An ignored field that asks for something: not absent, false, empty or harmless."""
    return value is not None and value is not False and value not in ([], {}, "") and value not in HARMLESS.get(
        name, [])


IGNORED_DEPLOYMENT_FIELDS = (
    "alarms", "strategy", "bakeTimeInMinutes", "lifecycleHooks", "linearConfiguration", "canaryConfiguration",
    "earlySuccessCriteria",
)


class DeploymentConfiguration(EcsModel):
    """Rolling-update bounds. Empty ({}) is valid: unset values take ECS's defaults for the scheduling
    strategy (REPLICA: minimum 100, maximum 200; DAEMON: minimum 0, maximum 100)."""

    minimumHealthyPercent: int | None = Field(
        None, ge=0, le=100,
        description="Tasks that must stay RUNNING and healthy during a deployment, as a percentage of the "
        "desired count, rounded up (0-100; default 100 for REPLICA, 0 for DAEMON).",
    )
    maximumPercent: int | None = Field(
        None, ge=100, le=200,
        description="Tasks that may be RUNNING or PENDING during a deployment, as a percentage of the desired "
        "count, rounded down (100-200; default 200 for REPLICA; DAEMON allows only 100).",
    )
    deploymentCircuitBreaker: DeploymentCircuitBreaker | None = None

    alarms: Any = Ignored("CloudWatch alarms are not watched.")
    strategy: Any = Ignored("deployments are always rolling updates (ROLLING).")
    bakeTimeInMinutes: Any = Ignored("no bake time: only blue/green, linear and canary deployments use it.")
    lifecycleHooks: Any = Ignored("no deployment lifecycle hooks (Lambda functions) are called.")
    linearConfiguration: Any = Ignored("no linear traffic shifting.")
    canaryConfiguration: Any = Ignored("no canary traffic shifting.")
    earlySuccessCriteria: Any = Ignored("a deployment completes only when all its tasks are healthy.")


# --------------------------------------------------------------------------- the service


IGNORED_SERVICE_FIELDS = (
    "loadBalancers", "serviceRegistries", "networkConfiguration", "enableECSManagedTags", "enableExecuteCommand",
    "capacityProviderStrategy", "platformVersion", "role", "deploymentController", "serviceConnectConfiguration",
    "volumeConfigurations", "vpcLatticeConfigurations", "availabilityZoneRebalancing", "clientToken",
)

_DAEMON = "self.schedulingStrategy == 'DAEMON'"


class ServiceSpec(EcsModel):
    """An ECS service as ECS's CreateService takes it: keep desiredCount tasks (REPLICA), or one task
    on each container instance (DAEMON), of one task definition, replacing them by rolling updates."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        cel(f"!({_DAEMON}) || !has(self.desiredCount)", DAEMON_DESIRED_COUNT, ".desiredCount"),
        cel(f"{_DAEMON} || has(self.desiredCount)", REPLICA_DESIRED_COUNT, ".desiredCount"),
        cel(f"!({_DAEMON}) || !has(self.placementStrategy) || size(self.placementStrategy) == 0",
            DAEMON_PLACEMENT_STRATEGY, ".placementStrategy"),
        cel(f"!({_DAEMON}) || !has(self.deploymentConfiguration) || "
            "!has(self.deploymentConfiguration.maximumPercent) || self.deploymentConfiguration.maximumPercent <= 100",
            DAEMON_MAXIMUM_PERCENT, ".deploymentConfiguration.maximumPercent"),
        cel(f"!({_DAEMON}) || !has(self.launchType) || self.launchType != 'FARGATE'", DAEMON_FARGATE,
            ".launchType"),
        cel("self.cluster == oldSelf.cluster", CLUSTER_IMMUTABLE, ".cluster"),
        cel("self.schedulingStrategy == oldSelf.schedulingStrategy", SCHEDULING_STRATEGY_IMMUTABLE,
            ".schedulingStrategy"),
    ]})

    cluster: Name = Field("default", description="ECSCluster name (in this namespace). Immutable.")
    serviceName: Name | None = Field(
        None, description="Service name, unique in the cluster (up to 255 letters, digits, '-' and '_'; "
        "default: metadata.name). Immutable.",
    )
    taskDefinition: Annotated[str, Field(min_length=1, max_length=512, pattern=SERVICE_TASK_DEFINITION)] = Field(
        description='"family" (its latest ACTIVE revision), "family:revision", or a task definition ARN '
        "(arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>). A change starts a deployment.",
    )
    desiredCount: int | None = Field(
        None, ge=0, le=100000,
        description="Number of tasks to keep running. Required for REPLICA; not allowed for DAEMON (one task "
        "per container instance). A change does not start a deployment.",
    )
    schedulingStrategy: Literal["REPLICA", "DAEMON"] = Field(
        "REPLICA", description="REPLICA: desiredCount tasks placed across the cluster; DAEMON: one task on each "
        "container instance. Immutable.",
    )
    launchType: Literal["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"] | None = Field(
        None, description="Recorded and echoed; every task runs as a Pod on the cluster's nodes.",
    )
    deploymentConfiguration: DeploymentConfiguration | None = None
    placementConstraints: list[PlacementConstraint] | None = Field(
        None, max_length=10, description="Where tasks may run (with the task definition's own: at most 10).",
    )
    placementStrategy: list[PlacementStrategy] | None = Field(
        None, max_length=5, description="How tasks are spread or packed (at most 5 rules; not for DAEMON).",
    )
    healthCheckGracePeriodSeconds: int = Field(
        0, ge=0, le=INT32_MAX,
        description="Seconds after a task starts during which failed health checks do not get it replaced.",
    )
    propagateTags: Literal["NONE", "TASK_DEFINITION", "SERVICE"] | None = Field(
        None, description="Copy the service's or the task definition's tags to new tasks (default NONE).",
    )
    tags: list[Tag] | None = Field(None, max_length=50, description="At most 50 tags.")
    forceNewDeploymentToken: Annotated[str, Field(max_length=128)] | None = Field(
        None, description="Not an ECS field: any new value starts a new deployment of the same task definition, "
        "as UpdateService --force-new-deployment does.",
    )

    loadBalancers: Any = Ignored("no load balancers are registered; use a Kubernetes Service.")
    serviceRegistries: Any = Ignored("no Cloud Map registration; use a Kubernetes Service.")
    networkConfiguration: Any = Ignored("tasks use the Pod network (no subnets or security groups).")
    enableECSManagedTags: Any = Ignored("no ECS managed tags are added.")
    enableExecuteCommand: Any = Ignored("use kubectl exec.")
    capacityProviderStrategy: Any = Ignored("no capacity providers: tasks run on the cluster's nodes.")
    platformVersion: Any = Ignored("no Fargate platform versions.")
    role: Any = Ignored("no IAM roles.")
    deploymentController: Any = Ignored("always the ECS rolling-update controller.")
    serviceConnectConfiguration: Any = Ignored("no Service Connect; use a Kubernetes Service.")
    volumeConfigurations: Any = Ignored("no EBS volumes are configured at launch.")
    vpcLatticeConfigurations: Any = Ignored("no VPC Lattice.")
    availabilityZoneRebalancing: Any = Ignored("tasks are not rebalanced across zones.")
    clientToken: Any = Ignored("the resource's name makes creation idempotent.")

    @model_validator(mode="after")
    def _ecs_rules(self) -> ServiceSpec:
        problems = service_problems(self)
        if problems:
            raise InvalidInput(problems)
        return self

    @property
    def is_daemon(self) -> bool:
        return self.schedulingStrategy == "DAEMON"

    def name(self, default: str) -> str:
        """The ECS service name: serviceName, else `default` (metadata.name), which must be an ECS name."""
        if self.serviceName is not None:
            return self.serviceName
        if not re.fullmatch(ECS_NAME, default):
            raise InvalidInput([SERVICE_NAME_FROM_METADATA])
        return default

    def task_definition_ref(self) -> str:
        """taskDefinition as "family" or "family:revision" (an ARN reduced to its family:revision)."""
        return self.taskDefinition.rsplit("task-definition/", 1)[-1]

    def family_and_revision(self) -> tuple[str, int | None]:
        family, _, revision = self.task_definition_ref().partition(":")
        return family, (int(revision) if revision else None)

    def effective_deployment_configuration(self) -> tuple[int, int]:
        """(minimumHealthyPercent, maximumPercent) with ECS's defaults filled in."""
        minimum, maximum = DEFAULT_PERCENTS[self.schedulingStrategy]
        config = self.deploymentConfiguration
        if config is not None:
            minimum = minimum if config.minimumHealthyPercent is None else config.minimumHealthyPercent
            maximum = maximum if config.maximumPercent is None else config.maximumPercent
        return minimum, maximum

    def circuit_breaker(self) -> DeploymentCircuitBreaker | None:
        """The circuit breaker when enabled, else None."""
        breaker = self.deploymentConfiguration.deploymentCircuitBreaker if self.deploymentConfiguration else None
        return breaker if breaker is not None and breaker.enable else None

    def ignored_fields(self) -> list[str]:
        """Paths of the real ECS fields this service sets that Kubernetes does not use. Fields set to
        false, empty, or to what happens anyway (deploymentController ECS, strategy ROLLING,
        availabilityZoneRebalancing DISABLED) are not listed: Terraform always sends some of them."""
        found = [name for name in IGNORED_SERVICE_FIELDS if _is_set(name, getattr(self, name))]
        if self.deploymentConfiguration is not None:
            found += [f"deploymentConfiguration.{name}" for name in IGNORED_DEPLOYMENT_FIELDS
                      if _is_set(name, getattr(self.deploymentConfiguration, name))]
        return found


def service_problems(spec: ServiceSpec) -> list[str]:
    """The CRD's CEL rules (all but the transition rules), for the API layer and the operator."""
    problems: list[str] = []
    if spec.is_daemon:
        if spec.desiredCount is not None:
            problems.append(DAEMON_DESIRED_COUNT)
        if spec.placementStrategy:
            problems.append(DAEMON_PLACEMENT_STRATEGY)
        config = spec.deploymentConfiguration
        if config is not None and config.maximumPercent is not None and config.maximumPercent > 100:
            problems.append(DAEMON_MAXIMUM_PERCENT)
        if spec.launchType == "FARGATE":
            problems.append(DAEMON_FARGATE)
    elif spec.desiredCount is None:
        problems.append(REPLICA_DESIRED_COUNT)
    return problems


def service_root_rules() -> list[dict[str, Any]]:
    """Rules on the whole ECSService object: they need metadata.name, the default serviceName."""
    effective = "(has({o}.spec.serviceName) ? {o}.spec.serviceName : {o}.metadata.name)"
    return [
        cel(f"has(self.spec.serviceName) || self.metadata.name.matches('{ECS_NAME}')",
            SERVICE_NAME_FROM_METADATA, ".spec.serviceName"),
        cel(f"{effective.format(o='self')} == {effective.format(o='oldSelf')}", SERVICE_NAME_IMMUTABLE,
            ".spec.serviceName"),
    ]
