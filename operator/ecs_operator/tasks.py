"""The ECSTask reconciler: `count` Pods per ECSTask and ECS's Task records in its status.

Why not kopf's create/update handlers: kopf records each handled object in annotations (a
diff-base and handler progress), two PATCHes per task, each fanned out to every watcher. This
reconciler is level-based instead: watches keep caches (caches.py) of the ECSTasks, their Pods,
clusters, families and nodes; a change only puts the task's key into a work queue; a worker
derives everything from the caches and writes only what differs. On the way to RUNNING a task
costs two writes: its Pod, and one status write (RUNNING) — or one more (PENDING) when it takes
longer than `pending_report_after` to start. After a restart the caches are listed once and only
tasks whose status is behind are written.

Idempotent throughout: Pods have deterministic names (`<task>-<index>`), AlreadyExists is success,
the revision a task runs is recorded on its Pods and in its status, and statuses are replaced with
their resourceVersion, so a stale cache is retried instead of overwriting newer facts.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from . import events, kube, revisions
from .caches import Caches, Callbacks, pack, trim_task
from .conditions import now, set_condition
from .ecs import arns
from .ecs.errors import InvalidInput, describe_validation_error
from .ecs.models import ClusterSpec, TaskSpec, kube_container_name
from .ecs.status import TaskIdentity, summary_status, task_record
from .ecs.translate import ClusterRef, TaskRef, task_pod
from .labels import API_GROUP, API_VERSION, EPHEMERAL_LABEL
from .settings import SETTINGS
from .watchcache import Scope
from .workqueue import WorkQueue, start_workers

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, ECSTask name)
# On each task Pod: the revision its task resolved to, so a restart never resolves it again.
ANNOTATION_RESOLVED = f"{API_GROUP}/resolved"


CACHES: Caches | None = None
QUEUE: WorkQueue[Key] = WorkQueue()

_lock = threading.Lock()
# Status-write answers newer than the watch has delivered yet, (resourceVersion, packed): the next
# reconcile starts from them.
_written: dict[Key, tuple[int, str]] = {}
# Pods this process created or deleted that the watch has not shown yet: never created twice.
_created: dict[tuple[str, str], float] = {}
_deleted: dict[tuple[str, str], float] = {}
_attempts: dict[Key, int] = {}
_dirty_since: dict[Key, float] = {}
_RECENT = 120.0  # seconds a created/deleted Pod is remembered; the watch shows it long before


# --------------------------------------------------------------------------- caches


def _rv(obj: dict[str, Any] | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:  # opaque in principle; etcd's revisions are integers in practice
        return 0


def _task(key: Key) -> dict[str, Any] | None:
    assert CACHES is not None
    packed = CACHES.tasks.get(key)
    watched = json.loads(packed) if packed is not None else None
    with _lock:
        written = _written.get(key)
        if written is not None and watched is not None and _rv(watched) >= written[0]:
            del _written[key]  # the watch has caught up
            written = None
    return json.loads(written[1]) if written is not None else watched


def _pods(namespace: str, name: str) -> dict[str, dict[str, Any]]:
    assert CACHES is not None
    unpacked = (json.loads(p) for p in CACHES.task_pods(namespace, name))
    return {p["metadata"]["name"]: p for p in unpacked}


def _node_uids() -> dict[str, str]:
    assert CACHES is not None
    return {name: node["metadata"].get("uid", "") for (_, name), node in CACHES.nodes.items()}


def forget(key: Key) -> None:
    with _lock:
        _written.pop(key, None)
        _attempts.pop(key, None)
        _dirty_since.pop(key, None)


def pod_seen(namespace: str, name: str, deleting: bool) -> None:
    """The watch has delivered a Pod: the memory of creating (or deleting) it is no longer needed."""
    with _lock:
        _created.pop((namespace, name), None)
        if deleting:
            _deleted.pop((namespace, name), None)


def _remember(store: dict[tuple[str, str], float], pod: tuple[str, str]) -> None:
    with _lock:
        moment = time.monotonic()
        store[pod] = moment
        for old in [k for k, t in store.items() if moment - t > _RECENT]:
            del store[old]


def _recent(store: dict[tuple[str, str], float], pod: tuple[str, str]) -> bool:
    with _lock:
        return time.monotonic() - store.get(pod, -_RECENT) < _RECENT


# --------------------------------------------------------------------------- reconcile


def reconcile(key: Key) -> float | None:
    """Bring one ECSTask's Pods and status in line; returns when to look again (None: on events only)."""
    namespace, name = key
    obj = _task(key)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        forget(key)
        return None
    status = obj["status"]
    pods = _pods(namespace, name)
    if status.get("failures") and not status.get("resolved") and not pods:
        return None  # refused before: the spec is immutable, so it stays refused
    try:
        spec = TaskSpec.model_validate(obj["spec"])
    except ValidationError as err:
        _refuse(obj, "InvalidTask", "; ".join(describe_validation_error(err, prefix="spec")))
        return None

    records = status.get("tasks") or []
    refs = [TaskRef(name, namespace, obj["metadata"]["uid"], i) for i in range(spec.count)]
    try:
        resolved = _recorded(namespace, status, pods)
        cluster = None
        if resolved is None:
            assert CACHES is not None
            cluster = _cluster(namespace, spec.cluster)  # ECS's RunTask checks the cluster first
            resolved = revisions.resolve(namespace, spec.taskDefinition,
                                         CACHES.registrations(namespace, spec.taskDefinition.partition(":")[0]))
        missing = [t for t in refs if spec.desiredStatus == "RUNNING" and not _created_once(t, pods, records)]
        if missing:
            cluster = cluster or _cluster(namespace, spec.cluster)
            # Translate every task before creating any Pod: a refusal never leaves half a run behind.
            desired = {t.pod_name: task_pod(resolved.definition, resolved.revision, spec, cluster, t,
                                            SETTINGS.region, SETTINGS.account) for t in refs}
    except LookupError as err:
        return _unresolved(key, obj, str(err))
    except InvalidInput as err:
        _refuse(obj, "TaskRefused", "; ".join(err.problems))
        return None
    except ApiException as err:  # reading the revision's ConfigMap
        return _retry(key, f"reading the task definition: {err.reason}")

    for t in missing:
        pod = desired[t.pod_name]
        pod["metadata"]["annotations"][ANNOTATION_RESOLVED] = json.dumps(resolved.reference(), sort_keys=True)
        kopf.adopt(pod, owner=kopf.Body({"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask",
                                         "metadata": obj["metadata"]}))
        try:
            kube.send("POST", kube.core_path("pods", namespace), pod, decode=False)  # the watch brings it
        except ApiException as err:
            if err.status == 409:
                pass  # created before (a restart, or a cache behind): done
            elif err.status in (400, 403, 422):
                # Admission refused the Pod (Pod Security, a quota, a policy): retrying cannot help.
                # The Pods of one run-task are alike, so the first refusal means none was created.
                _refuse(obj, "PodRefused", f"{t.pod_name}: {_api_message(err)}")
                return None
            else:
                return _retry(key, f"creating Pod {t.pod_name}: {err.reason}")
        _remember(_created, (namespace, t.pod_name))
    with _lock:
        _attempts.pop(key, None)
    return _sync_status(key, obj, spec, resolved, refs, pods)


