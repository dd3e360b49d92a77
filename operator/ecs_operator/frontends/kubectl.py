"""`kubectl ecs` (console script `kubectl-ecs`): the `aws ecs` verbs, on Kubernetes.

What the aws CLI is to botocore: each verb parses the aws CLI's flags into ECS's request shape,
calls the ECS API layer, and prints the answer as the aws CLI does (JSON by default, YAML or a
table), following `nextToken` on the list verbs. Errors are ECS's
(`An error occurred (ClusterNotFoundException) …`) with exit status 254, as the aws CLI's.
`wait services-stable|services-inactive|tasks-running|tasks-stopped` polls as the aws CLI's waiters
do (botocore's waiters-2.json: the same acceptors, delays and attempts; exit 255 on failure).

`convert` is the offline window onto the translation: ECS JSON in, the ECSTaskDefinition
custom resource (and with --pod, the Pod one task of it becomes on a cluster named `default`)
out, as a multi-document YAML stream, like `kompose convert` or `helm template`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from ..api import EcsError, Session, access_keys, call
from ..api.shapes import iso_timestamps
from ..ecs.errors import InvalidInput, describe_validation_error
from ..ecs.models import ClusterSpec, TaskSpec
from ..ecs.normalize import parse_task_definition
from ..ecs.references import needed_objects
from ..ecs.resources import task_definition_resource
from ..ecs.translate import ClusterRef, TaskRef, task_pod

OFFLINE_NAMESPACE = "default"
OFFLINE_CLUSTER = "default"
# Offline, nothing has a uid yet: derive a stable one so the output is reproducible.
OFFLINE_UID_NAMESPACE = uuid.UUID("2b0e4a44-9c1c-5d2e-9a55-1f0d0c7e6a01")
# The aws CLI's exit status for an error the service returned.
SERVICE_ERROR_EXIT = 254


class UsageError(Exception):
    pass


def read_cli_input(value: str) -> Any:
    """`file://path`, `file://-` or `-` (stdin), or the JSON text itself, as the aws CLI takes it."""
    if value in ("-", "file://-"):
        text = sys.stdin.read()
    elif value.startswith("file://"):
        path = value.removeprefix("file://")
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise UsageError(f"cannot read {path}: {err.strerror}") from None
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--cli-input-json is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}")\
            from None


def json_argument(option: str, text: str) -> Any:
    """A JSON-valued option, or a usage error naming it (as the aws CLI does)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise EcsError("ParamValidation", f"{option}: invalid JSON ({err.msg} at line {err.lineno} column "
                                          f"{err.colno})") from None


# --------------------------------------------------------------------------- verbs


@dataclass(frozen=True)
class Option:
    """One aws CLI flag and the request member it sets."""

    flag: str
    member: str
    kind: str = "str"  # str | int | json | list | flag (--x / --no-x, as the aws CLI's booleans)
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


@dataclass(frozen=True)
class Verb:
    name: str
    operation: str
    help: str
    options: tuple[Option, ...] = ()
    table: Callable[[dict[str, Any]], list[list[str]]] | None = None
    pages: str | None = None  # the list a List operation pages through


CLUSTER = Option("--cluster", "cluster", default="default")
TASK_DEFINITION = Option("--task-definition", "taskDefinition", required=True, metavar="FAMILY[:REVISION]")
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")


def _list_table(key: str) -> Callable[[dict[str, Any]], list[list[str]]]:
    return lambda answer: [[key.upper()]] + [[a] for a in answer[key]]


def _tasks_table(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["TASK", "LAST STATUS", "DESIRED", "TASK DEFINITION", "STOP CODE"]]
    tasks = answer.get("tasks") or ([answer["task"]] if "task" in answer else [])
    for t in tasks:
        rows.append([t["taskArn"].rsplit("/", 1)[-1], t.get("lastStatus", ""), t.get("desiredStatus", ""),
                     t.get("taskDefinitionArn", "").rsplit("/", 1)[-1], t.get("stopCode", "")])
    return rows


