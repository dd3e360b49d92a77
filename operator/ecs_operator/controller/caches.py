"""What the reconcilers read, kept from watches: ECSTasks, their Pods, clusters, families, nodes, services.

One list-and-watch per kind, shared by every reconciler and by the cluster status timer. Each
object is kept trimmed to what is read of it; ECSTasks and Pods, the many, as packed JSON text.
Pods are also indexed by their ECSTask and, as what they hold on their node, by cluster; ECSTasks
by the ECSService that started them. A
reconciler hears of changes by subscribing to the caches it needs (`WatchCache.subscribe`).
"""

from __future__ import annotations

import json
import threading
from functools import partial
from typing import Any, NamedTuple

from ..ecs.labels import (
    API_GROUP,
    CLUSTER_LABEL,
    DELETE_REQUESTED_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    STOP_CODE_ANNOTATION,
)
from ..ecs.status import PodUsage, pod_usage
from . import decoding, kube, metrics
from .settings import SETTINGS
from .watchcache import Key, Scope, WatchCache

_CONTAINER_FIELDS = ("name", "image", "ports", "resources", "readinessProbe", "startupProbe")


def pack(trimmed: dict[str, Any]) -> str:
    """A cached object as compact JSON text: a fifth of the memory of the same dicts and lists.

    The caches hold one packed ECSTask and one packed Pod per live task; a reconcile unpacks the
    few it reads (microseconds each), which is cheaper than holding thousands of dicts.
    """
    return decoding.pack(trimmed)


# The annotations of ours the reconcilers read (an ECSTask's stop code, a service's deletion).
KEPT_ANNOTATIONS = (STOP_CODE_ANNOTATION, DELETE_REQUESTED_ANNOTATION)


def trim_task(body: Any) -> dict[str, Any]:
    """What the reconcilers need of an ECSTask (or an ECSService)."""
    meta = body["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k in KEPT_ANNOTATIONS}
    return {
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid", "generation", "resourceVersion",
                                              "creationTimestamp", "deletionTimestamp")}
        | {"labels": dict(meta.get("labels") or {})}
        | ({"annotations": annotations} if annotations else {}),
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