def _created_once(task: TaskRef, pods: dict[str, dict[str, Any]], records: list[dict[str, Any]]) -> bool:
    """A task's Pod is created once: one that has gone is a stopped task, never re-created."""
    if task.pod_name in pods or _recent(_created, (task.namespace, task.pod_name)):
        return True
    record = records[task.index] if task.index < len(records) else {}
    return bool(record.get("createdAt") or record.get("lastStatus") == "STOPPED")


def _recorded(namespace: str, status: dict[str, Any], pods: dict[str, dict[str, Any]]
              ) -> revisions.ResolvedRevision | None:
    """The revision resolved before (status, or the Pods created before a restart), if any."""
    reference = status.get("resolved")
    if not reference:
        for pod in pods.values():
            raw = pod["metadata"]["annotations"].get(ANNOTATION_RESOLVED)
            if raw:
                reference = json.loads(raw)
                break
    return revisions.load_reference(namespace, reference) if reference else None


def _cluster(namespace: str, name: str) -> ClusterRef:
    assert CACHES is not None
    spec = CACHES.cluster_spec(namespace, name)
    if spec is None:
        raise LookupError(f"ClusterNotFoundException: cluster {name!r} not found in namespace {namespace}")
    try:
        return ClusterRef(name, ClusterSpec.model_validate(spec))
    except ValidationError as err:
        raise InvalidInput(describe_validation_error(err, prefix=f"ECSCluster {name}")) from None


def _api_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body).get("message", err.body))
    except (TypeError, ValueError):
        return str(err.body or err.reason)