def _clusters_table(answer: dict[str, Any]) -> list[list[str]]:
    clusters = answer["clusters"] if "clusters" in answer else [answer["cluster"]]
    return [["CLUSTER", "STATUS", "INSTANCES", "RUNNING", "PENDING"]] + [
        [c["clusterName"], c["status"], str(c["registeredContainerInstancesCount"]), str(c["runningTasksCount"]),
         str(c["pendingTasksCount"])] for c in clusters]


def _task_definition_table(answer: dict[str, Any]) -> list[list[str]]:
    td = answer["taskDefinition"]
    return [["TASK DEFINITION", "STATUS", "CONTAINERS"],
            [f"{td['family']}:{td['revision']}", td["status"],
             ", ".join(c["name"] for c in td["containerDefinitions"])]]


def _services_table(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "ROLLOUT"]]
    for s in answer["services"] if "services" in answer else [answer["service"]]:
        deployments = s.get("deployments") or [{}]
        rows.append([s["serviceName"], s["status"], str(s["desiredCount"]), str(s["runningCount"]),
                     str(s["pendingCount"]), s.get("taskDefinition", "").rsplit("/", 1)[-1],
                     deployments[0].get("rolloutState", "")])
    return rows


def _instances_table(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["INSTANCE", "STATUS", "CPU LEFT", "MEMORY LEFT", "RUNNING", "PENDING"]]
    for i in answer["containerInstances"]:
        left = {r["name"]: r.get("integerValue") for r in i["remainingResources"]}
        rows.append([i["ec2InstanceId"], i["status"], str(left.get("CPU")), str(left.get("MEMORY")),
                     str(i["runningTasksCount"]), str(i["pendingTasksCount"])])
    return rows