def trim_pod(body: Any) -> dict[str, Any]:
    """What status derivation needs of a task Pod (a few KiB less per live task than the whole)."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    status = body.get("status") or {}

    def containers(key: str) -> list[dict[str, Any]]:
        return [{k: c[k] for k in _CONTAINER_FIELDS if k in c} for c in spec.get(key) or []]

    return {
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                     "creationTimestamp": meta.get("creationTimestamp"),
                     "deletionTimestamp": meta.get("deletionTimestamp"),
                     "labels": dict(meta.get("labels") or {}),
                     "annotations": {k: v for k, v in (meta.get("annotations") or {}).items()
                                     if k.startswith(API_GROUP)}},
        "spec": {"nodeName": spec.get("nodeName"), "containers": containers("containers"),
                 "initContainers": containers("initContainers"), "resources": spec.get("resources"),
                 "terminationGracePeriodSeconds": spec.get("terminationGracePeriodSeconds")},
        "status": {k: status[k] for k in ("phase", "reason", "hostIP", "podIP", "conditions", "containerStatuses",
                                          "initContainerStatuses") if k in status},
    }


def owner(body: Any, kind: str) -> str | None:
    """The name of the object of ours of `kind` that owns `body` (a Pod's ECSTask, an ECSTask's ECSService)."""
    for ref in body["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("apiVersion", "").startswith(f"{API_GROUP}/"):
            return str(ref["name"])
    return None


def owner_task(body: Any) -> str | None:
    """The ECSTask a Pod belongs to (its controlling owner)."""
    return owner(body, "ECSTask")


class TaskEntry(NamedTuple):
    packed: str  # the trimmed ECSTask as JSON text
    service: str | None  # the ECSService that started it


def keep_task(body: dict[str, Any]) -> TaskEntry:
    return TaskEntry(pack(trim_task(body)), owner(body, "ECSService"))


class PodEntry(NamedTuple):
    packed: str  # the trimmed Pod as JSON text
    task: str | None  # the ECSTask that owns it
    cluster: str | None  # its cluster label value
    usage: PodUsage  # what it holds on its node
    deleting: bool


def keep_pod(body: dict[str, Any]) -> PodEntry:
    trimmed = trim_pod(body)
    return PodEntry(pack(trimmed), owner_task(body), (body["metadata"].get("labels") or {}).get(CLUSTER_LABEL),
                    pod_usage(trimmed), bool(body["metadata"].get("deletionTimestamp")))


def keep_node(body: dict[str, Any]) -> dict[str, Any]:
    status = body.get("status") or {}
    meta = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    conditions = [{"type": c.get("type"), "status": c.get("status")} for c in status.get("conditions") or []]
    return {"metadata": meta, "spec": dict(body.get("spec") or {}),
            "status": {"allocatable": dict(status.get("allocatable") or {}), "conditions": conditions}}


def keep_family(body: dict[str, Any]) -> dict[str, Any]:
    """An ECSTaskDefinition as revision resolution reads it: {family, name, created, revisions}."""
    family = (body.get("spec") or {}).get("family")
    return {"family": family if isinstance(family, str) else None, "name": body["metadata"]["name"],
            "created": body["metadata"].get("creationTimestamp"),
            "revisions": list((body.get("status") or {}).get("revisions") or [])}


def keep_cluster(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body.get("spec") or {})


class Caches:
    def __init__(self, scope: Scope) -> None:
        self._lock = threading.Lock()
        self._pods_of_task: dict[Key, dict[str, str]] = {}
        self._pods_of_cluster: dict[Key, dict[str, PodUsage]] = {}
        self._tasks_of_service: dict[Key, dict[str, str]] = {}
        common: dict[str, Any] = {"get": kube.send, "stream": kube.stream, "scope": scope,
                                  "inactivity": SETTINGS.watch_inactivity_timeout}
        self.tasks: WatchCache[TaskEntry] = WatchCache(
            "ecstasks", partial(kube.custom_path, "ecstasks"), keep_task, self._task_changed,
            decode=decoding.decoder("custom"), **common)
        self.pods: WatchCache[PodEntry] = WatchCache(
            "pods", partial(kube.core_path, "pods"), keep_pod, self._pod_changed,
            label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}", decode=decoding.decoder("pods"), **common)
        self.clusters: WatchCache[dict[str, Any]] = WatchCache(
            "ecsclusters", partial(kube.custom_path, "ecsclusters"), keep_cluster, **common)
        self.families: WatchCache[dict[str, Any]] = WatchCache(
            "ecstaskdefinitions", partial(kube.custom_path, "ecstaskdefinitions"), keep_family, **common)
        self.nodes: WatchCache[dict[str, Any]] = WatchCache(
            "nodes", partial(kube.core_path, "nodes"), keep_node, None, namespaced=False, **common)
        self.services: WatchCache[str] = WatchCache(
            "ecsservices", partial(kube.custom_path, "ecsservices"), lambda b: pack(trim_task(b)),
            decode=decoding.decoder("custom"), **common)
        self.all = (self.tasks, self.pods, self.clusters, self.families, self.nodes, self.services)
        metrics.watch_domain(self)  # ECS's figures (ecs_operator_tasks …), computed from these when scraped

    def start(self) -> None:
        for cache in self.all:
            cache.start()

    def stop(self) -> None:
        for cache in self.all:
            cache.stop()

    @property
    def synced(self) -> bool:
        return all(cache.synced for cache in self.all)

    def wait_synced(self, timeout: float | None = None) -> bool:
        return all(cache.wait_synced(timeout) for cache in self.all)

    # ---------------------------------------------------------------- reads

    def task_pods(self, namespace: str, task: str) -> list[str]:
        with self._lock:
            return list((self._pods_of_task.get((namespace, task)) or {}).values())

    def cluster_pods(self, namespace: str, cluster_label: str) -> list[PodUsage]:
        with self._lock:
            return list((self._pods_of_cluster.get((namespace, cluster_label)) or {}).values())

    def service_tasks(self, namespace: str, service: str) -> dict[str, str]:
        """The ECSTasks an ECSService started that still exist: name → packed."""
        with self._lock:
            return dict(self._tasks_of_service.get((namespace, service)) or {})

    def active_services(self, namespace: str, cluster: str) -> int:
        """ECSServices of the cluster that are not INACTIVE (a cluster's activeServicesCount)."""
        found = 0
        for (ns, _), packed in self.services.items():
            if ns == namespace:
                service = json.loads(packed)
                found += ((service.get("spec") or {}).get("cluster", "default") == cluster
                          and (service.get("status") or {}).get("status") != "INACTIVE")
        return found

    def cluster_spec(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.clusters.get((namespace, name))

    def registrations(self, namespace: str, family: str) -> list[dict[str, Any]]:
        return [v for (ns, _), v in self.families.items() if ns == namespace and v["family"] == family]

    def node_list(self) -> list[dict[str, Any]]:
        return [v for _, v in self.nodes.items()]

    # ---------------------------------------------------------------- indexes

    def _task_changed(self, key: Key, old: TaskEntry | None, new: TaskEntry | None) -> None:
        namespace, name = key
        with self._lock:
            if old is not None:
                _unfile(self._tasks_of_service, namespace, old.service, name)
            if new is not None and new.service:
                self._tasks_of_service.setdefault((namespace, new.service), {})[name] = new.packed

    def _pod_changed(self, key: Key, old: PodEntry | None, new: PodEntry | None) -> None:
        namespace, name = key
        with self._lock:
            if old is not None:  # out of the indexes first: the owner or the cluster may have changed
                _unfile(self._pods_of_task, namespace, old.task, name)
                _unfile(self._pods_of_cluster, namespace, old.cluster, name)
            if new is not None:
                if new.task:
                    self._pods_of_task.setdefault((namespace, new.task), {})[name] = new.packed
                if new.cluster:
                    self._pods_of_cluster.setdefault((namespace, new.cluster), {})[name] = new.usage


def _unfile(index: dict[Key, dict[str, Any]], namespace: str, under: str | None, name: str) -> None:
    """Take one Pod out of an index; an empty entry goes too (a long run must not keep every task)."""
    if not under:
        return
    entries = index.get((namespace, under))
    if entries is not None:
        entries.pop(name, None)
        if not entries:
            del index[(namespace, under)]

