"""kopf handlers: load → translate → apply → derive status. Thin on purpose.

ECSTaskDefinition registers immutable revisions (immutable ConfigMaps `<name>-r<N>` owned by it);
ECSTask runs `count` Pods named `<task>-<index>` and keeps ECS's Task records in its status;
ECSCluster reports its container instances (the nodes it selects) and their resources.
Every handler is idempotent: deterministic names, AlreadyExists = done, status derived anew.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from . import kube
from .ecs import arns
from .ecs.errors import InvalidInput, describe_validation_error
from .ecs.models import ClusterSpec, TaskDefinition, TaskSpec, kube_container_name
from .ecs.normalize import parse_task_definition
from .ecs.status import (
    TaskIdentity,
    container_instance,
    node_matches,
    pod_last_status,
    summary_status,
    task_record,
)
from .ecs.translate import ClusterRef, TaskRef, default_node_selector, label_value, task_pod
from .labels import (
    API_GROUP,
    API_VERSION,
    CLUSTER_LABEL,
    DEREGISTER_ANNOTATION,
    EPHEMERAL_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    TASK_LABEL,
)

TD_LABEL = f"{API_GROUP}/task-definition"
DRAINED_BY_ANNOTATION = f"{API_GROUP}/drained-by"


@dataclass
class Settings:
    region: str = os.environ.get("ECS_REGION", arns.DEFAULT_REGION)
    account: str = os.environ.get("ECS_ACCOUNT_ID", arns.DEFAULT_ACCOUNT)
    stopped_task_retention: float = float(os.environ.get("ECS_STOPPED_TASK_RETENTION", "3600"))
    cluster_status_interval: float = float(os.environ.get("ECS_CLUSTER_STATUS_INTERVAL", "2"))


SETTINGS = Settings()
# Seconds before an unexpected error (an API hiccup) is retried; kopf's default is 60.
BACKOFF = 3


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Every kopf setting, in one place, and why."""
    # Handler progress in an annotation, not in .status: our status is ECS's own shape.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"kopf.{API_GROUP}")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=f"kopf.{API_GROUP}", key="last-handled-configuration")
    # Handlers are sync (the kubernetes client is); a few more workers than cores keep one slow
    # API call from holding up the rest, without oversubscribing a 2-core machine.
    settings.execution.max_workers = (os.cpu_count() or 2) + 4
    # Watches are restarted regularly so a silently stalled stream cannot hide changes for long.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # kopf's own Events for every handler success are noise; errors still post Events. Our own
    # Events (kopf.event) are few and chosen: registered, running, cannot place, stopped.
    settings.posting.level = logging.WARNING
    # Events are posted one at a time; an Event that cannot be posted (its namespace is being
    # deleted) must not hold up the others for half a minute of retries.
    settings.posting.default_backoffs = [0.5, 1]
    settings.networking.request_timeout = 30
    # A broken watch stream (an apiserver restart) is re-opened within seconds, never later than
    # 5 s apart: after an outage the operator must be back in sync quickly, and a relist is cheap.
    settings.batching.error_delays = [1, 1, 2, 3, 5]
    settings.networking.error_backoffs = [0.5, 1, 2, 3, 5, 5, 5, 5, 5]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition_writer(type_: str, ok: bool, reason: str, message: str, generation: int | None
                     ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A status mutation that only sets one condition (for update_status)."""

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        set_condition(status, type_, ok, reason, message, generation)
        return status

    return mutate


def set_condition(status: dict[str, Any], type_: str, ok: bool, reason: str, message: str, generation: int | None
                  ) -> None:
    conditions = [c for c in status.get("conditions", []) if c.get("type") != type_]
    old = next((c for c in status.get("conditions", []) if c.get("type") == type_), None)
    value = "True" if ok else "False"
    transition = old["lastTransitionTime"] if old and old.get("status") == value else now()
    conditions.append({"type": type_, "status": value, "reason": reason, "message": message[:32768],
                       "lastTransitionTime": transition, "observedGeneration": generation})
    status["conditions"] = conditions


# --------------------------------------------------------------------------- task definitions


def _revision_configmaps(namespace: str, name: str) -> dict[int, dict[str, Any]]:
    cms = kube.core().list_namespaced_config_map(namespace, label_selector=f"{TD_LABEL}={label_value(name)}")
    out = {}
    for cm in cms.items:
        revision = int(cm.metadata.labels.get("ecs.compat.dev/revision", "0"))
        if revision:
            out[revision] = kube.to_dict(cm)
    return out


def _spec_hash(definition: TaskDefinition, version: str | None) -> str:
    body = json.dumps({"definition": definition.dump(), "version": version}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


@kopf.on.resume(API_GROUP, API_VERSION, "ecstaskdefinitions", backoff=BACKOFF)
@kopf.on.create(API_GROUP, API_VERSION, "ecstaskdefinitions", backoff=BACKOFF)
@kopf.on.update(API_GROUP, API_VERSION, "ecstaskdefinitions", backoff=BACKOFF)
def register_task_definition(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str, meta: kopf.Meta,
                             **_: Any) -> None:
    generation = meta.get("generation")
    try:
        normalized = parse_task_definition(dict(spec))
    except InvalidInput as err:
        message = "; ".join(err.problems)
        kube.update_status("ecstaskdefinitions", namespace, name,
                           condition_writer("Ready", False, "InvalidTaskDefinition", message, generation))
        kopf.warn(body, reason="InvalidTaskDefinition", message=message)
        return
    definition = normalized.definition
    # One family, one registry: a second ECSTaskDefinition of the same family would number its
    # own revisions and make `family:N` ambiguous. The oldest one owns the family.
    owner = min(((r["metadata"]["creationTimestamp"], r["metadata"]["name"])
                 for r in kube.list_custom("ecstaskdefinitions", namespace)
                 if (r.get("spec") or {}).get("family") == definition.family), default=None)
    if owner is not None and owner[1] != name:
        message = f"family: {definition.family!r} is registered by ECSTaskDefinition {owner[1]}; change that one"
        kube.update_status("ecstaskdefinitions", namespace, name,
                           condition_writer("Ready", False, "FamilyTaken", message, generation))
        kopf.warn(body, reason="FamilyTaken", message=message)
        return
    digest = _spec_hash(definition, normalized.version)
    revisions = _revision_configmaps(namespace, name)
    current = (body.get("status") or {}).get("latestRevision") or 0
    latest = max([current, *revisions])
    latest_cm = revisions.get(latest)
    if latest_cm is None or latest_cm["metadata"].get("annotations", {}).get(f"{API_GROUP}/spec-hash") != digest:
        revision = latest + 1  # numbers are never reused, even after deregistration
        cm: dict[str, Any] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": f"{name}-r{revision}", "namespace": namespace,
                "labels": {TD_LABEL: label_value(name), "ecs.compat.dev/revision": str(revision),
                           "ecs.compat.dev/family": label_value(definition.family),
                           MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                "annotations": {f"{API_GROUP}/spec-hash": digest},
            },
            "immutable": True,  # revisions never change: the apiserver enforces it
            "data": {"taskDefinition.json": json.dumps(definition.dump(), sort_keys=True),
                     **({"version": normalized.version} if normalized.version is not None else {})},
        }
        kopf.adopt(cm, owner=body)
        created = kube.create_or_get(partial(kube.core().create_namespaced_config_map, namespace, cm),
                                     partial(kube.core().read_namespaced_config_map, cm["metadata"]["name"], namespace))
        revisions[revision] = kube.to_dict(created)
        kopf.event(body, type="Normal", reason="Registered", message=f"{definition.family}:{revision}")
    _write_task_definition_status(namespace, name, definition, revisions, meta, generation,
                                  definition.ignored_fields() + [f"(dropped) {d}" for d in normalized.dropped])


def _deregistered(meta: kopf.Meta) -> set[int]:
    raw = (meta.get("annotations") or {}).get(DEREGISTER_ANNOTATION, "")
    return {int(p) for p in raw.replace(" ", "").split(",") if p.isdigit()}


def _write_task_definition_status(namespace: str, name: str, definition: TaskDefinition,
                                  revisions: dict[int, dict[str, Any]], meta: kopf.Meta, generation: int | None,
                                  ignored: list[str]) -> None:
    inactive = _deregistered(meta)
    family = definition.family
    items = []
    for revision, cm in sorted(revisions.items()):
        item = {
            "revision": revision,
            "taskDefinitionArn": arns.task_definition_arn(family, revision, SETTINGS.region, SETTINGS.account),
            "status": "INACTIVE" if revision in inactive else "ACTIVE",
            "registeredAt": cm["metadata"].get("creationTimestamp"),
            "configMap": cm["metadata"]["name"],
        }
        if "version" in (cm.get("data") or {}):
            item["version"] = cm["data"]["version"]
        items.append(item)
    active = [i for i in items if i["status"] == "ACTIVE"]
    latest = max(revisions) if revisions else 0

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        status.update({
            "family": family,
            "latestRevision": latest,
            "taskDefinitionArn": arns.task_definition_arn(family, latest, SETTINGS.region, SETTINGS.account),
            "status": "ACTIVE" if active else "INACTIVE",
            "revisions": items,
            "ignoredFields": ignored,
        })
        set_condition(status, "Ready", True, "Registered", f"{family}:{latest} is the latest revision", generation)
        return status

    kube.update_status("ecstaskdefinitions", namespace, name, mutate)


@dataclass(frozen=True)
class ResolvedRevision:
    family: str
    revision: int
    config_map: str
    definition: TaskDefinition


# Revisions are immutable ConfigMaps: once read, a revision never needs reading again. Bounded so
# that a long-running operator does not keep every revision it ever saw.
_REVISIONS: dict[tuple[str, str], TaskDefinition] = {}
_REVISIONS_MAX = 4096


def _load_revision(namespace: str, config_map: str, family: str, revision: int) -> ResolvedRevision:
    key = (namespace, config_map)
    definition = _REVISIONS.get(key)
    if definition is None:
        cm = kube.core().read_namespaced_config_map(config_map, namespace)
        definition = TaskDefinition.model_validate_json(cm.data["taskDefinition.json"])
        if len(_REVISIONS) >= _REVISIONS_MAX:
            _REVISIONS.pop(next(iter(_REVISIONS)))
        _REVISIONS[key] = definition
    return ResolvedRevision(family, revision, config_map, definition)


def resolve_task_definition(namespace: str, reference: str) -> ResolvedRevision:
    """`family`, `family:revision` or `family:version` → the revision a new task runs.

    LookupError: nothing to resolve yet (retried: it may be applied in a moment). InvalidInput:
    ECS would refuse the request (an INACTIVE revision, an unknown revision).
    """
    family, _, suffix = reference.partition(":")
    resources = [r for r in kube.list_custom("ecstaskdefinitions", namespace)
                 if (r.get("spec") or {}).get("family") == family]
    if not resources:
        raise LookupError(f"Unable to describe task definition: no family {family!r} in namespace {namespace}")
    items = {i["revision"]: i for i in (resources[0].get("status") or {}).get("revisions", [])}
    if not items:
        raise LookupError(f"task definition family {family!r} has no registered revision yet")
    if suffix:
        if suffix.isdigit() and int(suffix) in items:
            revision = int(suffix)
        else:
            matches = [r for r, i in items.items() if i.get("version") == suffix]
            if not matches:
                raise InvalidInput([f"taskDefinition: Unable to describe task definition {reference}"])
            revision = max(matches)
        if items[revision]["status"] != "ACTIVE":
            raise InvalidInput([f"taskDefinition: TaskDefinition is inactive ({family}:{revision} was deregistered)"])
    else:
        active = [r for r, i in items.items() if i["status"] == "ACTIVE"]
        if not active:
            raise InvalidInput([f"taskDefinition: family {family!r} has no ACTIVE revision"])
        revision = max(active)
    return _load_revision(namespace, items[revision]["configMap"], family, revision)


# --------------------------------------------------------------------------- tasks


def _cluster(namespace: str, name: str) -> ClusterRef:
    obj = kube.get_custom("ecsclusters", namespace, name)
    if obj is None:
        raise LookupError(f"ClusterNotFoundException: cluster {name!r} not found in namespace {namespace}")
    try:
        spec = ClusterSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        raise InvalidInput(describe_validation_error(err, prefix=f"ECSCluster {name}")) from None
    return ClusterRef(name, spec)


def _read_pod(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return kube.to_dict(kube.core().read_namespaced_pod(name, namespace))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _node_uids(nodes_index: kopf.Index[str, dict[str, Any]]) -> dict[str, str]:
    """Node name → uid, from the watched nodes (no API call)."""
    return {name: node["metadata"].get("uid", "") for name in nodes_index for node in nodes_index[name]}


def _instance_arn(cluster: str, pod: dict[str, Any] | None, nodes: dict[str, str]) -> str | None:
    node = (pod or {}).get("spec", {}).get("nodeName")
    if not node or node not in nodes:
        return None
    return arns.container_instance_arn(cluster, nodes[node].replace("-", ""), SETTINGS.region, SETTINGS.account)


def _stop_pod(namespace: str, pod: dict[str, Any]) -> None:
    grace = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    try:
        kube.core().delete_namespaced_pod(pod["metadata"]["name"], namespace, grace_period_seconds=grace)
    except ApiException as err:
        if err.status != 404:
            raise


def _refuse(body: kopf.Body, namespace: str, name: str, reason: str, message: str, generation: int | None) -> None:
    """A request ECS would refuse: a condition and an Event, and nothing created."""

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        status["failures"] = [{"arn": f"task/{namespace}/{name}", "reason": reason, "detail": message}]
        status.setdefault("lastStatus", "STOPPED")
        set_condition(status, "Ready", False, reason, message, generation)
        return status

    kube.update_status("ecstasks", namespace, name, mutate)
    kopf.warn(body, reason=reason, message=message)


@kopf.on.resume(API_GROUP, API_VERSION, "ecstasks", backoff=BACKOFF)
@kopf.on.create(API_GROUP, API_VERSION, "ecstasks", backoff=BACKOFF)
@kopf.on.update(API_GROUP, API_VERSION, "ecstasks", field="spec", backoff=BACKOFF)
def run_task(body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, uid: str, retry: int,
             nodes_index: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    """Resolve once, create the task Pods (all or none), stop them when desiredStatus is STOPPED."""
    generation = meta.get("generation")
    status = dict(body.get("status") or {})
    if status.get("failures") and not status.get("resolved"):
        return  # refused before: the spec is immutable, so it stays refused
    nodes = _node_uids(nodes_index)
    records = list(status.get("tasks") or [])
    count = int((body.get("spec") or {}).get("count", 1))
    if (status.get("resolved") and (body.get("spec") or {}).get("desiredStatus", "RUNNING") == "RUNNING"
            and len(records) == count and all(r.get("createdAt") or r.get("lastStatus") == "STOPPED"
                                              for r in records)):
        # Every Pod was created already (an operator restart): only the records may be behind.
        refresh_task_status(namespace, name, nodes)
        return
    try:
        spec = TaskSpec.model_validate(dict(body["spec"]))
    except ValidationError as err:
        _refuse(body, namespace, name, "InvalidTask", "; ".join(describe_validation_error(err, prefix="spec")),
                generation)
        return
    try:
        cluster = _cluster(namespace, spec.cluster)
        recorded = status.get("resolved")
        if recorded:  # resolved once: later registrations never change a task that exists
            resolved = _load_revision(namespace, recorded["configMap"], recorded["family"], int(recorded["revision"]))
        else:
            resolved = resolve_task_definition(namespace, spec.taskDefinition)
        tasks = [TaskRef(name, namespace, uid, i) for i in range(spec.count)]
        # Translate every task before creating any Pod: a refusal never leaves half a run behind.
        pods = [task_pod(resolved.definition, resolved.revision, spec, cluster, t, SETTINGS.region,
                         SETTINGS.account) for t in tasks]
    except LookupError as err:
        message = str(err)
        kube.update_status("ecstasks", namespace, name,
                           condition_writer("Ready", False, "Unresolved", message, generation))
        if retry == 0:  # one Event, not one per retry
            kopf.warn(body, reason="Unresolved", message=f"{message} (retrying)")
        # Soon at first (the other object may be applied in a moment), then less often.
        raise kopf.TemporaryError(message, delay=min(30, 2 + 2 * retry)) from None
    except InvalidInput as err:
        _refuse(body, namespace, name, "TaskRefused", "; ".join(err.problems), generation)
        return

    identities = [_identity(t, resolved, spec, cluster.name) for t in tasks]
    # Record what the tasks are before their Pods exist, so a restart resolves nothing again.
    if not status.get("resolved"):
        def record_resolution(s: dict[str, Any]) -> dict[str, Any]:
            s["resolved"] = {"family": resolved.family, "revision": resolved.revision,
                             "configMap": resolved.config_map}
            s["taskDefinitionArn"] = identities[0].task_definition_arn
            s["clusterArn"] = identities[0].cluster_arn
            return s

        kube.update_status("ecstasks", namespace, name, record_resolution)

    for index, (pod, identity) in enumerate(zip(pods, identities, strict=True)):
        previous = records[index] if index < len(records) else None
        if spec.desiredStatus == "STOPPED":
            existing = _read_pod(namespace, identity.pod_name)
            if existing is not None and not existing["metadata"].get("deletionTimestamp"):
                _mark_stopping(namespace, name, index, "UserInitiated", spec.stopReason or "Task stopped by user")
                _stop_pod(namespace, existing)
            continue
        if previous and (previous.get("createdAt") or previous.get("lastStatus") == "STOPPED"):
            continue  # created once; a Pod that has gone is a stopped task, never re-created
        kopf.adopt(pod, owner=body)
        try:
            kube.create_or_get(partial(kube.core().create_namespaced_pod, namespace, pod),
                               partial(kube.core().read_namespaced_pod, pod["metadata"]["name"], namespace))
        except ApiException as err:
            if err.status not in (400, 403, 422):
                raise  # the apiserver or the network: retried
            # Admission refused the Pod (Pod Security, a quota, a policy): retrying cannot help.
            # The Pods of one run-task are alike, so the first refusal means none was created.
            _refuse(body, namespace, name, "PodRefused", f"{pod['metadata']['name']}: {_api_message(err)}",
                    generation)
            return
    refresh_task_status(namespace, name, nodes)


def _api_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body).get("message", err.body))
    except (TypeError, ValueError):
        return str(err.body or err.reason)


def _identity(task_ref: TaskRef, resolved: ResolvedRevision, spec: TaskSpec, cluster: str) -> TaskIdentity:
    definition = resolved.definition
    return TaskIdentity(
        task_arn=arns.task_arn(cluster, task_ref.task_id, SETTINGS.region, SETTINGS.account),
        cluster_arn=arns.cluster_arn(cluster, SETTINGS.region, SETTINGS.account),
        task_definition_arn=arns.task_definition_arn(resolved.family, resolved.revision, SETTINGS.region,
                                                     SETTINGS.account),
        pod_name=task_ref.pod_name,
        group=spec.effective_group(definition.family),
        started_by=spec.startedBy,
        containers=tuple((kube_container_name(c.name), c.name, c.image) for c in definition.containerDefinitions),
        cpu=definition.cpu, memory=definition.memory,
    )


def _mark_stopping(namespace: str, name: str, index: int, code: str, reason: str) -> None:
    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        tasks = list(status.get("tasks") or [])
        if index < len(tasks) and tasks[index].get("lastStatus") != "STOPPED" and "stopCode" not in tasks[index]:
            tasks[index] = {**tasks[index], "stopCode": code, "stoppedReason": reason, "stoppingAt": now(),
                            "desiredStatus": "STOPPED"}
            status["tasks"] = tasks
        return status

    kube.update_status("ecstasks", namespace, name, mutate)


def refresh_task_status(namespace: str, name: str, nodes: dict[str, str], changed_pod: dict[str, Any] | None = None,
                        deleted_pod: str | None = None) -> None:
    """Derive every task record of an ECSTask from its Pods; stop tasks whose essential container exited.

    `nodes`: node name → uid of the nodes that exist (from the watched nodes).
    """
    obj = kube.get_custom("ecstasks", namespace, name)
    if obj is None or not (obj.get("status") or {}).get("resolved"):
        return
    try:
        spec = TaskSpec.model_validate(obj["spec"])
    except ValidationError:
        return
    recorded = obj["status"]["resolved"]
    resolved = _load_revision(namespace, recorded["configMap"], recorded["family"], int(recorded["revision"]))
    uid = obj["metadata"]["uid"]
    tasks = [TaskRef(name, namespace, uid, i) for i in range(spec.count)]
    identities = [_identity(t, resolved, spec, spec.cluster) for t in tasks]
    pods: dict[str, dict[str, Any] | None] = {}
    for t in tasks:
        if changed_pod is not None and changed_pod["metadata"]["name"] == t.pod_name:
            pods[t.pod_name] = changed_pod
        elif deleted_pod == t.pod_name:
            pods[t.pod_name] = None
        else:
            pods[t.pod_name] = _read_pod(namespace, t.pod_name)
    stamp = now()

    base: dict[str, dict[str, Any]] = {}  # the records this write replaces (for the Events)

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        records = list(status.get("tasks") or [])
        base.clear()
        base.update({r.get("taskArn", ""): r for r in records})
        new_records = []
        for index, identity in enumerate(identities):
            previous = records[index] if index < len(records) else None
            pod = pods[identity.pod_name]
            node = (pod or {}).get("spec", {}).get("nodeName") or (previous or {}).get("nodeName")
            record = task_record(identity, pod, previous, desired_status=spec.desiredStatus, now=stamp,
                                 instance_arn=_instance_arn(spec.cluster, pod, nodes),
                                 node_gone=bool(node) and node not in nodes, stop_reason=spec.stopReason)
            if node:
                record["nodeName"] = node
            new_records.append(record)
        status["tasks"] = new_records
        status["lastStatus"] = summary_status(new_records)
        status["desiredStatus"] = "STOPPED" if all(r["desiredStatus"] == "STOPPED" for r in new_records) else \
            "RUNNING"
        reasons = [r["stoppedReason"] for r in new_records if r.get("stoppedReason")]
        if reasons:
            status["stoppedReason"] = reasons[0]
        failures = [f for r in new_records for f in r.get("failures", [])]
        if failures:
            status["failures"] = failures
        else:
            status.pop("failures", None)
        running = status["lastStatus"] == "RUNNING"
        set_condition(status, "Ready", running or status["lastStatus"] == "STOPPED", status["lastStatus"].title(),
                      f"{sum(r['lastStatus'] == 'RUNNING' for r in new_records)}/{len(new_records)} tasks RUNNING"
                      + (f"; cannot place: {', '.join(sorted({f['reason'] for f in failures}))}" if failures else ""),
                      obj["metadata"].get("generation"))
        return status

    updated = kube.update_status("ecstasks", namespace, name, mutate, current=obj) or obj
    # Only the writer that changed a record posts its Event: concurrent refreshes never repeat one.
    changed = {r["taskArn"]: r for r in (updated.get("status") or {}).get("tasks", []) if base.get(r["taskArn"]) != r}
    if changed:
        _post_transitions(updated, base, changed)
    # Essential containers: when one exits, the whole task stops (ECS stops its other containers).
    for record in (updated.get("status") or {}).get("tasks", []):
        pod = pods.get(record.get("podName", ""))
        if (pod is not None and record.get("stopCode") == "EssentialContainerExited"
                and record.get("lastStatus") != "STOPPED" and not pod["metadata"].get("deletionTimestamp")):
            _stop_pod(namespace, pod)


def _stop_summary(record: dict[str, Any]) -> str:
    """'EssentialContainerExited: Essential container in task exited (exit codes web=137)'."""
    exits = ", ".join(f"{c['name']}={c['exitCode']}" for c in record.get("containers", [])
                      if c.get("exitCode") is not None)
    return f"{record.get('stopCode')}: {record.get('stoppedReason')}" + (f" (exit codes {exits})" if exits else "")


def _post_transitions(obj: dict[str, Any], before: dict[str, dict[str, Any]],
                      changed: dict[str, dict[str, Any]]) -> None:
    """One Event per step a user watches for: running, cannot be placed, stopped (with why)."""
    for record in changed.values():
        old = before.get(record.get("taskArn", ""), {})
        task_id = record["taskArn"].rsplit("/", 1)[-1]
        if record.get("lastStatus") == old.get("lastStatus") and bool(record.get("failures")) == bool(
                old.get("failures")):
            continue
        if record.get("lastStatus") == "RUNNING" and old.get("lastStatus") != "RUNNING":
            kopf.event(obj, type="Normal", reason="TaskRunning",
                       message=f"task {task_id} is RUNNING on {record.get('nodeName')}")
        elif record.get("lastStatus") == "STOPPED":
            kopf.event(obj, type="Normal" if record.get("stopCode") == "UserInitiated" else "Warning",
                       reason="TaskStopped", message=f"task {task_id}: {_stop_summary(record)}")
        elif record.get("failures") and not old.get("failures"):
            reasons = ", ".join(f["reason"] for f in record["failures"])
            kopf.warn(obj, reason="CannotPlace", message=f"task {task_id} cannot be placed yet: {reasons}")


@kopf.on.event("", "v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, TASK_LABEL: kopf.PRESENT})
def task_pod_event(event: kopf.RawEvent, body: kopf.Body, namespace: str, labels: kopf.Labels,
                   nodes_index: kopf.Index[str, dict[str, Any]], **_: Any) -> None:
    """Every change of a task Pod updates its ECSTask's records (level-based: all are re-derived)."""
    owner = labels[TASK_LABEL]
    pod = dict(body)
    nodes = _node_uids(nodes_index)
    if event.get("type") == "DELETED":
        refresh_task_status(namespace, owner, nodes, deleted_pod=pod["metadata"]["name"])
    else:
        refresh_task_status(namespace, owner, nodes, changed_pod=kube.api().sanitize_for_serialization(pod))


@kopf.timer(API_GROUP, API_VERSION, "ecstasks", interval=min(60.0, max(1.0, SETTINGS.stopped_task_retention / 2)),
            when=lambda status, **_: (status or {}).get("lastStatus") == "STOPPED"
            and not (status or {}).get("expired"))
def expire_stopped(body: kopf.Body, status: kopf.Status, labels: kopf.Labels, name: str, namespace: str,
                   **_: Any) -> None:
    """A while after a task stops (ECS keeps stopped tasks about an hour), what is left goes.

    Always: the Pods whose containers all exited (kept until then for `kubectl logs`); the record
    stays in the ECSTask. Imperative runs (`kubectl ecs run-task`, label ecs.compat.dev/ephemeral)
    vanish entirely, like ECS tasks; the record a user needs goes into an Event first. A
    declaratively applied ECSTask is never deleted: GitOps tools would apply it, and run it, again.
    """
    stopped = [r.get("stoppedAt") for r in status.get("tasks", [])]
    if not stopped or not all(stopped):
        return
    newest = max(datetime.datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in stopped)
    if (datetime.datetime.now(datetime.UTC) - newest).total_seconds() < SETTINGS.stopped_task_retention:
        return
    for record in status.get("tasks", []):
        pod = _read_pod(namespace, record.get("podName", ""))
        if pod is not None and not pod["metadata"].get("deletionTimestamp"):
            _stop_pod(namespace, pod)
    if labels.get(EPHEMERAL_LABEL) != "true":
        # Done for good: `expired` stops this timer, so stopped tasks cost nothing afterwards.
        kube.update_status("ecstasks", namespace, name, lambda s: {**s, "expired": True})
        return
    for record in status.get("tasks", []):
        kopf.event(body, type="Normal", reason="TaskExpired",
                   message=f"{record.get('taskArn')} {_stop_summary(record)}")
    kube.custom().delete_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks", name)


# --------------------------------------------------------------------------- clusters


@kopf.index("", "v1", "nodes")
def nodes_index(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: {"metadata": dict(body["metadata"]), "spec": dict(body.get("spec") or {}),
                   "status": {"allocatable": dict((body.get("status") or {}).get("allocatable") or {}),
                              "conditions": list((body.get("status") or {}).get("conditions") or [])}}}


@kopf.index("", "v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, CLUSTER_LABEL: kopf.PRESENT})
def task_pods_index(namespace: str, body: kopf.Body, labels: kopf.Labels, **_: Any
                    ) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace, labels[CLUSTER_LABEL]): {
        "metadata": {"name": body["metadata"]["name"], "labels": dict(labels),
                     "deletionTimestamp": body["metadata"].get("deletionTimestamp")},
        "spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}}


def cluster_status(name: str, namespace: str, spec: ClusterSpec, nodes: list[dict[str, Any]],
                   pods: list[dict[str, Any]], generation: int | None, status: dict[str, Any]) -> dict[str, Any]:
    """ECS's Cluster shape plus its container instances, from nodes and task Pods."""
    selector = spec.nodeSelector or default_node_selector(name)
    draining = set(spec.drainingInstances or [])
    members = [n for n in nodes if node_matches(n, selector)]
    region, account = spec.region or SETTINGS.region, spec.accountId or SETTINGS.account
    instances = []
    for node in sorted(members, key=lambda n: n["metadata"]["name"]):
        on_node = [p for p in pods if p.get("spec", {}).get("nodeName") == node["metadata"]["name"]]
        instances.append(container_instance(node, on_node, name, node["metadata"]["name"] in draining, region,
                                            account))
    live = [p for p in pods if pod_last_status(p) != "STOPPED"]
    status.update({
        "clusterArn": arns.cluster_arn(name, region, account),
        "clusterName": name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": len(instances),
        "runningTasksCount": sum(pod_last_status(p) == "RUNNING" for p in live),
        "pendingTasksCount": sum(pod_last_status(p) != "RUNNING" for p in live),
        "activeServicesCount": 0,
        "containerInstances": instances,
    })
    set_condition(status, "Ready", True, "Active", f"{len(instances)} container instances", generation)
    return status


# A timer, not a daemon: a sync daemon holds one of the few worker threads for the cluster's
# whole life, so a dozen clusters would starve every other handler. A timer takes a thread
# only for the moment it runs.
@kopf.timer(API_GROUP, API_VERSION, "ecsclusters", interval=SETTINGS.cluster_status_interval)
def cluster_status_timer(body: kopf.Body, name: str, namespace: str, meta: kopf.Meta,
                         nodes_index: kopf.Index[str, dict[str, Any]],
                         task_pods_index: kopf.Index[tuple[str, str], dict[str, Any]], **_: Any) -> None:
    """Keep the cluster's status current from the watched nodes and task Pods (no extra reads)."""
    generation = meta.get("generation")
    try:
        spec = ClusterSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as err:
        message = "; ".join(describe_validation_error(err, prefix="spec"))
        kube.update_status("ecsclusters", namespace, name,
                           condition_writer("Ready", False, "InvalidCluster", message, generation))
        return
    nodes = [n for key in nodes_index for n in nodes_index[key]]
    pods = list(task_pods_index.get((namespace, label_value(name)), []))
    _drain(name, namespace, spec, nodes)
    kube.update_status("ecsclusters", namespace, name,
                       partial(cluster_status, name, namespace, spec, nodes, pods, generation))


def _drain(name: str, namespace: str, spec: ClusterSpec, nodes: list[dict[str, Any]]) -> None:
    """Cordon the instances listed in drainingInstances; uncordon the ones this cluster cordoned before."""
    selector = spec.nodeSelector or default_node_selector(name)
    draining = set(spec.drainingInstances or [])
    marker = f"{namespace}/{name}"
    for node in nodes:
        if not node_matches(node, selector):
            continue
        node_name = node["metadata"]["name"]
        ours = (node["metadata"].get("annotations") or {}).get(DRAINED_BY_ANNOTATION) == marker
        cordoned = bool(node.get("spec", {}).get("unschedulable"))
        if node_name in draining and not cordoned:
            kube.core().patch_node(node_name, {"metadata": {"annotations": {DRAINED_BY_ANNOTATION: marker}},
                                               "spec": {"unschedulable": True}})
        elif node_name not in draining and cordoned and ours:
            kube.core().patch_node(node_name, {"metadata": {"annotations": {DRAINED_BY_ANNOTATION: None}},
                                               "spec": {"unschedulable": None}})


@kopf.on.delete(API_GROUP, API_VERSION, "ecsclusters", backoff=BACKOFF)
def delete_cluster(body: kopf.Body, name: str, namespace: str, retry: int,
                   task_pods_index: kopf.Index[tuple[str, str], dict[str, Any]], **_: Any) -> None:
    """As ECS's DeleteCluster: refused while tasks run (retried until they have stopped)."""
    live = [p for p in task_pods_index.get((namespace, label_value(name)), []) if pod_last_status(p) != "STOPPED"]
    if live:
        message = (f"ClusterContainsTasksException: cluster {name} still has {len(live)} tasks; stop them first "
                   "(the deletion completes once they have stopped)")
        if retry == 0:
            kopf.warn(body, reason="ClusterContainsTasks", message=message)
        raise kopf.TemporaryError(message, delay=5)