VERBS = (
    Verb("create-cluster", "CreateCluster", "create an ECS cluster (an ECSCluster)",
         (Option("--cluster-name", "clusterName", default="default"),
          Option("--tags", "tags", "json", metavar="JSON")), _clusters_table),
    Verb("list-clusters", "ListClusters", "list cluster ARNs", (), _list_table("clusterArns"), "clusterArns"),
    Verb("describe-clusters", "DescribeClusters", "describe clusters",
         (Option("--clusters", "clusters", "list"),
          Option("--include", "include", "list",
                 choices=("ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"))), _clusters_table),
    Verb("register-task-definition", "RegisterTaskDefinition", "register a task definition revision",
         (Option("--cli-input-json", "", metavar="file://PATH"), Option("--family", "family"),
          Option("--container-definitions", "containerDefinitions", "json", metavar="JSON")),
         _task_definition_table),
    Verb("list-task-definitions", "ListTaskDefinitions", "list task definition ARNs",
         (Option("--family-prefix", "familyPrefix"),
          Option("--status", "status", default="ACTIVE", choices=("ACTIVE", "INACTIVE")),
          Option("--sort", "sort", default="ASC", choices=("ASC", "DESC"))),
         _list_table("taskDefinitionArns"), "taskDefinitionArns"),
    Verb("describe-task-definition", "DescribeTaskDefinition", "describe a revision",
         (TASK_DEFINITION, Option("--include", "include", "list", choices=("TAGS",))),
         _task_definition_table),
    Verb("deregister-task-definition", "DeregisterTaskDefinition", "make a revision INACTIVE", (TASK_DEFINITION,),
         _task_definition_table),
    Verb("run-task", "RunTask", "run tasks (an ECSTask labelled ephemeral)",
         (CLUSTER, TASK_DEFINITION, Option("--count", "count", "int", default=1),
          Option("--overrides", "overrides", "json", metavar="JSON"), Option("--started-by", "startedBy"),
          Option("--group", "group"),
          Option("--placement-constraints", "placementConstraints", "json", metavar="JSON"),
          Option("--placement-strategy", "placementStrategy", "json", metavar="JSON"),
          Option("--tags", "tags", "json", metavar="JSON"), Option("--client-token", "clientToken")), _tasks_table),
    Verb("describe-tasks", "DescribeTasks", "describe tasks by ARN or id",
         (CLUSTER, Option("--tasks", "tasks", "list", required=True),
          Option("--include", "include", "list", choices=("TAGS",))), _tasks_table),
    Verb("list-tasks", "ListTasks", "list task ARNs",
         (CLUSTER, Option("--family", "family"), Option("--started-by", "startedBy"),
          Option("--service-name", "serviceName"),
          Option("--desired-status", "desiredStatus", default="RUNNING", choices=("RUNNING", "STOPPED"))),
         _list_table("taskArns"), "taskArns"),
    Verb("stop-task", "StopTask", "stop a task",
         (CLUSTER, Option("--task", "task", required=True), Option("--reason", "reason")), _tasks_table),
    Verb("list-container-instances", "ListContainerInstances", "list container instance ARNs",
         (CLUSTER, Option("--status", "status", choices=("ACTIVE", "DRAINING"))),
         _list_table("containerInstanceArns"), "containerInstanceArns"),
    Verb("describe-container-instances", "DescribeContainerInstances", "describe container instances",
         (CLUSTER, Option("--container-instances", "containerInstances", "list", required=True)), _instances_table),
    Verb("create-service", "CreateService", "create a service (an ECSService)",
         (Option("--cli-input-json", "", metavar="file://PATH"), CLUSTER, Option("--service-name", "serviceName"),
          Option("--task-definition", "taskDefinition", metavar="FAMILY[:REVISION]"),
          Option("--desired-count", "desiredCount", "int"),
          Option("--scheduling-strategy", "schedulingStrategy", choices=("REPLICA", "DAEMON")),
          Option("--launch-type", "launchType", choices=LAUNCH_TYPES),
          Option("--deployment-configuration", "deploymentConfiguration", "json", metavar="JSON"),
          Option("--placement-constraints", "placementConstraints", "json", metavar="JSON"),
          Option("--placement-strategy", "placementStrategy", "json", metavar="JSON"),
          Option("--health-check-grace-period-seconds", "healthCheckGracePeriodSeconds", "int"),
          Option("--propagate-tags", "propagateTags", choices=("TASK_DEFINITION", "SERVICE", "NONE")),
          Option("--tags", "tags", "json", metavar="JSON"),
          Option("--enable-execute-command", "enableExecuteCommand", "flag"),
          Option("--client-token", "clientToken")), _services_table),
    Verb("update-service", "UpdateService", "change a service (a new task definition starts a deployment)",
         (CLUSTER, Option("--service", "service", required=True),
          Option("--task-definition", "taskDefinition", metavar="FAMILY[:REVISION]"),
          Option("--desired-count", "desiredCount", "int"),
          Option("--force-new-deployment", "forceNewDeployment", "flag"),
          Option("--deployment-configuration", "deploymentConfiguration", "json", metavar="JSON"),
          Option("--placement-constraints", "placementConstraints", "json", metavar="JSON"),
          Option("--placement-strategy", "placementStrategy", "json", metavar="JSON"),
          Option("--health-check-grace-period-seconds", "healthCheckGracePeriodSeconds", "int"),
          Option("--propagate-tags", "propagateTags", choices=("TASK_DEFINITION", "SERVICE", "NONE")),
          Option("--enable-execute-command", "enableExecuteCommand", "flag")), _services_table),
    Verb("describe-services", "DescribeServices", "describe services (at most 10)",
         (CLUSTER, Option("--services", "services", "list", required=True),
          Option("--include", "include", "list", choices=("TAGS",))), _services_table),
    Verb("list-services", "ListServices", "list the ARNs of a cluster's ACTIVE services",
         (CLUSTER, Option("--launch-type", "launchType", choices=LAUNCH_TYPES),
          Option("--scheduling-strategy", "schedulingStrategy", choices=("REPLICA", "DAEMON"))),
         _list_table("serviceArns"), "serviceArns"),
    Verb("delete-service", "DeleteService", "delete a service (it drains, then stays INACTIVE a while)",
         (CLUSTER, Option("--service", "service", required=True), Option("--force", "force", "flag")),
         _services_table),
    Verb("delete-cluster", "DeleteCluster", "delete a cluster (refused while it has services or tasks)",
         (Option("--cluster", "cluster", required=True),), _clusters_table),
    Verb("update-container-instances-state", "UpdateContainerInstancesState",
         "drain container instances (DRAINING) or make them ACTIVE again",
         (CLUSTER, Option("--container-instances", "containerInstances", "list", required=True),
          Option("--status", "status", required=True, choices=("ACTIVE", "DRAINING"))), _instances_table),
    Verb("list-task-definition-families", "ListTaskDefinitionFamilies", "list task definition families",
         (Option("--family-prefix", "familyPrefix"),
          Option("--status", "status", choices=("ACTIVE", "INACTIVE", "ALL"))),
         _list_table("families"), "families"),
    Verb("delete-task-definitions", "DeleteTaskDefinitions", "delete INACTIVE revisions (DELETE_IN_PROGRESS)",
         (Option("--task-definitions", "taskDefinitions", "list", required=True),)),
    Verb("start-task", "StartTask", "start a task on each container instance named",
         (CLUSTER, TASK_DEFINITION, Option("--container-instances", "containerInstances", "list", required=True),
          Option("--overrides", "overrides", "json", metavar="JSON"), Option("--started-by", "startedBy"),
          Option("--group", "group"), Option("--tags", "tags", "json", metavar="JSON")), _tasks_table),
    Verb("tag-resource", "TagResource", "add tags to a resource (by ARN)",
         (Option("--resource-arn", "resourceArn", required=True),
          Option("--tags", "tags", "json", required=True, metavar="JSON"))),
    Verb("untag-resource", "UntagResource", "remove tags from a resource (by ARN)",
         (Option("--resource-arn", "resourceArn", required=True),
          Option("--tag-keys", "tagKeys", "list", required=True))),
    Verb("list-tags-for-resource", "ListTagsForResource", "list the tags of a resource (by ARN)",
         (Option("--resource-arn", "resourceArn", required=True),)),
    Verb("list-service-deployments", "ListServiceDeployments", "list a service's deployments (newest first)",
         (CLUSTER, Option("--service", "service", required=True), Option("--status", "status", "list"),
          Option("--created-at", "createdAt", "json", metavar="JSON")), None, "serviceDeployments"),
    Verb("describe-service-deployments", "DescribeServiceDeployments", "describe service deployments (by ARN)",
         (Option("--service-deployment-arns", "serviceDeploymentArns", "list", required=True),)),
)