def _backoff(key: Key) -> float:
    """Soon at first (the missing object may be applied in a moment), then less often."""
    with _lock:
        attempt = _attempts.get(key, 0)
        _attempts[key] = attempt + 1
    return float(min(30, 2 + 2 * attempt))


def _retry(key: Key, why: str) -> float:
    delay = _backoff(key)
    log.warning("ECSTask %s/%s: %s; retrying in %.0f s", *key, why, delay)
    return delay


def _unresolved(key: Key, obj: dict[str, Any], message: str) -> float:
    """The cluster or task definition is not there (yet): a condition, one Event, retried."""
    first = key not in _attempts
    delay = _backoff(key)
    status = dict(obj["status"])
    set_condition(status, "Ready", False, "Unresolved", message, obj["metadata"].get("generation"))
    _write(key, obj, status)
    if first:
        events.post(_ref(obj), "Warning", "Unresolved", f"{message} (retrying)")
    return delay


def _refuse(obj: dict[str, Any], reason: str, message: str) -> None:
    """A request ECS would refuse: failures, a condition and an Event, and nothing created."""
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    status = dict(obj["status"])
    status["failures"] = [{"arn": f"task/{key[0]}/{key[1]}", "reason": reason, "detail": message}]
    status.setdefault("lastStatus", "STOPPED")
    set_condition(status, "Ready", False, reason, message, obj["metadata"].get("generation"))
    if _write(key, obj, status):
        events.post(_ref(obj), "Warning", reason, message)
    forget(key)


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask", "metadata": obj["metadata"]}


def _write(key: Key, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
    """Replace the status (with the resourceVersion read); the answer, or None when unchanged or stale.

    409: the cache was behind (a spec change, or another writer). The reconcile repeats a moment
    later from what the watch delivers by then (no read: the watch is on its way with it).
    """
    if status == obj["status"]:
        return None
    meta = obj["metadata"]
    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "resourceVersion": meta["resourceVersion"]},
            "status": status}
    try:
        answer: dict[str, Any] = kube.send("PUT", kube.custom_path("ecstasks", key[0], key[1], "status"), body)
    except ApiException as err:
        if err.status == 409:
            with _lock:
                _written.pop(key, None)
            QUEUE.add(key, 0.3)
            return None
        if err.status == 404:
            forget(key)
            return None
        raise
    with _lock:
        _written[key] = (_rv(answer), pack(trim_task(answer)))
    return answer


# --------------------------------------------------------------------------- status


def identity(ref: TaskRef, resolved: revisions.ResolvedRevision, spec: TaskSpec) -> TaskIdentity:
    definition = resolved.definition
    return TaskIdentity(
        task_arn=arns.task_arn(spec.cluster, ref.task_id, SETTINGS.region, SETTINGS.account),
        cluster_arn=arns.cluster_arn(spec.cluster, SETTINGS.region, SETTINGS.account),
        task_definition_arn=arns.task_definition_arn(resolved.family, resolved.revision, SETTINGS.region,
                                                     SETTINGS.account),
        pod_name=ref.pod_name,
        group=spec.effective_group(definition.family),
        started_by=spec.startedBy,
        containers=tuple((kube_container_name(c.name), c.name, c.image) for c in definition.containerDefinitions),
        cpu=definition.cpu, memory=definition.memory,
    )


