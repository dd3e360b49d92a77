"""The `aws ecs` verbs of `kubectl ecs`, over the ECS custom resources.

Each verb reads or writes ECSCluster / ECSTaskDefinition / ECSTask objects and prints the
answer in the aws CLI's shape. Names: an ECS cluster is the ECSCluster of that name; a family is
the ECSTaskDefinition whose spec.family it is; a task is found by its ARN or 32-hex id.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from .labels import API_GROUP, API_VERSION, DEREGISTER_ANNOTATION, EPHEMERAL_LABEL

# Fields of our records that are not ECS's (kept in status for the operator and for kubectl users).
NOT_ECS = ("podName", "nodeName")
WAIT_SECONDS = 20.0


class EcsError(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


class Session:
    """The cluster connection of one plugin call (kubeconfig, context and namespace like kubectl)."""

    def __init__(self, args: argparse.Namespace):
        from kubernetes import client, config

        try:
            api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
            contexts, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
        except (config.ConfigException, OSError, TypeError) as err:
            raise EcsError("ClientException", f"no usable kubeconfig: {err}") from None
        chosen = next((c for c in contexts if c["name"] == args.context), active) if args.context else active
        self.namespace: str = args.namespace or (chosen or {}).get("context", {}).get("namespace") or "default"
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(API_GROUP, API_VERSION, self.namespace, *args, **kwargs)
        except ApiException as err:
            if err.status == 404 and "the server could not find the requested resource" in (err.body or ""):
                raise EcsError("ServerException", "the ECS custom resources are not installed in this cluster "
                                                  "(kubectl apply -f crds/)") from None
            if err.status in (400, 422):
                try:
                    message = json.loads(err.body).get("message", err.body)
                except (TypeError, ValueError):
                    message = err.body
                raise EcsError("ClientException", str(message)) from None
            if err.status == 403:
                raise EcsError("AccessDeniedException", str(err.reason)) from None
            raise

    def list(self, plural: str, label_selector: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call(self.custom.list_namespaced_custom_object, plural,
                                                 label_selector=label_selector)["items"]
        return items

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace,
                                                                          plural, name)
            return obj
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call(self.custom.create_namespaced_custom_object, plural, body)
        return created

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self._call(self.custom.patch_namespaced_custom_object, plural, name, body)
        return patched


def json_argument(option: str, text: str) -> Any:
    """A JSON-valued option, or a usage error naming it (as the aws CLI does)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise EcsError("ParamValidation", f"{option}: invalid JSON ({err.msg} at line {err.lineno} column "
                                          f"{err.colno})") from None


def wait(probe: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


# --------------------------------------------------------------------------- shapes


def cluster_shape(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    return {
        "clusterArn": status.get("clusterArn", ""),
        "clusterName": obj["metadata"]["name"],
        "status": status.get("status", "PROVISIONING"),
        "registeredContainerInstancesCount": status.get("registeredContainerInstancesCount", 0),
        "runningTasksCount": status.get("runningTasksCount", 0),
        "pendingTasksCount": status.get("pendingTasksCount", 0),
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }


def task_definition_shape(resource: dict[str, Any], revision: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    shape = {
        "taskDefinitionArn": revision["taskDefinitionArn"],
        **body,
        "revision": revision["revision"],
        "status": revision["status"],
        "requiresAttributes": [],
        "compatibilities": ["EC2"],
        "registeredAt": revision.get("registeredAt"),
        "registeredBy": f"kubernetes:{resource['metadata']['namespace']}/{resource['metadata']['name']}",
    }
    if revision["status"] == "INACTIVE":
        shape["deregisteredAt"] = revision.get("deregisteredAt") or revision.get("registeredAt")
    return shape


def task_shape(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in NOT_ECS}


def task_id(arn_or_id: str) -> str:
    return arn_or_id.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- output


def emit(args: argparse.Namespace, answer: dict[str, Any], table: Callable[[dict[str, Any]], list[list[str]]]
         ) -> int:
    if args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(answer, sort_keys=False))
    elif args.output == "table":
        rows = table(answer)
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))] if rows else []
        for row in rows:
            sys.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    else:
        sys.stdout.write(json.dumps(answer, indent=4) + "\n")
    return 0


def _list_table(key: str) -> Callable[[dict[str, Any]], list[list[str]]]:
    return lambda answer: [[key.upper()]] + [[a] for a in answer[key]]