def request_of(verb: Verb, args: argparse.Namespace) -> dict[str, Any]:
    """The ECS request the flags stand for (--cli-input-json where the verb takes it, then the flags)."""
    request: dict[str, Any] = {}
    if getattr(args, "cli_input_json", None):
        request = read_cli_input(args.cli_input_json)
        if not isinstance(request, dict):
            what = "a task definition" if verb.operation == "RegisterTaskDefinition" else "the input"
            raise EcsError("ClientException", f"(input): {what} must be a JSON object")
    for option in verb.options:
        value = getattr(args, _dest(option))
        if not option.member or value is None or (option.member in request and value == option.default):
            continue  # (a default does not override the input's value)
        request[option.member] = json_argument(option.flag, value) if option.kind == "json" else value
    return request


def answer_of(verb: Verb, session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """The action's answer; a List action's pages joined, as the aws CLI does."""
    answer = call(session, verb.operation, request)
    while verb.pages and answer.get("nextToken"):
        more = call(session, verb.operation, {**request, "nextToken": answer["nextToken"]})
        answer = {**more, verb.pages: answer[verb.pages] + more[verb.pages]}
    answer.pop("nextToken", None)
    return answer


def _dest(option: Option) -> str:
    return option.flag.lstrip("-").replace("-", "_")


def _run_verb(verb: Verb, args: argparse.Namespace) -> int:
    session = Session.from_kubeconfig(args.kubeconfig, args.context, args.namespace)
    return emit(args, answer_of(verb, session, request_of(verb, args)), verb.table)


# --------------------------------------------------------------------------- output


def emit(args: argparse.Namespace, answer: dict[str, Any],
         table: Callable[[dict[str, Any]], list[list[str]]] | None) -> int:
    answer = iso_timestamps(answer)
    if not answer:  # TagResource, UntagResource: the aws CLI prints nothing
        return 0
    if args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(answer, sort_keys=False))
    elif args.output == "table" and table is not None:
        rows = table(answer)
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))] if rows else []
        for row in rows:
            sys.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    else:
        sys.stdout.write(json.dumps(answer, indent=4) + "\n")
    return 0


