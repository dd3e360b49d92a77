"""kopf handlers: load → translate → apply → derive status. Thin on purpose.

ECSTaskDefinition registers immutable revisions (immutable ConfigMaps `<name>-r<N>` owned by it);
ECSTask runs `count` Pods named `<task>-<index>` and keeps ECS's Task records in its status;
ECSCluster reports its container instances (the nodes it selects) and their resources.
Every handler is idempotent: deterministic names, AlreadyExists = done, status derived anew.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import partial
from typing import Any

import kopf
from pydantic import ValidationError

from ..ecs import arns
from ..ecs.conditions import condition_writer, set_condition
from ..ecs.errors import InvalidInput, describe_validation_error
from ..ecs.labels import (
    API_GROUP,
    API_VERSION,
    DEREGISTER_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
)
from ..ecs.models import ClusterSpec, TaskDefinition
from ..ecs.normalize import parse_task_definition
from ..ecs.status import PodUsage, container_instance, node_matches
from ..ecs.translate import default_node_selector, label_value
from . import kube, metrics
from .caches import Caches
from .runtime import Runtime
from .settings import SETTINGS
from .watchcache import Scope

TD_LABEL = f"{API_GROUP}/task-definition"
DRAINED_BY_ANNOTATION = f"{API_GROUP}/drained-by"
# Seconds before an unexpected error (an API hiccup) is retried; kopf's default is 60.
BACKOFF = 3


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Every kopf setting, in one place, and why; then the caches and reconcilers start."""
    # Handler progress in an annotation, not in .status: our status is ECS's own shape. kopf
    # watches only the few ECSTaskDefinitions and ECSClusters; ECSTasks, the many, and their Pods
    # are watched and reconciled by tasks.py and never get these annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=f"kopf.{API_GROUP}")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=f"kopf.{API_GROUP}", key="last-handled-configuration")
    # kopf's handlers are few and quick now (the ECSTask work happens in tasks.py's own workers):
    # a few more threads than cores keep one slow API call from holding up the rest.
    settings.execution.max_workers = (os.cpu_count() or 2) + 4
    # Watches are restarted regularly, and a stream silent for longer than the apiserver's
    # bookmark interval (60 s) plus jitter counts as stalled and is re-opened.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.inactivity_timeout = SETTINGS.watch_inactivity_timeout
    # kopf's own Events for every handler success are noise; errors still post Events. Our own
    # Events are few and chosen: registered, cannot place, stopped, refused.
    settings.posting.level = logging.WARNING
    # Events are posted one at a time; an Event that cannot be posted (its namespace is being
    # deleted) must not hold up the others for half a minute of retries.
    settings.posting.default_backoffs = [0.5, 1]
    settings.networking.request_timeout = 30
    # A broken watch stream (an apiserver restart) is re-opened within seconds, never later than
    # 5 s apart: after an outage the operator must be back in sync quickly, and a relist is cheap.
    settings.batching.error_delays = [1, 1, 2, 3, 5]
    settings.networking.error_backoffs = [0.5, 1, 2, 3, 5, 5, 5, 5, 5]
    # What the reconcilers read is watched by caches.py, not by kopf (kopf watches only
    # ECSTaskDefinitions and ECSClusters, for their handlers); their workers start once complete.
    # Handlers reach the runtime through kopf's memo (each object's memo is a copy of this one).
    # With leader election, main.py made it (its caches warm while standing by) and started it.
    if getattr(memo, "runtime", None) is None:
        memo.runtime = Runtime(Scope(SETTINGS.namespaces))
    memo.runtime.start()


