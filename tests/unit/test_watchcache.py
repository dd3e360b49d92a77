"""The watched caches' own logic: scopes, event lines, what a change or a relist reports, Pod indexes.

The reflectors' requests run against the real apiserver in every integration test (the operator
reads nothing else), and through restarts, expired watches and a stalled proxy in test_faults.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_operator.controller.caches import Caches
from ecs_operator.controller.tasks import TaskReconciler
from ecs_operator.controller.watchcache import Scope, WatchCache, _events
from ecs_operator.ecs.labels import API_GROUP, CLUSTER_LABEL


@pytest.mark.parametrize(("namespaces", "per_namespace", "admitted", "refused"), [
    ((), False, ["a", "kube-system"], []),
    (("team-a", "team-b"), True, ["team-a", "team-b"], []),  # only their own watches: nothing to filter
    (("t-*",), False, ["t-1", "t-abc"], ["x-1", "t"]),
    (("t-*", "!t-secret"), False, ["t-1"], ["t-secret", "other"]),
    (("!kube-*",), False, ["default", "t-1"], ["kube-system"]),
])
def test_a_scope_watches_plain_names_one_by_one_and_filters_globs(namespaces, per_namespace, admitted, refused):
    scope = Scope(namespaces)
    assert scope.per_namespace is per_namespace
    assert scope.watched() == (list(namespaces) if per_namespace else [None])
    assert all(scope.admits(ns) for ns in admitted)
    assert not any(scope.admits(ns) for ns in refused)
    assert scope.admits("")  # cluster-scoped objects (nodes) are always in scope


class Chunks:
    """A streamed answer as urllib3 hands it over: chunks that split lines anywhere."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        return iter(self.chunks)


def test_watch_events_are_read_a_line_each_however_the_chunks_split_them():
    events = [{"type": "ADDED", "object": {"n": i, "s": "x" * i}} for i in range(5)]
    text = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    for split in (1, 7, 40, len(text)):
        chunks = [text[i:i + split] for i in range(0, len(text), split)]
        assert list(_events(Chunks(*chunks))) == events
    assert list(_events(Chunks(b'{"type":"BOOKMARK"}\n\n'))) == [{"type": "BOOKMARK"}]