# --------------------------------------------------------------------------- wait (botocore's waiters)

# The aws CLI's exit status for a waiter that failed (a terminal state, an error, too many attempts).
WAITER_FAILED_EXIT = 255
# ServicesStable's success expression, evaluated by `_services_stable`.
STABLE = "length(services[?!(length(deployments) == `1` && runningCount == desiredCount)]) == `0`"


class JMESPathTypeError(Exception):
    """What botocore raises where the expression meets a value of the wrong type (length(null))."""


@dataclass(frozen=True)
class Acceptor:
    """One acceptor of waiters-2.json: `matcher` (path | pathAll | pathAny) over `argument`."""

    matcher: str
    argument: str
    state: str  # success | failure | retry
    expected: Any

    @property
    def explanation(self) -> str:  # botocore's AcceptorConfig.explanation
        if self.matcher == "path":
            return f'For expression "{self.argument}" we matched expected path: "{self.expected}"'
        if self.matcher == "pathAll":
            return f'For expression "{self.argument}" all members matched expected path: "{self.expected}"'
        return f'For expression "{self.argument}" we matched expected path: "{self.expected}" at least once'

    def matches(self, answer: dict[str, Any]) -> bool:
        if isinstance(answer.get("Error"), dict) and "Code" in answer["Error"]:
            return False  # an error answer matches no path acceptor
        found = search(self.argument, answer)
        if self.matcher == "path":
            return bool(found == self.expected)
        if not isinstance(found, list) or not found:  # pathAll / pathAny need a non-empty list
            return False
        if self.matcher == "pathAll":
            return all(item == self.expected for item in found)
        return any(item == self.expected for item in found)


@dataclass(frozen=True)
class Waiter:
    command: str  # the aws CLI's `aws ecs wait <command>`
    name: str  # botocore's waiter name
    operation: str
    member: str  # the request member the listed flag fills (services, tasks)
    delay: float
    max_attempts: int
    acceptors: tuple[Acceptor, ...]


MISSING = Acceptor("pathAny", "failures[].reason", "failure", "MISSING")
WAITERS = (
    Waiter("services-stable", "ServicesStable", "DescribeServices", "services", 15, 40, (
        MISSING,
        Acceptor("pathAny", "services[].status", "failure", "DRAINING"),
        Acceptor("pathAny", "services[].status", "failure", "INACTIVE"),
        Acceptor("path", STABLE, "success", True))),
    Waiter("services-inactive", "ServicesInactive", "DescribeServices", "services", 15, 40, (
        MISSING,
        Acceptor("pathAny", "services[].status", "success", "INACTIVE"))),
    Waiter("tasks-running", "TasksRunning", "DescribeTasks", "tasks", 6, 100, (
        Acceptor("pathAny", "tasks[].lastStatus", "failure", "STOPPED"),
        MISSING,
        Acceptor("pathAll", "tasks[].lastStatus", "success", "RUNNING"))),
    Waiter("tasks-stopped", "TasksStopped", "DescribeTasks", "tasks", 6, 100, (
        Acceptor("pathAll", "tasks[].lastStatus", "success", "STOPPED"),)),
)