def derive_status(old: dict[str, Any], spec: TaskSpec, identities: list[TaskIdentity],
                  pods: dict[str, dict[str, Any]], nodes: dict[str, str], resolved: dict[str, Any],
                  generation: int | None, stamp: str) -> dict[str, Any]:
    """ECSTask status from its Pods (None: gone) and the status before; pure."""
    status = dict(old)
    records = list(old.get("tasks") or [])
    new_records = []
    for index, ident in enumerate(identities):
        previous = records[index] if index < len(records) else None
        pod = pods.get(ident.pod_name)
        if spec.desiredStatus == "STOPPED" and previous is not None and previous.get("lastStatus") != "STOPPED" \
                and "stopCode" not in previous:
            previous = {**previous, "stopCode": "UserInitiated",
                        "stoppedReason": spec.stopReason or "Task stopped by user", "stoppingAt": stamp}
        node = (pod or {}).get("spec", {}).get("nodeName") or (previous or {}).get("nodeName")
        instance = None
        if node and node in nodes and pod is not None:
            instance = arns.container_instance_arn(spec.cluster, nodes[node].replace("-", ""), SETTINGS.region,
                                                   SETTINGS.account)
        record = task_record(ident, pod, previous, desired_status=spec.desiredStatus, now=stamp,
                             instance_arn=instance, node_gone=bool(node) and node not in nodes,
                             stop_reason=spec.stopReason)
        if node:
            record["nodeName"] = node
        new_records.append(record)
    status["resolved"] = resolved
    status["taskDefinitionArn"] = identities[0].task_definition_arn if identities else None
    status["clusterArn"] = identities[0].cluster_arn if identities else None
    status["tasks"] = new_records
    status["lastStatus"] = summary_status(new_records)
    status["desiredStatus"] = "STOPPED" if all(r["desiredStatus"] == "STOPPED" for r in new_records) else "RUNNING"
    reasons = [r["stoppedReason"] for r in new_records if r.get("stoppedReason")]
    if reasons:
        status["stoppedReason"] = reasons[0]
    failures = [f for r in new_records for f in r.get("failures", [])]
    if failures:
        status["failures"] = failures
    else:
        status.pop("failures", None)
    running = sum(r["lastStatus"] == "RUNNING" for r in new_records)
    set_condition(status, "Ready", status["lastStatus"] in ("RUNNING", "STOPPED"), status["lastStatus"].title(),
                  f"{running}/{len(new_records)} tasks RUNNING"
                  + (f"; cannot place: {', '.join(sorted({f['reason'] for f in failures}))}" if failures else ""),
                  generation)
    return status


