"""The ECSTask reconciler: `count` Pods per ECSTask and ECS's Task records in its status.

Why not kopf's create/update handlers: kopf records each handled object in annotations (a
diff-base and handler progress), two PATCHes per task, each fanned out to every watcher. This
reconciler is level-based instead, built from the shared kit (kit.py): watches keep caches
(caches.py) of the ECSTasks, their Pods, clusters, families and nodes; a change only puts the
task's key into its work queue; a worker derives everything from the caches and writes only what
differs. On the way to RUNNING a task
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

from ..ecs import arns, times
from ..ecs.conditions import now, set_condition
from ..ecs.errors import InvalidInput, describe_validation_error
from ..ecs.labels import API_GROUP, API_VERSION, EPHEMERAL_LABEL, STOP_CODE_ANNOTATION
from ..ecs.metadata import with_metadata_endpoint
from ..ecs.models import ClusterSpec, TaskSpec, kube_container_name
from ..ecs.references import DOCKER_CONFIG_TYPE, Reference
from ..ecs.status import TaskIdentity, summary_status, task_record
from ..ecs.translate import ClusterRef, TaskRef, task_needs, task_pod
from . import decoding, events, kube, metrics, revisions
from .caches import Caches, PodEntry, TaskEntry, pack, trim_task
from .kit import Backoff, Recent, Reconciler, StatusWriter
from .settings import SETTINGS

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, ECSTask name)
# On each task Pod: the revision its task resolved to, so a restart never resolves it again.
ANNOTATION_RESOLVED = f"{API_GROUP}/resolved"


# --------------------------------------------------------------------------- the reconciler


class TaskReconciler:
    """`count` Pods per ECSTask, and ECS's Task records in its status, from the shared caches."""

    def __init__(self, caches: Caches) -> None:
        self.caches = caches
        self.loop: Reconciler[Key] = Reconciler("ecstask", self.reconcile, SETTINGS.task_workers)
        self.statuses = StatusWriter("ecstasks", f"{API_GROUP}/{API_VERSION}", "ECSTask",
                                     lambda answer: pack(trim_task(answer)), self.loop.queue.add)
        self.created: Recent[tuple[str, str]] = Recent()  # Pods created that the watch has not shown yet
        self.deleted: Recent[tuple[str, str]] = Recent()  # … and deleted
        self.backoff: Backoff[Key] = Backoff()
        self._lock = threading.Lock()
        self._dirty_since: dict[Key, float] = {}  # tasks whose new status is not written yet: since when
        self._held_until: dict[Key, float] = {}  # … of several tasks, gathering their changes: until when
        self._made_at: dict[Key, float] = {}  # when the task's Pods were last made (monotonic)
        # What it watches, and which tasks a change concerns.
        caches.tasks.subscribe(self._task_changed)
        caches.pods.subscribe(self._pod_changed)
        caches.clusters.subscribe(self._wakes_waiting)
        caches.families.subscribe(self._wakes_waiting)

    # ---------------------------------------------------------------- changes → keys

    def _task_changed(self, key: Key, old: TaskEntry | None, new: TaskEntry | None) -> None:
        if new is None:
            self.forget(key)
        elif old is None or not self.statuses.echoes(key, decoding.unpack(new.packed)):
            self.loop.queue.add(key)

    def _pod_changed(self, key: Key, old: PodEntry | None, new: PodEntry | None) -> None:
        """The watch shows the Pod now: the memory of creating (or deleting) it is no longer needed."""
        self.created.discard(key)
        if new is None or new.deleting:
            self.deleted.discard(key)
        current = new or old
        if current is not None and current.task:
            # A task that has just become RUNNING or STOPPED has a status to report: urgent, so that
            # it does not wait behind the creation of a whole burst's Pods. The Pod's other steps
            # (made, bound, pulling) wait in line, where several of them make one reconcile.
            reached = new.usage.last_status if new is not None else "STOPPED"
            urgent = reached in ("RUNNING", "STOPPED") and (old is None or old.usage.last_status != reached)
            task_key = (key[0], current.task)
            with self._lock:
                held_until = self._held_until.get(task_key)
            # A status held back to gather its other tasks' changes (coalescing) is looked at again
            # when its window ends, urgent or not: one write for the tasks of one run.
            self.loop.queue.add(task_key, 0.0 if held_until is None else held_until - time.monotonic(), urgent=urgent)

    def _wakes_waiting(self, key: Key, old: Any, new: Any) -> None:
        """A cluster or a revision that has just appeared can resolve tasks waiting for it, sooner
        than their backoff would look again."""
        if new is None:
            return
        for task_key, entry in self.caches.tasks.items():
            if task_key[0] == key[0] and '"reason":"Unresolved"' in entry.packed:
                self.loop.queue.add(task_key)

    def forget(self, key: Key) -> None:
        self.statuses.forget(key)
        self.backoff.reset(key)
        with self._lock:
            self._dirty_since.pop(key, None)
            self._held_until.pop(key, None)
            self._made_at.pop(key, None)

    # ---------------------------------------------------------------- reads

    def _task(self, key: Key) -> dict[str, Any] | None:
        entry = self.caches.tasks.get(key)
        return self.statuses.current(key, decoding.unpack(entry.packed) if entry is not None else None)

    def _pods(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        unpacked = (decoding.unpack(p) for p in self.caches.task_pods(namespace, name))
        return {p["metadata"]["name"]: p for p in unpacked}

    def _node_uids(self) -> dict[str, str]:
        return {name: node["metadata"].get("uid", "") for (_, name), node in self.caches.nodes.items()}

    def _cluster(self, namespace: str, name: str) -> ClusterRef:
        spec = self.caches.cluster_spec(namespace, name)
        if spec is None:
            raise LookupError(f"ClusterNotFoundException: cluster {name!r} not found in namespace {namespace}")
        try:
            return ClusterRef(name, ClusterSpec.model_validate(spec))
        except ValidationError as err:
            raise InvalidInput(describe_validation_error(err, prefix=f"ECSCluster {name}")) from None

    # ---------------------------------------------------------------- reconcile

    def reconcile(self, key: Key) -> float | None:
        """Bring one ECSTask's Pods and status in line; returns when to look again (None: on events only)."""
        namespace, name = key
        obj = self._task(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self.forget(key)
            return None
        status = obj["status"]
        pods = self._pods(namespace, name)
        if status.get("failures") and not status.get("resolved") and not pods:
            return None  # refused before: the spec is immutable, so it stays refused
        try:
            spec = TaskSpec.model_validate(obj["spec"])
        except ValidationError as err:
            self._refuse(obj, "InvalidTask", "; ".join(describe_validation_error(err, prefix="spec")))
            return None

        records = status.get("tasks") or []
        refs = [TaskRef(name, namespace, obj["metadata"]["uid"], i) for i in range(spec.count)]
        try:
            resolved = _recorded(namespace, status, pods)
            cluster = None
            if resolved is None:
                cluster = self._cluster(namespace, spec.cluster)  # ECS's RunTask checks the cluster first
                resolved = revisions.resolve(namespace, spec.taskDefinition, self.caches.registrations(
                    namespace, spec.taskDefinition.partition(":")[0]))
            missing = [t for t in refs if spec.desiredStatus == "RUNNING" and not self._created_once(t, pods, records)]
            if missing:
                cluster = cluster or self._cluster(namespace, spec.cluster)
                # Translate every task before creating any Pod: a refusal never leaves half a run behind.
                desired = {t.pod_name: with_metadata_endpoint(
                    task_pod(resolved.definition, resolved.revision, spec, cluster, t, SETTINGS.region,
                             SETTINGS.account), SETTINGS.metadata_endpoint) for t in refs}
        except LookupError as err:
            return self._unresolved(key, obj, str(err))
        except InvalidInput as err:
            self._refuse(obj, "TaskRefused", "; ".join(err.problems))
            return None
        except ApiException as err:  # reading the revision's ConfigMap
            return self._retry(key, f"reading the task definition: {err.reason}")

        if missing:
            try:
                failures = _unavailable(namespace, task_needs(resolved.definition, spec))
            except ApiException as err:
                return self._retry(key, f"reading the objects the task needs: {err.reason}")
            if failures:
                # As ECS when it cannot fetch a secret: the task stops before any container runs.
                return self._fail_to_start(key, obj, spec, resolved, refs, missing, pods, "; ".join(failures))
        for t in missing:
            pod = desired[t.pod_name]
            pod["metadata"]["annotations"][ANNOTATION_RESOLVED] = json.dumps(resolved.reference(), sort_keys=True)
            kopf.adopt(pod, owner=kopf.Body({"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask",
                                             "metadata": obj["metadata"]}))
            # Remembered before the request: the watch may show the Pod before the answer arrives,
            # and a memory added after that would outlive the Pod.
            self.created.add((namespace, t.pod_name))
            try:
                kube.send("POST", kube.core_path("pods", namespace), pod, decode=False)  # the watch brings it
            except ApiException as err:
                if err.status == 409:
                    pass  # created before (a restart, or a cache behind): done
                elif err.status in (400, 403, 422):
                    # Admission refused the Pod (Pod Security, a quota, a policy): retrying cannot help.
                    # The Pods of one run-task are alike, so the first refusal means none was created.
                    self.created.discard((namespace, t.pod_name))
                    self._refuse(obj, "PodRefused", f"{t.pod_name}: {_api_message(err)}")
                    return None
                else:
                    self.created.discard((namespace, t.pod_name))
                    return self._retry(key, f"creating Pod {t.pod_name}: {err.reason}")
            except Exception:
                self.created.discard((namespace, t.pod_name))
                raise
        self.backoff.reset(key)
        if missing and spec.count > 1:
            with self._lock:
                self._made_at[key] = time.monotonic()
        return self._sync_status(key, obj, spec, resolved, refs, pods)

    def _fail_to_start(self, key: Key, obj: dict[str, Any], spec: TaskSpec, resolved: revisions.ResolvedRevision,
                       refs: list[TaskRef], missing: list[TaskRef], pods: dict[str, dict[str, Any]], reason: str
                       ) -> float | None:
        """Tasks whose Secret, ConfigMap, claim or ServiceAccount is missing: STOPPED, TaskFailedToStart,
        stoppedReason in ECS's ResourceInitializationError words naming the object; no Pod."""
        stamp = now()
        records = list(obj["status"].get("tasks") or [])
        failed = {t.index for t in missing}
        for t in refs:
            if t.index not in failed:
                continue
            record = {"createdAt": stamp, "stopCode": "TaskFailedToStart", "stoppedReason": reason,
                      "stoppingAt": stamp}
            if t.index < len(records):
                records[t.index] = {**records[t.index], **record}
            else:
                records += [{} for _ in range(t.index - len(records))] + [record]
        status = {**obj["status"], "tasks": records}
        return self._sync_status(key, {**obj, "status": status}, spec, resolved, refs, pods, base=obj)

    def _created_once(self, task: TaskRef, pods: dict[str, dict[str, Any]], records: list[dict[str, Any]]) -> bool:
        """A task's Pod is created once: one that has gone is a stopped task, never re-created."""
        if task.pod_name in pods or (task.namespace, task.pod_name) in self.created:
            return True
        record = records[task.index] if task.index < len(records) else {}
        return bool(record.get("createdAt") or record.get("lastStatus") == "STOPPED")

    def _retry(self, key: Key, why: str) -> float:
        delay = self.backoff.next(key)
        log.warning("ECSTask %s/%s: %s; retrying in %.0f s", *key, why, delay)
        return delay

    def _unresolved(self, key: Key, obj: dict[str, Any], message: str) -> float:
        """The cluster or task definition is not there (yet): a condition, one Event, retried."""
        first = key not in self.backoff
        delay = self.backoff.next(key)
        status = dict(obj["status"])
        set_condition(status, "Ready", False, "Unresolved", message, obj["metadata"].get("generation"))
        self.statuses.write(key, obj, status)
        if first:
            events.post(_ref(obj), "Warning", "Unresolved", f"{message} (retrying)")
        return delay

    def _refuse(self, obj: dict[str, Any], reason: str, message: str) -> None:
        """A request ECS would refuse: failures, a condition and an Event, and nothing created."""
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        status = dict(obj["status"])
        status["failures"] = [{"arn": f"task/{key[0]}/{key[1]}", "reason": reason, "detail": message}]
        status.setdefault("lastStatus", "STOPPED")
        set_condition(status, "Ready", False, reason, message, obj["metadata"].get("generation"))
        if self.statuses.write(key, obj, status):
            events.post(_ref(obj), "Warning", reason, message)
        self.forget(key)

    # ---------------------------------------------------------------- status

    def _sync_status(self, key: Key, obj: dict[str, Any], spec: TaskSpec, resolved: revisions.ResolvedRevision,
                     refs: list[TaskRef], pods: dict[str, dict[str, Any]], base: dict[str, Any] | None = None
                     ) -> float | None:
        """`base`: the object as stored, when `obj` carries records not written yet (a failure to start)."""
        old = obj["status"]
        identities = [identity(t, resolved, spec) for t in refs]
        if any(t.pod_name not in pods and (t.namespace, t.pod_name) in self.created for t in refs):
            # A Pod created a moment ago that the watch has not delivered yet is not gone: its
            # arrival requeues this task (and a minute later it counts as gone after all).
            return 1.0
        stop_code = obj["metadata"].get("annotations", {}).get(STOP_CODE_ANNOTATION, "UserInitiated")
        new = derive_status(old, spec, identities, pods, self._node_uids(), resolved.reference(),
                            obj["metadata"].get("generation"), now(), stop_code)
        again: float | None = None
        if new == old:
            with self._lock:
                self._dirty_since.pop(key, None)
                self._held_until.pop(key, None)
        else:
            moment = time.monotonic()
            # how long it has been on its way: since its newest Pod was made (a task of a burst
            # waits for its Pod in the operator's queue first; that wait is not the Pod's start)
            age = min([_age(obj), *(_age(pod) for pod in pods.values())])
            if _only_on_the_way(old, new) and age < SETTINGS.pending_report_after:
                return SETTINGS.pending_report_after - age
            with self._lock:
                dirty = self._dirty_since.setdefault(key, moment)
                # The tasks of one run start within moments of each other: while some are still on
                # their way, the status waits for them, until the window has passed since the last
                # of their Pods was made (never longer than a PENDING report would), and one write
                # reports them all.
                if spec.count > 1 and _some_on_the_way(new):
                    until = min(dirty + SETTINGS.pending_report_after,
                                max(dirty, self._made_at.get(key, dirty)) + SETTINGS.coalesce_window)
                    if moment < until:
                        self._held_until[key] = until
                        return until - moment
                self._dirty_since.pop(key, None)
                self._held_until.pop(key, None)
                self._made_at.pop(key, None)
            answer = self.statuses.write(key, base or obj, new)
            if answer is None:
                return None  # stale: requeued from the fresh object
            _post_transitions(answer, (base or obj)["status"], new)
        self._stop_pods(key, new, pods, spec)
        if new.get("lastStatus") == "STOPPED" and not new.get("expired"):
            again = self._expire(key, obj, new)
        return again

    def _stop_pods(self, key: Key, status: dict[str, Any], pods: dict[str, dict[str, Any]], spec: TaskSpec) -> None:
        """Stopped by the user, or an essential container exited: ECS stops the task's other containers."""
        for record in status.get("tasks", []):
            pod = pods.get(record.get("podName", ""))
            if pod is None or pod["metadata"].get("deletionTimestamp") or record.get("lastStatus") == "STOPPED":
                continue
            if spec.desiredStatus == "STOPPED" or record.get("stopCode") == "EssentialContainerExited":
                self._delete_pod(key[0], pod)

    def _delete_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if (namespace, name) in self.deleted:
            return
        grace = pod.get("spec", {}).get("terminationGracePeriodSeconds")
        self.deleted.add((namespace, name))  # before the request: the watch may show the deletion first
        try:
            kube.send("DELETE", kube.core_path("pods", namespace, name),
                      {"kind": "DeleteOptions", "apiVersion": "v1",
                       "gracePeriodSeconds": 30 if grace is None else grace}, decode=False)
        except ApiException as err:
            if err.status != 404:
                self.deleted.discard((namespace, name))
                raise
        except Exception:
            self.deleted.discard((namespace, name))
            raise

    def _expire(self, key: Key, obj: dict[str, Any], status: dict[str, Any]) -> float | None:
        """A while after a task stops (ECS keeps stopped tasks about an hour), what is left goes.

        Always: the Pods whose containers all exited (kept until then for `kubectl logs`); the record
        stays in the ECSTask. Imperative runs (`kubectl ecs run-task`, label ecs.compat.dev/ephemeral)
        vanish entirely, like ECS tasks; the record a user needs goes into an Event first. A
        declaratively applied ECSTask is never deleted: GitOps tools would apply it, and run it, again.
        """
        stopped = [r.get("stoppedAt") for r in status.get("tasks", [])]
        if not stopped or not all(stopped):
            return None
        newest = max(times.parse(t) or datetime.datetime.now(datetime.UTC) for t in stopped)
        left = SETTINGS.stopped_task_retention - (datetime.datetime.now(datetime.UTC) - newest).total_seconds()
        if left > 0:
            return left
        for pod in self._pods(*key).values():
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete_pod(key[0], pod)
        if obj["metadata"].get("labels", {}).get(EPHEMERAL_LABEL) != "true":
            # Done for good: an expired task is never looked at again (until the operator restarts).
            self.statuses.write(key, {**obj, "status": status}, {**status, "expired": True})
            return None
        for record in status.get("tasks", []):
            events.post(_ref(obj), "Normal", "TaskExpired", f"{record.get('taskArn')} {_stop_summary(record)}")
        try:
            kube.send("DELETE", kube.custom_path("ecstasks", key[0], key[1]), decode=False)
        except ApiException as err:
            if err.status != 404:
                raise
        return None


# --------------------------------------------------------------------------- pure parts and helpers


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


PLURALS = {"Secret": "secrets", "ConfigMap": "configmaps", "PersistentVolumeClaim": "persistentvolumeclaims",
           "ServiceAccount": "serviceaccounts"}


def _unavailable(namespace: str, needs: list[Reference]) -> list[str]:
    """What is missing of the objects a task needs (one `get` of each), in ECS's stoppedReason words."""
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    problems = []
    for ref in needs:
        if (ref.kind, ref.name) not in found:
            try:
                found[(ref.kind, ref.name)] = kube.send("GET", kube.core_path(PLURALS[ref.kind], namespace, ref.name))
            except ApiException as err:
                if err.status != 404:
                    raise
                found[(ref.kind, ref.name)] = None
        obj = found[(ref.kind, ref.name)]
        if obj is None:
            problems.append(ref.failure(namespace, "missing"))
        elif ref.secret_type == DOCKER_CONFIG_TYPE and obj.get("type") != DOCKER_CONFIG_TYPE:
            problems.append(ref.failure(namespace, "type"))
        elif ref.kind == "Secret" and ref.key and ref.key not in (obj.get("data") or {}):
            problems.append(ref.failure(namespace, "key"))
    return problems


def _api_message(err: ApiException) -> str:
    try:
        return str(json.loads(err.body).get("message", err.body))
    except (TypeError, ValueError):
        return str(err.body or err.reason)


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask", "metadata": obj["metadata"]}


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
                  generation: int | None, stamp: str, stop_code: str = "UserInitiated") -> dict[str, Any]:
    """ECSTask status from its Pods (None: gone) and the status before; pure. `stop_code`: why a
    task asked to stop stops (UserInitiated; ServiceSchedulerInitiated for the service scheduler)."""
    status = dict(old)
    records = list(old.get("tasks") or [])
    new_records = []
    for index, ident in enumerate(identities):
        previous = records[index] if index < len(records) else None
        pod = pods.get(ident.pod_name)
        if spec.desiredStatus == "STOPPED" and previous is not None and previous.get("lastStatus") != "STOPPED" \
                and "stopCode" not in previous:
            previous = {**previous, "stopCode": stop_code,
                        "stoppedReason": spec.stopReason or "Task stopped by user", "stoppingAt": stamp}
        node = (pod or {}).get("spec", {}).get("nodeName") or (previous or {}).get("nodeName")
        instance = None
        if node and node in nodes and pod is not None:
            instance = arns.container_instance_arn(spec.cluster, nodes[node].replace("-", ""), SETTINGS.region,
                                                   SETTINGS.account)
        record = task_record(ident, pod, previous, desired_status=spec.desiredStatus, now=stamp,
                             instance_arn=instance, node_gone=bool(node) and node not in nodes,
                             stop_reason=spec.stopReason, stop_code=stop_code)
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


def _some_on_the_way(status: dict[str, Any]) -> bool:
    return any(r.get("lastStatus") in ("PROVISIONING", "PENDING") and r.get("desiredStatus") == "RUNNING"
               and not r.get("failures") for r in status.get("tasks", []))


def _age(obj: dict[str, Any]) -> float:
    moment = times.parse(obj["metadata"].get("creationTimestamp") or None)
    if moment is None:
        return float("inf")
    return (datetime.datetime.now(datetime.UTC) - moment).total_seconds()


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
            if record.get("stopCode") == "ServiceSchedulerInitiated":
                continue  # the service's own events say it ("has stopped N running tasks")
            events.post(ref, "Normal" if record.get("stopCode") == "UserInitiated" else "Warning", "TaskStopped",
                        f"task {task_id}: {_stop_summary(record)}")
        elif record.get("failures") and not previous.get("failures"):
            reasons = ", ".join(f["reason"] for f in record["failures"])
            events.post(ref, "Warning", "CannotPlace", f"task {task_id} cannot be placed yet: {reasons}")
            metrics.placement_failed(record["failures"])