def _length(value: Any) -> int:
    if not isinstance(value, (str, list, dict)):
        raise JMESPathTypeError(f"In function length(), invalid type for value: {value}, expected one of: "
                                f"['string', 'array', 'object'], received: \"{_jmespath_type(value)}\"")
    return len(value)


def _jmespath_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def search(expression: str, answer: dict[str, Any]) -> Any:
    """The JMESPath expressions of ECS's waiters: `list[].member` projections, and ServicesStable's."""
    if expression == STABLE:
        services = answer.get("services")
        if not isinstance(services, list):
            _length(None)  # length(null): JMESPath's type error, as botocore meets it
        unstable = [s for s in services or [] if isinstance(s, dict)
                    and not (_length(s.get("deployments")) == 1 and s.get("runningCount") == s.get("desiredCount"))]
        return len(unstable) == 0
    key, _, member = expression.partition("[].")
    items = answer.get(key)
    if not isinstance(items, list):
        return None
    flat = [x for item in items for x in (item if isinstance(item, list) else [item])]
    return [item[member] for item in flat if isinstance(item, dict) and item.get(member) is not None]


def poll(waiter: Waiter, ask: Callable[[], dict[str, Any]], delay: float,
         sleep: Callable[[float], None] = time.sleep) -> str | None:
    """botocore's Waiter.wait: None on success, else the WaiterError's text. `ask` answers as a
    botocore client would (an ECS error as {"Error": {"Code", "Message"}})."""
    attempts = 0
    while True:
        try:
            answer = ask()
        except EcsError as err:
            answer = {"Error": {"Code": err.code, "Message": err.message}}
        attempts += 1
        try:
            matched = next((a for a in waiter.acceptors if a.matches(answer)), None)
        except JMESPathTypeError as err:
            return str(err)
        if matched is None and "Error" in answer:
            return (f"Waiter {waiter.name} failed: An error occurred ({answer['Error']['Code']}): "
                    f"{answer['Error']['Message']}")
        if matched is not None and matched.state == "success":
            return None
        if matched is not None and matched.state == "failure":
            return f"Waiter {waiter.name} failed: Waiter encountered a terminal failure state: {matched.explanation}"
        if attempts >= waiter.max_attempts:
            return f"Waiter {waiter.name} failed: Max attempts exceeded"
        sleep(delay)


def wait_delay(waiter: Waiter) -> float:
    """The waiter's delay, or ECS_WAIT_DELAY seconds (for tests)."""
    return float(os.environ.get("ECS_WAIT_DELAY") or waiter.delay)


def _run_wait(waiter: Waiter, args: argparse.Namespace) -> int:
    session = Session.from_kubeconfig(args.kubeconfig, args.context, args.namespace)
    request = {"cluster": args.cluster, waiter.member: getattr(args, waiter.member)}
    failure = poll(waiter, lambda: call(session, waiter.operation, request), wait_delay(waiter))
    if failure is None:
        return 0
    sys.stderr.write(f"\n{failure}\n")
    return WAITER_FAILED_EXIT


# --------------------------------------------------------------------------- convert (offline)


def _convert_cluster(path: str | None) -> ClusterRef:
    """--cluster FILE: the ECSCluster manifest (its name and spec, policy included); else cluster 'default'
    with the default (locked-down) policy."""
    if not path:
        return ClusterRef(OFFLINE_CLUSTER, ClusterSpec())
    try:
        with open(path.removeprefix("file://"), encoding="utf-8") as handle:
            manifest = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as err:
        raise InvalidInput([f"--cluster: cannot read an ECSCluster manifest from {path}: {err}"]) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "ECSCluster":
        raise InvalidInput([f"--cluster: {path} is not an ECSCluster manifest (kind: ECSCluster)"])
    name = str((manifest.get("metadata") or {}).get("name") or OFFLINE_CLUSTER)
    try:
        return ClusterRef(name, ClusterSpec.model_validate(manifest.get("spec") or {}))
    except ValidationError as err:
        raise InvalidInput(describe_validation_error(err, prefix=f"--cluster {name}: spec")) from None