def _only_on_the_way(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Nothing a user waits for: every task still PROVISIONING or PENDING, placed or placeable."""
    return (not new.get("failures") and not old.get("failures")
            and all(r.get("lastStatus") in ("PROVISIONING", "PENDING") for r in new.get("tasks", [])))


def _age(obj: dict[str, Any]) -> float:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return float("inf")
    moment = datetime.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    return (datetime.datetime.now(datetime.UTC) - moment).total_seconds()


def _sync_status(key: Key, obj: dict[str, Any], spec: TaskSpec, resolved: revisions.ResolvedRevision,
                 refs: list[TaskRef], pods: dict[str, dict[str, Any]]) -> float | None:
    old = obj["status"]
    identities = [identity(t, resolved, spec) for t in refs]
    if any(t.pod_name not in pods and _recent(_created, (t.namespace, t.pod_name)) for t in refs):
        # A Pod created a moment ago that the watch has not delivered yet is not gone: its
        # arrival requeues this task (and a minute later it counts as gone after all).
        return 1.0
    new = derive_status(old, spec, identities, pods, _node_uids(), resolved.reference(),
                        obj["metadata"].get("generation"), now())
    again: float | None = None
    if new == old:
        with _lock:
            _dirty_since.pop(key, None)
    else:
        moment = time.monotonic()
        with _lock:
            dirty = _dirty_since.setdefault(key, moment)
        age = _age(obj)
        if _only_on_the_way(old, new) and age < SETTINGS.pending_report_after:
            return SETTINGS.pending_report_after - age
        if spec.count > 1 and moment - dirty < SETTINGS.coalesce_window:
            return SETTINGS.coalesce_window - (moment - dirty)
        with _lock:
            _dirty_since.pop(key, None)
        answer = _write(key, obj, new)
        if answer is None:
            return None  # stale: requeued from the fresh object
        _post_transitions(answer, old, new)
    _stop_pods(key, new, pods, spec)
    if new.get("lastStatus") == "STOPPED" and not new.get("expired"):
        again = _expire(key, obj, new)
    return again


def _stop_pods(key: Key, status: dict[str, Any], pods: dict[str, dict[str, Any]], spec: TaskSpec) -> None:
    """Stopped by the user, or an essential container exited: ECS stops the task's other containers."""
    for record in status.get("tasks", []):
        pod = pods.get(record.get("podName", ""))
        if pod is None or pod["metadata"].get("deletionTimestamp") or record.get("lastStatus") == "STOPPED":
            continue
        if spec.desiredStatus == "STOPPED" or record.get("stopCode") == "EssentialContainerExited":
            _delete_pod(key[0], pod)


def _delete_pod(namespace: str, pod: dict[str, Any]) -> None:
    name = pod["metadata"]["name"]
    if _recent(_deleted, (namespace, name)):
        return
    grace = pod.get("spec", {}).get("terminationGracePeriodSeconds")
    try:
        kube.send("DELETE", kube.core_path("pods", namespace, name),
                  {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 30 if grace is None else grace},
                  decode=False)
    except ApiException as err:
        if err.status != 404:
            raise
    _remember(_deleted, (namespace, name))


def _stop_summary(record: dict[str, Any]) -> str:
    """'EssentialContainerExited: Essential container in task exited (exit codes web=137)'."""
    exits = ", ".join(f"{c['name']}={c['exitCode']}" for c in record.get("containers", [])
                      if c.get("exitCode") is not None)
    return f"{record.get('stopCode')}: {record.get('stoppedReason')}" + (f" (exit codes {exits})" if exits else "")


def _post_transitions(obj: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
    """An Event where a task's story needs one: it cannot be placed, or it stopped (with why).

    None for a task that simply runs (ECS has none either): the status says RUNNING, and an Event
    per task would be one more write per task, all of them kept in etcd for an hour.
    """
    before = {r.get("taskArn"): r for r in old.get("tasks") or []}
    ref = _ref({"metadata": obj["metadata"]})
    for record in new.get("tasks", []):
        previous = before.get(record.get("taskArn"), {})
        task_id = record["taskArn"].rsplit("/", 1)[-1]
        if record.get("lastStatus") == "STOPPED" and previous.get("lastStatus") != "STOPPED":
            events.post(ref, "Normal" if record.get("stopCode") == "UserInitiated" else "Warning", "TaskStopped",
                        f"task {task_id}: {_stop_summary(record)}")
        elif record.get("failures") and not previous.get("failures"):
            reasons = ", ".join(f["reason"] for f in record["failures"])
            events.post(ref, "Warning", "CannotPlace", f"task {task_id} cannot be placed yet: {reasons}")


def _expire(key: Key, obj: dict[str, Any], status: dict[str, Any]) -> float | None:
    """A while after a task stops (ECS keeps stopped tasks about an hour), what is left goes.

    Always: the Pods whose containers all exited (kept until then for `kubectl logs`); the record
    stays in the ECSTask. Imperative runs (`kubectl ecs run-task`, label ecs.compat.dev/ephemeral)
    vanish entirely, like ECS tasks; the record a user needs goes into an Event first. A
    declaratively applied ECSTask is never deleted: GitOps tools would apply it, and run it, again.
    """
    stopped = [r.get("stoppedAt") for r in status.get("tasks", [])]
    if not stopped or not all(stopped):
        return None
    newest = max(datetime.datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in stopped)
    left = SETTINGS.stopped_task_retention - (datetime.datetime.now(datetime.UTC) - newest).total_seconds()
    if left > 0:
        return left
    for pod in _pods(*key).values():
        if not pod["metadata"].get("deletionTimestamp"):
            _delete_pod(key[0], pod)
    if obj["metadata"].get("labels", {}).get(EPHEMERAL_LABEL) != "true":
        # Done for good: an expired task is never looked at again (until the operator restarts).
        _write(key, {**obj, "status": status}, {**status, "expired": True})
        return None
    for record in status.get("tasks", []):
        events.post(_ref(obj), "Normal", "TaskExpired", f"{record.get('taskArn')} {_stop_summary(record)}")
    try:
        kube.send("DELETE", kube.custom_path("ecstasks", key[0], key[1]), decode=False)
    except ApiException as err:
        if err.status != 404:
            raise
    return None


# --------------------------------------------------------------------------- lifecycle

_workers: list[threading.Thread] = []


def start(scope: Scope) -> Caches:
    """Watch what the reconciler reads; its workers start once every cache is complete (a task
    reconciled against a half-listed cache would find its cluster missing, or its Pods)."""
    global CACHES
    if CACHES is not None:
        return CACHES
    CACHES = Caches(scope, Callbacks(on_task=QUEUE.add, forget_task=forget, pod_seen=pod_seen))
    events.start()
    CACHES.start()

    def start_when_synced() -> None:
        assert CACHES is not None
        CACHES.wait_synced()
        log.info("caches synced: %d ECSTasks, %d task Pods, %d nodes", len(CACHES.tasks), len(CACHES.pods),
                 len(CACHES.nodes))
        _workers.extend(start_workers(QUEUE, reconcile, SETTINGS.task_workers, "ecstask"))

    threading.Thread(target=start_when_synced, name="ecstask-start", daemon=True).start()
    return CACHES


def stop() -> None:
    QUEUE.stop()
    if CACHES is not None:
        CACHES.stop()