def _tasks_table(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["TASK", "LAST STATUS", "DESIRED", "TASK DEFINITION", "STOP CODE"]]
    tasks = answer.get("tasks") or ([answer["task"]] if "task" in answer else [])
    for t in tasks:
        rows.append([task_id(t["taskArn"]), t.get("lastStatus", ""), t.get("desiredStatus", ""),
                     t.get("taskDefinitionArn", "").rsplit("/", 1)[-1], t.get("stopCode", "")])
    return rows


def _clusters_table(answer: dict[str, Any]) -> list[list[str]]:
    clusters = answer.get("clusters") or [answer["cluster"]]
    return [["CLUSTER", "STATUS", "INSTANCES", "RUNNING", "PENDING"]] + [
        [c["clusterName"], c["status"], str(c["registeredContainerInstancesCount"]), str(c["runningTasksCount"]),
         str(c["pendingTasksCount"])] for c in clusters]


def _task_definition_table(answer: dict[str, Any]) -> list[list[str]]:
    td = answer["taskDefinition"]
    return [["TASK DEFINITION", "STATUS", "CONTAINERS"],
            [f"{td['family']}:{td['revision']}", td["status"],
             ", ".join(c["name"] for c in td["containerDefinitions"])]]


def _instances_table(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["INSTANCE", "STATUS", "CPU LEFT", "MEMORY LEFT", "RUNNING", "PENDING"]]
    for i in answer["containerInstances"]:
        left = {r["name"]: r.get("integerValue") for r in i["remainingResources"]}
        rows.append([i["ec2InstanceId"], i["status"], str(left.get("CPU")), str(left.get("MEMORY")),
                     str(i["runningTasksCount"]), str(i["pendingTasksCount"])])
    return rows


# --------------------------------------------------------------------------- lookups


def find_cluster(session: Session, name_or_arn: str) -> dict[str, Any]:
    name = name_or_arn.rsplit("/", 1)[-1]
    obj = session.get("ecsclusters", name)
    if obj is None:
        raise EcsError("ClusterNotFoundException", "Cluster not found.")
    return obj


def find_family(session: Session, family: str) -> dict[str, Any] | None:
    return next((r for r in session.list("ecstaskdefinitions") if (r.get("spec") or {}).get("family") == family),
                None)