def convert(args: argparse.Namespace) -> int:
    normalized = parse_task_definition(read_cli_input(args.cli_input_json))
    resource = task_definition_resource(normalized)
    documents = [resource]
    cluster = _convert_cluster(args.cluster)
    family = normalized.definition.family
    task = TaskRef(name=resource["metadata"]["name"], namespace=OFFLINE_NAMESPACE,
                   uid=str(uuid.uuid5(OFFLINE_UID_NAMESPACE, family)))
    if args.pod or args.cluster:  # with --cluster alone: refused as that cluster would, naming the field
        pod = task_pod(normalized.definition, 1, TaskSpec(taskDefinition=family), cluster, task)
        if args.pod:
            documents.append(pod)
    ignored = normalized.definition.ignored_fields()
    header = ""
    if ignored:
        header = "# accepted, but not used on Kubernetes: " + ", ".join(ignored) + "\n"
    needed = needed_objects(normalized.definition)
    if needed:
        header += "# needs, in the task's namespace, before its first run (names by the rules of docs/mapping.md):\n"
        for entry in needed:
            keys, uses = entry.get("keys"), entry["for"]
            header += (f"#   {entry['kind']} {entry['name']}"
                       + (f" (keys: {', '.join(map(str, keys))})" if isinstance(keys, list) else "")
                       + (f" for {'; '.join(map(str, uses))}" if isinstance(uses, list) else "")
                       + f"\n#     {entry['create']}\n")
    logged = [c.name for c in normalized.definition.containerDefinitions if c.logConfiguration]
    if logged:
        header += (f"# logs: to stdout; kubectl logs {task.pod_name} -c <container> (logConfiguration kept in the "
                   "Pod's annotation ecs.compat.dev/log-configuration for log agents)\n")
    sys.stdout.write(header + yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))
    return 0


# --------------------------------------------------------------------------- access keys (the ECS endpoint's)


def _core(args: argparse.Namespace) -> Any:
    from kubernetes import client, config

    try:
        return client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig, context=args.context))
    except (config.ConfigException, OSError, TypeError) as err:
        raise EcsError("ClientException", f"no usable kubeconfig: {err}") from None


def create_access_key(args: argparse.Namespace) -> int:
    """A key for `ecs-operator api`, printed as `aws iam create-access-key` prints one (the only time
    its secret is shown)."""
    key = access_keys.create_access_key(_core(args), args.user, args.group or [], args.namespace,
                                        args.credentials_namespace, args.account_id)
    answer = {"AccessKey": {"UserName": key.user, "AccessKeyId": key.access_key_id,
                            "Status": "Active", "SecretAccessKey": key.secret_access_key, "CreateDate": key.created}}
    return emit(args, answer, None)


def list_access_keys(args: argparse.Namespace) -> int:
    keys = access_keys.list_access_keys(_core(args), args.user, args.credentials_namespace)
    answer = {"AccessKeyMetadata": [{**k.metadata(), "Namespace": k.namespace, "Groups": list(k.groups)}
                                    for k in keys]}
    return emit(args, answer, None)


def delete_access_key(args: argparse.Namespace) -> int:
    access_keys.delete_access_key(_core(args), args.access_key_id, args.credentials_namespace)
    return 0