@kopf.on.cleanup()
def shutdown(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        runtime.stop()


def _caches(memo: kopf.Memo) -> Caches | None:
    """The watched caches, once every one is complete (half-listed ones would report things missing)."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None or not runtime.caches.synced:
        return None
    return runtime.caches


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
@metrics.reconciled("ecstaskdefinition")
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


# --------------------------------------------------------------------------- clusters


def cluster_status(name: str, namespace: str, spec: ClusterSpec, nodes: list[dict[str, Any]],
                   pods: list[PodUsage], services: int, generation: int | None, status: dict[str, Any]
                   ) -> dict[str, Any]:
    """ECS's Cluster shape plus its container instances, from nodes and task Pods."""
    selector = spec.nodeSelector or default_node_selector(name)
    draining = set(spec.drainingInstances or [])
    members = [n for n in nodes if node_matches(n, selector)]
    region, account = spec.region or SETTINGS.region, spec.accountId or SETTINGS.account
    by_node: dict[str, list[PodUsage]] = {}
    for pod in pods:
        by_node.setdefault(pod.node or "", []).append(pod)
    instances = []
    for node in sorted(members, key=lambda n: n["metadata"]["name"]):
        instances.append(container_instance(node, by_node.get(node["metadata"]["name"], []), name,
                                            node["metadata"]["name"] in draining, region, account))
    live = [p for p in pods if p.last_status != "STOPPED"]
    status.update({
        "clusterArn": arns.cluster_arn(name, region, account),
        "clusterName": name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": len(instances),
        "runningTasksCount": sum(p.last_status == "RUNNING" for p in live),
        "pendingTasksCount": sum(p.last_status != "RUNNING" for p in live),
        "activeServicesCount": services,
        "containerInstances": instances,
    })
    set_condition(status, "Ready", True, "Active", f"{len(instances)} container instances", generation)
    return status


# A timer, not a daemon: a sync daemon holds one of the few worker threads for the cluster's
# whole life, so a dozen clusters would starve every other handler. A timer takes a thread
# only for the moment it runs.
@kopf.timer(API_GROUP, API_VERSION, "ecsclusters", interval=SETTINGS.cluster_status_interval)
@metrics.reconciled("ecscluster")
def cluster_status_timer(body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, memo: kopf.Memo,
                         **_: Any) -> None:
    """Keep the cluster's status current from the watched nodes and task Pods (no extra reads)."""
    caches = _caches(memo)
    if caches is None:
        return
    generation = meta.get("generation")
    try:
        spec = ClusterSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as err:
        message = "; ".join(describe_validation_error(err, prefix="spec"))
        kube.update_status("ecsclusters", namespace, name,
                           condition_writer("Ready", False, "InvalidCluster", message, generation),
                           current=json.loads(json.dumps(dict(body))), reread=False)
        return
    nodes = caches.node_list()
    pods = caches.cluster_pods(namespace, label_value(name))
    _drain(name, namespace, spec, nodes)
    # Starts from the watched body, never a read: when that body is stale (409), this tick gives
    # up and the next one, a moment later, starts from the fresher body the watch has brought.
    kube.update_status("ecsclusters", namespace, name,
                       partial(cluster_status, name, namespace, spec, nodes, pods,
                               caches.active_services(namespace, name), generation),
                       current=json.loads(json.dumps(dict(body))), reread=False)


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
@metrics.reconciled("ecscluster")
def delete_cluster(body: kopf.Body, name: str, namespace: str, retry: int, memo: kopf.Memo, **_: Any) -> None:
    """As ECS's DeleteCluster: refused while services are active or tasks run (retried until then)."""
    caches = _caches(memo)
    if caches is None:
        raise kopf.TemporaryError("the task Pods are still being listed", delay=2)
    services = caches.active_services(namespace, name)
    if services:
        message = (f"ClusterContainsServicesException: cluster {name} still has {services} active services. You "
                   "can't delete a cluster that contains services. First, update the service to reduce its desired "
                   "task count to 0, and then delete the service.")
        if retry == 0:
            kopf.warn(body, reason="ClusterContainsServices", message=message)
        raise kopf.TemporaryError(message, delay=5)
    live = [p for p in caches.cluster_pods(namespace, label_value(name)) if p.last_status != "STOPPED"]
    if live:
        message = (f"ClusterContainsTasksException: cluster {name} still has {len(live)} tasks; stop them first "
                   "(the deletion completes once they have stopped)")
        if retry == 0:
            kopf.warn(body, reason="ClusterContainsTasks", message=message)
        raise kopf.TemporaryError(message, delay=5)