def find_revision(session: Session, reference: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`family[:revision]` or an ARN → (resource, revision record, ECS body of that revision)."""
    reference = reference.rsplit("/", 1)[-1]
    family, _, suffix = reference.partition(":")
    resource = find_family(session, family)
    revisions = {r["revision"]: r for r in ((resource or {}).get("status") or {}).get("revisions", [])}
    if resource is None or not revisions:
        raise EcsError("ClientException", "Unable to describe task definition.")
    if suffix:
        if not suffix.isdigit() or int(suffix) not in revisions:
            raise EcsError("ClientException", "Unable to describe task definition.")
        revision = revisions[int(suffix)]
    else:
        active = [r for r in revisions.values() if r["status"] == "ACTIVE"]
        revision = max(active or revisions.values(), key=lambda r: r["revision"])
    cm = session.core.read_namespaced_config_map(revision["configMap"], session.namespace)
    return resource, revision, json.loads(cm.data["taskDefinition.json"])


def all_task_records(session: Session) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(obj, record) for obj in session.list("ecstasks")
            for record in (obj.get("status") or {}).get("tasks", [])]


# --------------------------------------------------------------------------- verbs


def create_cluster(args: argparse.Namespace, session: Session) -> int:
    name = args.cluster_name or "default"
    if session.get("ecsclusters", name) is None:
        session.create("ecsclusters", {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSCluster",
                                       "metadata": {"name": name}, "spec": {}})
    obj = wait(lambda: (o := session.get("ecsclusters", name)) and (o.get("status") or {}).get("clusterArn") and o)
    return emit(args, {"cluster": cluster_shape(obj or session.get("ecsclusters", name) or {"metadata": {
        "name": name}})}, _clusters_table)


def list_clusters(args: argparse.Namespace, session: Session) -> int:
    arns = [cluster_shape(o)["clusterArn"] for o in session.list("ecsclusters")]
    return emit(args, {"clusterArns": [a for a in arns if a]}, _list_table("clusterArns"))


def describe_clusters(args: argparse.Namespace, session: Session) -> int:
    wanted = args.clusters or ["default"]
    clusters, failures = [], []
    for name in wanted:
        obj = session.get("ecsclusters", name.rsplit("/", 1)[-1])
        if obj is None:
            failures.append({"arn": name, "reason": "MISSING"})
        else:
            clusters.append(cluster_shape(obj))
    return emit(args, {"clusters": clusters, "failures": failures}, _clusters_table)


def register_task_definition(args: argparse.Namespace, session: Session) -> int:
    from .ecs.normalize import parse_task_definition
    from .plugin import read_cli_input, resource_name, task_definition_resource

    document = read_cli_input(args.cli_input_json) if args.cli_input_json else {}
    if args.family:
        document = {**document, "family": args.family}
    if args.container_definitions:
        document = {**document, "containerDefinitions": json_argument("--container-definitions",
                                                                      args.container_definitions)}
    normalized = parse_task_definition(document)
    resource = task_definition_resource(normalized)
    family = normalized.definition.family
    existing = find_family(session, family)
    if existing is None:
        session.create("ecstaskdefinitions", resource)
        name = resource_name(family)
    else:
        name = existing["metadata"]["name"]
        session.patch("ecstaskdefinitions", name, {"spec": {**resource["spec"], **(
            {"containers": None} if "containers" in existing["spec"] else {})}})

    def registered() -> dict[str, Any] | None:
        obj = session.get("ecstaskdefinitions", name) or {}
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
        if ready and ready.get("observedGeneration") == obj["metadata"].get("generation"):
            return obj
        return None

    obj = wait(registered)
    if obj is None:
        raise EcsError("ServerException", f"the operator did not register {family} within {WAIT_SECONDS:.0f} s "
                                          "(is ecs-operator running?)")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    if ready["status"] != "True":
        raise EcsError("ClientException", ready["message"])
    # An identical definition leaves the latest revision as it was (ECS would add one): the
    # registry is declarative, so the answer is that revision.
    _, revision, body = find_revision(session, f"{family}:{obj['status']['latestRevision']}")
    return emit(args, {"taskDefinition": task_definition_shape(obj, revision, body), "tags": []},
                _task_definition_table)


def list_task_definitions(args: argparse.Namespace, session: Session) -> int:
    arns = []
    for resource in session.list("ecstaskdefinitions"):
        family = (resource.get("spec") or {}).get("family", "")
        if args.family_prefix and not family.startswith(args.family_prefix):
            continue
        for revision in (resource.get("status") or {}).get("revisions", []):
            if revision["status"] == args.status:
                arns.append((family, revision["revision"], revision["taskDefinitionArn"]))
    arns.sort(reverse=args.sort == "DESC")
    return emit(args, {"taskDefinitionArns": [a for _, _, a in arns]}, _list_table("taskDefinitionArns"))


def describe_task_definition(args: argparse.Namespace, session: Session) -> int:
    resource, revision, body = find_revision(session, args.task_definition)
    return emit(args, {"taskDefinition": task_definition_shape(resource, revision, body), "tags": []},
                _task_definition_table)


def deregister_task_definition(args: argparse.Namespace, session: Session) -> int:
    reference = args.task_definition.rsplit("/", 1)[-1]
    if ":" not in reference:
        raise EcsError("ClientException", "The specified task definition identifier is invalid. Specify a valid "
                                          "name or ARN with a revision (family:revision).")
    resource, revision, _ = find_revision(session, reference)
    annotations = resource["metadata"].get("annotations") or {}
    done = {int(x) for x in annotations.get(DEREGISTER_ANNOTATION, "").split(",") if x.strip().isdigit()}
    done.add(revision["revision"])
    session.patch("ecstaskdefinitions", resource["metadata"]["name"], {"metadata": {"annotations": {
        DEREGISTER_ANNOTATION: ",".join(str(n) for n in sorted(done))}}})
    wait(lambda: find_revision(session, reference)[1]["status"] == "INACTIVE")
    resource, revision, body = find_revision(session, reference)
    return emit(args, {"taskDefinition": task_definition_shape(resource, revision, body)}, _task_definition_table)


def run_task(args: argparse.Namespace, session: Session) -> int:
    cluster = find_cluster(session, args.cluster)
    reference = args.task_definition.rsplit("/", 1)[-1]
    _, revision, _ = find_revision(session, reference)  # ECS refuses unknown definitions at once
    family = reference.partition(":")[0]
    if revision["status"] != "ACTIVE":
        raise EcsError("ClientException", "TaskDefinition is inactive")
    name = f"{family.lower().replace('_', '-')[:40].strip('-')}-{uuid.uuid4().hex[:8]}"
    spec: dict[str, Any] = {"cluster": cluster["metadata"]["name"], "taskDefinition": reference,
                            "count": args.count}
    for key, option, value in (("overrides", "--overrides", args.overrides),
                               ("placementConstraints", "--placement-constraints", args.placement_constraints),
                               ("placementStrategy", "--placement-strategy", args.placement_strategy)):
        if value:
            spec[key] = json_argument(option, value)
    if args.started_by:
        spec["startedBy"] = args.started_by
    if args.group:
        spec["group"] = args.group
    session.create("ecstasks", {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask",
                                "metadata": {"name": name, "labels": {EPHEMERAL_LABEL: "true"}}, "spec": spec})

    def answered() -> dict[str, Any] | None:
        status = (session.get("ecstasks", name) or {}).get("status") or {}
        if len(status.get("tasks", [])) == args.count or (status.get("failures") and not status.get("resolved")):
            return status
        return None

    status = wait(answered) or {}
    tasks = [task_shape(r) for r in status.get("tasks", [])]
    failures = [] if tasks else status.get("failures", [])
    return emit(args, {"tasks": tasks, "failures": failures}, _tasks_table)


def describe_tasks(args: argparse.Namespace, session: Session) -> int:
    cluster = find_cluster(session, args.cluster)["metadata"]["name"]
    records = {task_id(r["taskArn"]): r for obj, r in all_task_records(session) if obj["spec"]["cluster"] == cluster}
    tasks, failures = [], []
    for wanted in args.tasks:
        record = records.get(task_id(wanted))
        if record is None:
            failures.append({"arn": wanted, "reason": "MISSING"})
        else:
            tasks.append(task_shape(record))
    return emit(args, {"tasks": tasks, "failures": failures}, _tasks_table)


def list_tasks(args: argparse.Namespace, session: Session) -> int:
    cluster = find_cluster(session, args.cluster)["metadata"]["name"]
    arns = []
    for obj, record in all_task_records(session):
        if obj["spec"]["cluster"] != cluster or record.get("desiredStatus") != args.desired_status:
            continue
        if args.family and not record.get("taskDefinitionArn", "").rsplit("/", 1)[-1].startswith(f"{args.family}:"):
            continue
        if args.started_by and record.get("startedBy") != args.started_by:
            continue
        arns.append(record["taskArn"])
    return emit(args, {"taskArns": arns}, _list_table("taskArns"))


def stop_task(args: argparse.Namespace, session: Session) -> int:
    cluster = find_cluster(session, args.cluster)["metadata"]["name"]
    wanted = task_id(args.task)
    found = next(((obj, r) for obj, r in all_task_records(session)
                  if obj["spec"]["cluster"] == cluster and task_id(r["taskArn"]) == wanted), None)
    if found is None:
        raise EcsError("InvalidParameterException", "The referenced task was not found.")
    obj, _ = found
    if obj["spec"]["count"] > 1:
        owner = obj["metadata"]["name"]
        raise EcsError("InvalidParameterException", "this task was started with others in one run-task "
                       f"(ECSTask {owner}, count {obj['spec']['count']}); they stop together: kubectl patch "
                       f"ecstask {owner} --type merge -p '{{\"spec\":{{\"desiredStatus\":\"STOPPED\"}}}}'")
    patch: dict[str, Any] = {"desiredStatus": "STOPPED"}
    if args.reason:
        patch["stopReason"] = args.reason
    session.patch("ecstasks", obj["metadata"]["name"], {"spec": patch})

    def stopping() -> dict[str, Any] | None:
        records = ((session.get("ecstasks", obj["metadata"]["name"]) or {}).get("status") or {}).get("tasks", [])
        record = next((r for r in records if task_id(r["taskArn"]) == wanted), None)
        return record if record and record.get("desiredStatus") == "STOPPED" else None

    record = wait(stopping) or found[1]
    return emit(args, {"task": task_shape(record)}, _tasks_table)


def _instances(session: Session, cluster: str) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = (find_cluster(session, cluster).get("status") or {}).get(
        "containerInstances", [])
    return instances


def list_container_instances(args: argparse.Namespace, session: Session) -> int:
    instances = [i for i in _instances(session, args.cluster) if not args.status or i["status"] == args.status]
    return emit(args, {"containerInstanceArns": [i["containerInstanceArn"] for i in instances]},
                _list_table("containerInstanceArns"))


def describe_container_instances(args: argparse.Namespace, session: Session) -> int:
    instances = {i["containerInstanceArn"].rsplit("/", 1)[-1]: i for i in _instances(session, args.cluster)}
    by_name = {i["ec2InstanceId"]: i for i in instances.values()}
    found, failures = [], []
    for wanted in args.container_instances:
        instance = instances.get(wanted.rsplit("/", 1)[-1]) or by_name.get(wanted)
        if instance is None:
            failures.append({"arn": wanted, "reason": "MISSING"})
        else:
            found.append(instance)
    return emit(args, {"containerInstances": found, "failures": failures}, _instances_table)


# --------------------------------------------------------------------------- arguments

VERBS: list[tuple[str, str, Callable[[argparse.Namespace, Session], int], str]] = [
    ("create-cluster", "CreateCluster", create_cluster, "create an ECS cluster (an ECSCluster)"),
    ("list-clusters", "ListClusters", list_clusters, "list cluster ARNs"),
    ("describe-clusters", "DescribeClusters", describe_clusters, "describe clusters"),
    ("register-task-definition", "RegisterTaskDefinition", register_task_definition,
     "register a task definition revision"),
    ("list-task-definitions", "ListTaskDefinitions", list_task_definitions, "list task definition ARNs"),
    ("describe-task-definition", "DescribeTaskDefinition", describe_task_definition, "describe a revision"),
    ("deregister-task-definition", "DeregisterTaskDefinition", deregister_task_definition,
     "make a revision INACTIVE"),
    ("run-task", "RunTask", run_task, "run tasks (an ECSTask labelled ephemeral)"),
    ("describe-tasks", "DescribeTasks", describe_tasks, "describe tasks by ARN or id"),
    ("list-tasks", "ListTasks", list_tasks, "list task ARNs"),
    ("stop-task", "StopTask", stop_task, "stop a task"),
    ("list-container-instances", "ListContainerInstances", list_container_instances,
     "list container instance ARNs"),
    ("describe-container-instances", "DescribeContainerInstances", describe_container_instances,
     "describe container instances"),
]


def _arguments(verb: str, p: argparse.ArgumentParser) -> None:
    if verb == "create-cluster":
        p.add_argument("--cluster-name", default="default")
    elif verb == "describe-clusters":
        p.add_argument("--clusters", nargs="*")
    elif verb == "register-task-definition":
        p.add_argument("--cli-input-json", metavar="file://PATH")
        p.add_argument("--family")
        p.add_argument("--container-definitions", metavar="JSON")
    elif verb == "list-task-definitions":
        p.add_argument("--family-prefix")
        p.add_argument("--status", default="ACTIVE", choices=["ACTIVE", "INACTIVE"])
        p.add_argument("--sort", default="ASC", choices=["ASC", "DESC"])
    elif verb in ("describe-task-definition", "deregister-task-definition"):
        p.add_argument("--task-definition", required=True, metavar="FAMILY[:REVISION]")
    else:
        p.add_argument("--cluster", default="default")
        if verb == "run-task":
            p.add_argument("--task-definition", required=True, metavar="FAMILY[:REVISION]")
            p.add_argument("--count", type=int, default=1)
            p.add_argument("--overrides", metavar="JSON")
            p.add_argument("--started-by")
            p.add_argument("--group")
            p.add_argument("--placement-constraints", metavar="JSON")
            p.add_argument("--placement-strategy", metavar="JSON")
        elif verb == "describe-tasks":
            p.add_argument("--tasks", nargs="+", required=True)
        elif verb == "list-tasks":
            p.add_argument("--family")
            p.add_argument("--started-by")
            p.add_argument("--desired-status", default="RUNNING", choices=["RUNNING", "STOPPED"])
        elif verb == "stop-task":
            p.add_argument("--task", required=True)
            p.add_argument("--reason")
        elif verb == "list-container-instances":
            p.add_argument("--status", choices=["ACTIVE", "DRAINING"])
        elif verb == "describe-container-instances":
            p.add_argument("--container-instances", nargs="+", required=True)


def add_verbs(verbs: Any) -> None:
    for verb, operation, fn, help_text in VERBS:
        p = verbs.add_parser(verb, help=help_text)
        _arguments(verb, p)
        p.add_argument("--namespace", "-n", help="namespace of the ECS resources (default: the context's)")
        p.add_argument("--context", help="kubeconfig context")
        p.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
        p.add_argument("--output", default="json", choices=["json", "yaml", "table"])
        p.set_defaults(func=lambda a, fn=fn: fn(a, Session(a)), operation=operation)