def _add_access_key_verbs(verbs: Any) -> None:
    create = verbs.add_parser("create-access-key", help="mint an access key for the ECS endpoint (ecs-operator api) "
                                                        "acting as a Kubernetes user in one namespace")
    create.add_argument("--user", required=True, help="the Kubernetes user the key acts as (its RBAC is the key's)")
    create.add_argument("--group", action="append", help="a Kubernetes group of that user (repeatable)")
    create.add_argument("--namespace", "-n", required=True, help="the namespace the key's ECS calls act in")
    create.add_argument("--account-id", default="000000000000", help="account id of the key (default 000000000000)")
    listing = verbs.add_parser("list-access-keys", help="list the endpoint's access keys (never their secrets)")
    listing.add_argument("--user", help="only this user's keys")
    delete = verbs.add_parser("delete-access-key", help="delete an access key (refused by the endpoint within 10 s)")
    delete.add_argument("--access-key-id", required=True)
    for p, func, operation in ((create, create_access_key, "CreateAccessKey"),
                               (listing, list_access_keys, "ListAccessKeys"),
                               (delete, delete_access_key, "DeleteAccessKey")):
        p.add_argument("--credentials-namespace", default=access_keys.DEFAULT_CREDENTIALS_NAMESPACE,
                       help="namespace of the endpoint's ECSAccessKeys (default ecs-system)")
        p.add_argument("--context", help="kubeconfig context")
        p.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
        p.add_argument("--output", default="json", choices=["json", "yaml"])
        p.set_defaults(func=func, operation=operation)


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl ecs", description="The aws ecs verbs, on Kubernetes.")
    verbs = top.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        p = verbs.add_parser(verb.name, help=verb.help)
        for option in verb.options:
            _add_option(p, option)
        _add_kubeconfig_flags(p)
        p.add_argument("--output", default="json", choices=["json", "yaml", "table"])
        p.set_defaults(func=lambda a, verb=verb: _run_verb(verb, a), operation=verb.operation)
    wait = verbs.add_parser("wait", help="wait until services or tasks are in a state, as `aws ecs wait` does")
    waiters = wait.add_subparsers(dest="waiter", required=True)
    for waiter in WAITERS:
        w = waiters.add_parser(waiter.command, help=f"poll {waiter.operation} as botocore's {waiter.name} waiter "
                                                    f"(every {waiter.delay:g} s, {waiter.max_attempts} times)")
        w.add_argument("--cluster", default="default")
        w.add_argument(f"--{waiter.member}", nargs="+", required=True)
        _add_kubeconfig_flags(w)
        w.add_argument("--output", default="json", choices=["json", "yaml", "table"], help="accepted; prints nothing")
        w.set_defaults(func=lambda a, waiter=waiter: _run_wait(waiter, a), operation=waiter.operation)
    conv = verbs.add_parser("convert", help="print the custom resource (and with --pod, the Pod) for ECS JSON, "
                                            "with no cluster")
    conv.add_argument("--cli-input-json", required=True, metavar="file://PATH",
                      help="a RegisterTaskDefinition input, describe-task-definition output, or the 2014 "
                           "preview shape; file://-  or - reads stdin")
    conv.add_argument("--pod", action="store_true", help="also print the Pod of one task on cluster 'default'")
    conv.add_argument("--cluster", metavar="FILE", help="an ECSCluster manifest (policy included): translate as "
                      "that cluster would (default: cluster 'default' with the default policy)")
    conv.set_defaults(func=convert, operation="RegisterTaskDefinition")
    _add_access_key_verbs(verbs)
    return top


def _add_option(p: argparse.ArgumentParser, option: Option) -> None:
    if option.kind == "flag":  # --x / --no-x; neither: the member is left out
        p.add_argument(option.flag, action=argparse.BooleanOptionalAction, default=option.default)
        return
    extra: dict[str, Any] = {"nargs": "+" if option.required else "*"} if option.kind == "list" else {}
    if option.kind == "int":
        extra["type"] = int
    p.add_argument(option.flag, default=option.default, required=option.required, choices=option.choices,
                   metavar=option.metavar, **extra)


def _add_kubeconfig_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", "-n", help="namespace of the ECS resources (default: the context's)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message.rstrip() + "\n")
    raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InvalidInput as err:  # convert: every problem on a line of its own
        _fail("An error occurred (ClientException) when calling the RegisterTaskDefinition operation:\n"
              + "\n".join(f"  {problem}" for problem in err.problems))
    except EcsError as err:
        sys.stderr.write(f"\nAn error occurred ({err.code}) when calling the {args.operation} operation: "
                         f"{err.message}\n")
        raise SystemExit(SERVICE_ERROR_EXIT) from None
    except UsageError as err:
        _fail(f"error: {err}")


if __name__ == "__main__":
    raise SystemExit(main())