def obj(namespace: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": version}, **extra}


def unreachable(*_: Any, **__: Any) -> Any:
    raise AssertionError("no request: these tests feed the cache directly")


def recording_cache(scope: Scope | None = None) -> tuple[WatchCache[Any], list[tuple[Any, ...]]]:
    changes: list[tuple[Any, ...]] = []
    cache: WatchCache[Any] = WatchCache("things", lambda ns: "/x", lambda b: b.get("spec"),
                                        lambda key, old, new: changes.append((key, old, new)),
                                        get=unreachable, stream=unreachable, scope=scope or Scope())
    return cache, changes


def test_only_a_change_of_what_is_kept_is_reported():
    cache, changes = recording_cache()
    cache._put(obj("a", "x", "1", spec={"v": 1}))
    cache._put(obj("a", "x", "2", spec={"v": 1}))  # a new resourceVersion, nothing kept changed
    cache._put(obj("a", "x", "3", spec={"v": 2}))
    cache._drop(("a", "x"))
    cache._drop(("a", "x"))  # deleted twice (a relist after the watch): reported once
    assert changes == [(("a", "x"), None, {"v": 1}), (("a", "x"), {"v": 1}, {"v": 2}), (("a", "x"), {"v": 2}, None)]
    assert cache.get(("a", "x")) is None


def test_a_relist_reports_what_the_watch_missed_and_only_within_its_namespace():
    cache, changes = recording_cache(Scope(("a", "b")))
    cache._replace("a", [obj("a", "x", "1", spec=1), obj("a", "y", "1", spec=1)])
    cache._replace("b", [obj("b", "z", "1", spec=1)])
    changes.clear()
    cache._replace("a", [obj("a", "x", "5", spec=2)])  # y was deleted while the watch was down
    assert changes == [(("a", "x"), 1, 2), (("a", "y"), 1, None)]
    assert sorted(cache.keys()) == [("a", "x"), ("b", "z")]  # b's objects are not a's list's to drop


def test_objects_outside_the_scope_are_not_kept():
    cache, changes = recording_cache(Scope(("t-*",)))
    cache._put(obj("t-1", "x", "1", spec=1))
    cache._put(obj("other", "x", "1", spec=1))
    assert cache.keys() == [("t-1", "x")] and len(changes) == 1


def pod(name: str, task: str, cluster: str, phase: str = "Running", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", "name": name, "resourceVersion": "1", "uid": f"uid-{name}",
                            "labels": {CLUSTER_LABEL: cluster},
                            "ownerReferences": [{"apiVersion": f"{API_GROUP}/v1alpha1", "kind": "ECSTask",
                                                 "name": task, "uid": "u", "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": [
        {"name": "c", "image": "i", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}},
         "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "state": {"running": {}}}]}}


def task_reconciler(caches: Caches) -> tuple[TaskReconciler, list[Any]]:
    """The ECSTask reconciler subscribed to `caches`, its work queue recording what it is given."""
    queued: list[Any] = []
    reconciler = TaskReconciler(caches)
    reconciler.loop.queue.add = lambda key, delay=0.0, urgent=False: queued.append(key)  # type: ignore[method-assign]
    return reconciler, queued


def test_pods_are_indexed_by_task_and_by_cluster_and_each_change_requeues_their_task():
    caches = Caches(Scope())
    reconciler, queued = task_reconciler(caches)
    reconciler.created.add(("ns", "t-0"))
    reconciler.deleted.add(("ns", "t-0"))
    caches.pods._put(pod("t-0", "t", "main"))
    # The watch shows the Pod created: no longer remembered as created, still as deleted.
    assert ("ns", "t-0") not in reconciler.created and ("ns", "t-0") in reconciler.deleted
    caches.pods._put(pod("t-1", "t", "main", phase="Pending"))
    caches.pods._put(pod("u-0", "u", "other"))
    assert sorted(json.loads(p)["metadata"]["name"] for p in caches.task_pods("ns", "t")) == ["t-0", "t-1"]
    usage = {u.last_status for u in caches.cluster_pods("ns", "main")}
    assert usage == {"RUNNING", "PENDING"}
    assert [(u.cpu, u.memory, u.tcp) for u in caches.cluster_pods("ns", "other")] == [(512, 64, ("8080",))]
    caches.pods._put(pod("t-0", "t", "main", deleting=True))
    assert ("ns", "t-0") not in reconciler.deleted  # the watch shows it deleting
    caches.pods._drop(("ns", "t-0"))
    assert [json.loads(p)["metadata"]["name"] for p in caches.task_pods("ns", "t")] == ["t-1"]
    assert len(caches.cluster_pods("ns", "main")) == 1
    assert queued == [("ns", "t"), ("ns", "t"), ("ns", "u"), ("ns", "t"), ("ns", "t")]


def test_a_new_cluster_or_revision_wakes_only_the_tasks_waiting_for_one():
    caches = Caches(Scope())
    _, queued = task_reconciler(caches)
    waiting = {"conditions": [{"type": "Ready", "status": "False", "reason": "Unresolved"}]}
    caches.tasks._put(obj("ns", "waits", "1", spec={}, status=waiting))
    caches.tasks._put(obj("ns", "runs", "1", spec={}, status={"lastStatus": "RUNNING"}))
    caches.tasks._put(obj("elsewhere", "waits", "1", spec={}, status=waiting))
    queued.clear()
    caches.families._put(obj("ns", "web", "1", spec={"family": "web"}))
    assert queued == [("ns", "waits")]
    assert caches.registrations("ns", "web") == [{"family": "web", "name": "web", "created": None, "revisions": []}]
